#!/bin/sh
# debian/layout.sh DESTDIR - the package's own layout on top of
# `make install PREFIX=/usr` (called by debian/rules):
#  * queue_worker and meterd are daemons, not commands: /usr/lib/llm-relay/
#    (relayctl stays in /usr/bin); the cron file and the units name them there;
#  * /etc/llm-relay/relay.conf from relay.conf.example, with master_key_file
#    set to the key the postinst creates;
#  * the Apache and lighttpd snippets and the cron file, rendered from the
#    repository's templates for these paths (the templates stay under
#    /usr/share/llm-relay/examples/, with mariadb-relay.cnf).
set -eu
d=$1
lib=/usr/lib/llm-relay
conf=/etc/llm-relay/relay.conf
key=/etc/llm-relay/master.key

mv "$d/usr/bin/queue_worker" "$d/usr/bin/meterd" "$d$lib/"
# the example holds no secret: a 0600 file in /usr/share serves nobody
chmod 0644 "$d/usr/share/llm-relay/examples/relay.conf"

# The web server's process pool for call.php is upstream_slots + queue_max
# (apache.conf explains why); relayctl doctor checks it against relay.conf.
slots=$(sed -n 's/^upstream_slots = \([0-9]*\)$/\1/p' relay.conf.example)
qmax=$(sed -n 's/^queue_max = \([0-9]*\)$/\1/p' relay.conf.example)
procs=$((slots + qmax))
render() {
	sed -e "s|@CGI_BIN@|$lib/cgi-bin|g" -e "s|@RELAY_CONFIG@|$conf|g" \
	    -e "s|@RUN_DIR@|/run/lighttpd|g" -e "s|@RELAY_PROCS@|$procs|g" "$@"
}
note="# Installed by the llm-relay package for its paths; the template it was
# rendered from, with every URL it maps and how, is
# /usr/share/llm-relay/examples/%s. The call.php pool ($procs) is
# upstream_slots + queue_max of the shipped relay.conf: change both together
# (relayctl doctor compares them)."

install -d -m 0755 "$d/etc/llm-relay" "$d/etc/apache2/conf-available" \
	"$d/etc/lighttpd/conf-available" "$d/etc/cron.d"

sed -e "s|^master_key_file =.*|master_key_file = $key|" relay.conf.example > "$d$conf"
grep -qx "master_key_file = $key" "$d$conf"
# root:root 0640 in the archive; the postinst adds the group www-data
# (dpkg-statoverride), so the web server's processes can read it.
chmod 0640 "$d$conf"

# apache.conf's first paragraph is the placeholders and the sed line.
{ printf "$note\n\n" apache.conf; render apache.conf | sed '1,/^$/d'; } \
	> "$d/etc/apache2/conf-available/llm-relay.conf"
# lighttpd.conf's first line tells lighty-enable-mod to enable fastcgi too.
{ head -n 1 lighttpd.conf; printf "#\n$note\n\n" lighttpd.conf;
  render lighttpd.conf | sed '1,/^$/d'; } \
	> "$d/etc/lighttpd/conf-available/50-llm-relay.conf"
! grep -n '@[A-Z_]*@' "$d/etc/apache2/conf-available/llm-relay.conf" \
	"$d/etc/lighttpd/conf-available/50-llm-relay.conf"

sed -e "s|/usr/local/bin/queue_worker|$lib/queue_worker|g" \
    -e "s|/usr/local/bin/meterd|$lib/meterd|g" \
    -e "s|^PATH=/usr/local/bin:|PATH=|" \
    -e "s|^# MariaDB locks). Adjust the paths.*|# MariaDB locks).|" \
    cron/llm-relay > "$d/etc/cron.d/llm-relay"
cat >> "$d/etc/cron.d/llm-relay" <<EOT
# On a systemd host the units llm-relay-worker.timer and
# llm-relay-meterd.service do the same: comment out the two lines above,
# then systemctl enable --now llm-relay-worker.timer llm-relay-meterd.service
EOT
! grep -n '/usr/local' "$d/etc/cron.d/llm-relay"
