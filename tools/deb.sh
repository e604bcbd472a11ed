#!/bin/sh
# make deb: builds llm-relay_<version>_<arch>.deb with Debian's tooling
# (dpkg-buildpackage, debhelper; debian/) and checks it with lintian.
# dpkg-buildpackage writes its results next to the source tree, so the
# tree is copied to build-deb/src first (its .deb lands in build-deb/, and
# the worktree's parent folder stays untouched); the .deb is then copied
# to the top. Exit 1 when the build fails or lintian reports an error.
#   sh tools/deb.sh            LINTIAN=0 skips lintian
set -eu
cd "$(dirname "$0")/.."
ver=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=llm-relay_${ver}_${arch}.deb
out=build-deb
rm -rf "$out"
mkdir -p "$out/src"
# The sources as they are (tracked and new files, not the build's
# products nor anything .gitignore names); a plain copy outside git.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z -c -o --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -xf - -C "$out/src"
else
	tar --exclude=./build\* --exclude=./bin/\* --exclude=./cgi-bin/\* --exclude=./.git \
		--exclude=./run --exclude=./\*.deb -cf - . | tar -xf - -C "$out/src"
fi
rm -f llm-relay_*.deb   # older versions too: one package at the top
start=$(date +%s)
if ! (cd "$out/src" && dpkg-buildpackage -b -us -uc -j"${DEB_JOBS:-2}") >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log"
	echo "make deb: dpkg-buildpackage failed (whole log: $out/build.log)"
	exit 1
fi
cp "$out/$deb" .
echo "make deb: $deb built in $(($(date +%s) - start)) s (log: $out/build.log)"
[ "${LINTIAN:-1}" = 0 ] && exit 0
# Errors fail; warnings the package cannot avoid are explained in
# debian/llm-relay.lintian-overrides.
lintian --fail-on error "$deb"
echo "make deb: lintian: no errors"
