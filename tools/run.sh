#!/bin/sh
# The one-command demo: `make run` / `make stop` (see README).
#
#   sh tools/run.sh start    install packages if missing, build, start a private
#                            MariaDB, migrate, create a demo user and key, start
#                            lighttpd (default) or Apache (SERVER=apache) on PORT
#                            (default 8080) with the web console (user admin,
#                            password in run/admin.password), the queue worker, and - unless
#                            RELAY_OPENAI_URL / RELAY_ANTHROPIC_URL are set - a
#                            mock upstream.
#   sh tools/run.sh stop     stops exactly what start started (by PID files).
#
# Everything lives in $RELAY_RUN_DIR (default ./run). Re-running is safe: a
# running demo is stopped first; the database, the demo key and its data stay.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=${RELAY_RUN_DIR:-$ROOT/run}
PORT=${PORT:-8080}
SERVER=${SERVER:-lighttpd}
WEB_USER=www-data
# The upstream's concurrency and the queue's length; the web server pools and
# MariaDB's connections are sized from them (docs/design/queue.md, "Web server pools").
SLOTS=${RELAY_UPSTREAM_SLOTS:-1}
QUEUE_MAX=${RELAY_QUEUE_MAX:-100}
PROCS=$((SLOTS + QUEUE_MAX))

