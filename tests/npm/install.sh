#!/bin/sh
# Installs the real npm clients the tests drive (tests/npm/package.json,
# exact versions) into RELAY_NPM_DIR (default /tmp/llm-relay-npm), outside
# the repository; a no-op when that folder already holds this package.json's
# install. Prints the node_modules path on success.
#   sh tests/npm/install.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${RELAY_NPM_DIR:-/tmp/llm-relay-npm}
mkdir -p "$dir"
if ! cmp -s "$here/package.json" "$dir/package.json" || [ ! -d "$dir/node_modules" ]; then
	cp "$here/package.json" "$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dir/node_modules"
