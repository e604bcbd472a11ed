#!/bin/sh
# Installs the Debian packages llm-relay needs to build, test and run.
# Safe to re-run: apt-get only installs what is missing.
# chromium (+ a CJK font for readable screenshots): the console's browser
# test (tests/integration/test_console.py, playwright-core from tests/npm).
# debhelper, lintian, fakeroot, debootstrap: make deb and its test
# (tests/integration/test_package.py: lintian, a clean Debian root).
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev libfcgi-dev libfcgi-bin libjson-c-dev
libmariadb-dev libmariadb-dev-compat libcurl4-openssl-dev libssl-dev libcmocka-dev
mariadb-server mariadb-client apache2 libapache2-mod-fcgid lighttpd spawn-fcgi
python3 python3-requests python3-prometheus-client curl nginx-light wrk valgrind cppcheck nodejs openssl procps
libcrypt-dev debhelper lintian fakeroot debootstrap
chromium fonts-wqy-microhei"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's policy-rc.d may forbid starting services; we start our own.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
