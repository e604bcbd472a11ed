#!/bin/sh
# The one test command behind `make test`: unit tests (cmocka) then the
# integration suite (real mariadbd, mock upstream, CGI/FastCGI/web servers).
# Ends with one summary line "N passed, N failed".
#   sh tests/run-all.sh [SANITIZE=1]
# RELAY_TESTS=a,b runs only the integration tests whose "file::test" name
# contains one of these, !NAME leaves those out (run.py -k); unset = all.
set -u
cd "$(dirname "$0")/.."
mk="make --no-print-directory"
if [ "${1:-}" = "SANITIZE=1" ]; then
	mk="$mk SANITIZE=1"
	# Every report lands in a file of SANITIZER_LOG_DIR (whoever reads the
	# process's stderr); the harness fails the test during which one appears.
	SANITIZER_LOG_DIR=$(mktemp -d /tmp/llm-relay-san.XXXXXX)
	chmod 1777 "$SANITIZER_LOG_DIR"
	export SANITIZER_LOG_DIR
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$SANITIZER_LOG_DIR/asan"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86:log_path=$SANITIZER_LOG_DIR/ubsan"
fi
# The test command installs what it needs (a no-op once installed).
sh tools/deps.sh || { echo "installing the packages failed (tools/deps.sh needs root)"; echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"; [ -n "${SANITIZER_LOG_DIR:-}" ] && rm -rf "$SANITIZER_LOG_DIR"' EXIT

$mk all >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

$mk unit 2>&1 | tee "$log"
up=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log" | tail -n 1)
uf=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log" | tail -n 1)
[ -n "$up" ] || { up=0; uf=1; }

# The real npm clients for test_sdk (tests/npm/install.sh, outside the
# repository; a no-op once installed). A failure is handed on, so those
# tests fail saying why instead of being skipped.
if nm=$(sh tests/npm/install.sh 2>"$log"); then
	LLM_RELAY_NPM_MODULES=$(printf '%s\n' "$nm" | tail -n 1)
	export LLM_RELAY_NPM_MODULES
else
	LLM_RELAY_NPM_ERROR="exit $?: $(head -n 3 "$log" | tr '\n' ' ')"
	export LLM_RELAY_NPM_ERROR
	echo "npm clients not installed (the SDK tests will fail): $LLM_RELAY_NPM_ERROR"
fi

python3 tests/integration/run.py ${RELAY_TESTS:+-k "$RELAY_TESTS"} 2>&1 | tee "$log"
ip=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*$/\1/p' "$log" | tail -n 1)
if_=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*$/\2/p' "$log" | tail -n 1)
[ -n "$ip" ] || { ip=0; if_=1; }

echo "unit: $up passed, $uf failed; integration: $ip passed, $if_ failed"
echo "$((up + ip)) passed, $((uf + if_)) failed"
[ $((uf + if_)) -eq 0 ]