say() { printf '%s\n' "$*"; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

# Stops one process by its PID file, politely then firmly.
stop_pid() {
	f=$1
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

do_stop() {
	[ -d "$RUN" ] || { say "nothing to stop"; return 0; }
	stop_pid "$RUN/worker.pid"
	stop_pid "$RUN/web.pid"
	# FastCGI processes the web server started end with it; make sure.
	pkill -f "^$RUN/cgi-bin/" 2>/dev/null || true
	# after the web server: it writes what the web processes handed it
	stop_pid "$RUN/meterd.pid"
	stop_pid "$RUN/mock.pid"
	stop_pid "$RUN/db.pid"
	say "llm-relay demo stopped"
}

sql() { mariadb --no-defaults -S "$RUN/db.sock" -uroot -N -B -e "$1"; }

start_db() {
	mkdir -p "$RUN"
	chmod 755 "$RUN"
	if [ ! -d "$RUN/db/mysql" ]; then
		mariadb-install-db --no-defaults --user=root --datadir="$RUN/db" \
			--auth-root-authentication-method=socket --skip-test-db >"$RUN/db-install.log" 2>&1 ||
			die "mariadb-install-db failed, see $RUN/db-install.log"
	fi
	# The recommended settings (durable; each one's trade-off is explained
	# in the file). --defaults-file must come first, as --no-defaults would.
	mariadbd --defaults-file="$ROOT/tools/mariadb-relay.cnf" --user=root --datadir="$RUN/db" \
		--socket="$RUN/db.sock" --pid-file="$RUN/db.pid" --skip-networking --skip-log-bin \
		--log-error="$RUN/db-error.log" --max-connections=$((2 * PROCS + 50)) >/dev/null 2>&1 &
	i=0
	until mariadb-admin --no-defaults --socket="$RUN/db.sock" -uroot ping >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 300 ] || die "MariaDB did not start, see $RUN/db-error.log"
		sleep 0.1
	done
	if [ ! -f "$RUN/db.password" ]; then
		umask 077
		head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$RUN/db.password"
		umask 022
	fi
	pw=$(cat "$RUN/db.password")
	sql "CREATE DATABASE IF NOT EXISTS llm_relay CHARACTER SET utf8mb4;
	     CREATE USER IF NOT EXISTS 'relay'@'localhost' IDENTIFIED BY '$pw';
	     ALTER USER 'relay'@'localhost' IDENTIFIED BY '$pw';
	     GRANT ALL ON llm_relay.* TO 'relay'@'localhost';"
}

start_mock() {
	rm -f "$RUN/mock.port"
	python3 "$ROOT/tests/mock_upstream.py" --port 0 --port-file "$RUN/mock.port" --quiet \
		>"$RUN/mock.log" 2>&1 &
	echo $! > "$RUN/mock.pid"
	i=0
	until [ -s "$RUN/mock.port" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || die "mock upstream did not start, see $RUN/mock.log"
		sleep 0.1
	done
}

# The master key that seals backend keys (issue 13): 32 random bytes as
# hex, mode 0600, owned by the web server's user (the relay processes read
# it; relayctl runs as root). Kept across runs so sealed keys stay valid.
master_key() {
	if [ ! -s "$RUN/master.key" ]; then
		umask 077
		od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$RUN/master.key"
		echo >> "$RUN/master.key"
		umask 022
	fi
	chown "$WEB_USER" "$RUN/master.key"
	chmod 600 "$RUN/master.key"
}

write_config() {
	master_key
	umask 027
	{
		echo "# written by tools/run.sh for the demo; holds secrets (mode 0640, group $WEB_USER)"
		echo "db_socket = \"$RUN/db.sock\""
		echo "db_user = \"relay\""
		echo "db_password = \"$(cat "$RUN/db.password")\""
		echo "db_name = \"llm_relay\""
		echo "openai_url = \"$OPENAI_URL\""
		echo "anthropic_url = \"$ANTHROPIC_URL\""
		echo "upstream_api_key = \"$UPSTREAM_KEY\""
		echo "ssl_verify = ${RELAY_SSL_VERIFY:-true}"
		echo "lock_prefix = \"llm_relay_demo\""
		echo "disk_path = \"$RUN\""
		echo "upstream_slots = $SLOTS"
		echo "queue_max = $QUEUE_MAX"
		echo "master_key_file = \"$RUN/master.key\""
		echo "meter_socket = \"$RUN/meterd.sock\""
	} > "$RUN/relay.conf"
	umask 022
	chgrp "$WEB_USER" "$RUN/relay.conf"
	chmod 640 "$RUN/relay.conf"
}

# The binaries are copied so the web server user can always reach them.
install_bins() {
	mkdir -p "$RUN/cgi-bin" "$RUN/www" "$RUN/web"
	for b in "$ROOT"/cgi-bin/*; do
		# copy then rename: a binary still running is never overwritten
		[ -x "$b" ] && cp "$b" "$RUN/cgi-bin/.new" && mv -f "$RUN/cgi-bin/.new" "$RUN/cgi-bin/${b##*/}"
	done
	chmod 755 "$RUN/cgi-bin" "$RUN/cgi-bin"/* "$RUN/www"
	chown "$WEB_USER:$WEB_USER" "$RUN/web"
	sed -e "s|@CGI_BIN@|$RUN/cgi-bin|g" -e "s|@RELAY_CONFIG@|$RUN/relay.conf|g" \
	    -e "s|@RUN_DIR@|$RUN/web|g" -e "s|@RELAY_PROCS@|$PROCS|g" "$ROOT/$SERVER.conf" > "$RUN/llm-relay-$SERVER.conf"
}

start_lighttpd() {
	touch "$RUN/web-error.log"
	chown "$WEB_USER" "$RUN/web-error.log"
	cat > "$RUN/lighttpd-main.conf" <<CONF
server.modules = ( "mod_access", "mod_alias" )
server.document-root = "$RUN/www"
server.errorlog = "$RUN/web-error.log"
server.pid-file = "$RUN/web.pid"
server.username = "$WEB_USER"
server.groupname = "$WEB_USER"
server.bind = "127.0.0.1"
server.port = $PORT
server.upload-dirs = ( "$RUN/web" )
mimetype.assign = ( ".html" => "text/html" )
include "$RUN/llm-relay-lighttpd.conf"
server.modules += ( "mod_staticfile" )
CONF
	lighttpd -tt -f "$RUN/lighttpd-main.conf" >/dev/null || die "lighttpd config test failed"
	lighttpd -f "$RUN/lighttpd-main.conf" || die "lighttpd did not start, see $RUN/web-error.log"
}

start_apache() {
	mods=/usr/lib/apache2/modules
	mkdir -p "$RUN/apache"
	chown "$WEB_USER" "$RUN/apache"
	cat > "$RUN/apache-main.conf" <<CONF
ServerRoot "/etc/apache2"
DefaultRuntimeDir "$RUN/apache"
PidFile "$RUN/web.pid"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
User $WEB_USER
Group $WEB_USER
ErrorLog "$RUN/web-error.log"
# Every process of both relay pools may hold a connection: enough threads.
ThreadsPerChild 25
ServerLimit $(( (2 * PROCS + 50) / 25 + 1 ))
MaxRequestWorkers $(( ((2 * PROCS + 50) / 25 + 1) * 25 ))
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mime_module $mods/mod_mime.so
LoadModule alias_module $mods/mod_alias.so
LoadModule env_module $mods/mod_env.so
LoadModule dir_module $mods/mod_dir.so
LoadModule fcgid_module $mods/mod_fcgid.so
TypesConfig /etc/mime.types
DocumentRoot "$RUN/www"
<Directory "$RUN/www">
  Require all granted
</Directory>
FcgidIPCDir "$RUN/apache"
FcgidProcessTableFile "$RUN/apache/fcgid_shm"
Include "$RUN/llm-relay-apache.conf"
CONF
	apache2 -t -f "$RUN/apache-main.conf" 2>/dev/null || die "apache2 config test failed"
	apache2 -f "$RUN/apache-main.conf" -k start || die "apache2 did not start, see $RUN/web-error.log"
}

do_start() {
	[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts services)"
	case "$SERVER" in lighttpd|apache) ;; *) die "SERVER must be lighttpd or apache" ;; esac
	if [ -z "${RELAY_NO_BUILD:-}" ]; then    # the test suite runs it on its own build
		sh "$ROOT/tools/deps.sh"
		make -s -C "$ROOT" >/dev/null
	fi
	do_stop >/dev/null
	start_db

	UPSTREAM_KEY=${RELAY_UPSTREAM_API_KEY:-}
	OPENAI_URL=${RELAY_OPENAI_URL:-}
	ANTHROPIC_URL=${RELAY_ANTHROPIC_URL:-}
	MOCK=""
	if [ -z "$OPENAI_URL" ] && [ -z "$ANTHROPIC_URL" ]; then
		start_mock
		mp=$(cat "$RUN/mock.port")
		OPENAI_URL="http://127.0.0.1:$mp/v1/chat/completions"
		ANTHROPIC_URL="http://127.0.0.1:$mp/v1/messages"
		UPSTREAM_KEY=${UPSTREAM_KEY:-mock-upstream-key}
		MOCK=1
	fi
	write_config
	export RELAY_CONFIG="$RUN/relay.conf"
	"$ROOT/bin/relayctl" migrate >/dev/null
	if ! "$ROOT/bin/relayctl" user list | grep -q '^demo '; then
		"$ROOT/bin/relayctl" user add demo >/dev/null
		rm -f "$RUN/demo.key"
	fi
	if [ ! -s "$RUN/demo.key" ]; then
		umask 077
		"$ROOT/bin/relayctl" key create demo | tail -n 1 > "$RUN/demo.key"
		umask 022
	fi
	# the console's first admin (docs/guide/console.md); password kept in $RUN
	if [ ! -s "$RUN/admin.password" ]; then
		"$ROOT/bin/relayctl" user list | grep -q '^admin ' ||
			"$ROOT/bin/relayctl" user add admin --daily-requests 0 --daily-tokens 0 >/dev/null
		umask 077
		head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$RUN/admin.password"
		umask 022
		"$ROOT/bin/relayctl" user passwd admin < "$RUN/admin.password" >/dev/null
		"$ROOT/bin/relayctl" user set admin --admin 1 >/dev/null
	fi
	install_bins
	# the host's metering daemon (docs/design/meterd.md) before the web
	# server: until it answers, web processes meter on their own
	"$ROOT/bin/meterd" >>"$RUN/meterd.log" 2>&1 &
	echo $! > "$RUN/meterd.pid"
	"start_$SERVER"
	"$ROOT/bin/queue_worker" --loop >>"$RUN/worker.log" 2>&1 &
	echo $! > "$RUN/worker.pid"

	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$PORT/api/status.php"; do
		i=$((i + 1)); [ $i -lt 100 ] || die "$SERVER does not answer, see $RUN/web-error.log"
		sleep 0.1
	done
	key=$(cat "$RUN/demo.key")
	say ""
	say "llm-relay is running ($SERVER) at http://127.0.0.1:$PORT/api/"
	if [ -n "$MOCK" ]; then
		say "upstream: MOCK upstream on 127.0.0.1:$(cat "$RUN/mock.port") (canned answers;"
		say "          set RELAY_OPENAI_URL / RELAY_ANTHROPIC_URL / RELAY_UPSTREAM_API_KEY for a real one)"
	else
		say "upstream: ${OPENAI_URL:-no OpenAI endpoint} | ${ANTHROPIC_URL:-no Anthropic endpoint}"
	fi
	say "demo user: demo    API key: $key"
	say "web console: http://127.0.0.1:$PORT/console/   admin / $(cat "$RUN/admin.password")"
	say "state, logs and config: $RUN   (stop with: make stop)"
	say ""
	say "try:"
	say "  curl -s http://127.0.0.1:$PORT/api/status.php"
	say "  curl -s http://127.0.0.1:$PORT/metrics        (Prometheus; metrics_allow / metrics_token)"
	say "  curl -s -X POST http://127.0.0.1:$PORT/api/call.php \\"
	say "    -H 'Content-Type: application/json' -H 'X-API-Key: $key' \\"
	say "    -d '{\"model\":\"MiniMax-M2.7\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'"
	say "streams through the SDK routes (OpenAI and Anthropic format; the mock streams too):"
	say "  curl -sN http://127.0.0.1:$PORT/v1/chat/completions -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' -d '{\"model\":\"MiniMax-M2.7\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'"
	say "  curl -sN http://127.0.0.1:$PORT/v1/messages -H 'x-api-key: $key' -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' -d '{\"model\":\"MiniMax-M2.7\",\"max_tokens\":256,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'"
	say "Claude Code: ANTHROPIC_BASE_URL=http://127.0.0.1:$PORT ANTHROPIC_AUTH_TOKEN=$key ANTHROPIC_MODEL=MiniMax-M2.7 claude"
}

case "${1:-start}" in
start) do_start ;;
stop) do_stop ;;
*) die "usage: tools/run.sh start|stop" ;;
esac
