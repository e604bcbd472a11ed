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
# .installed is written only after a complete install: a failed or cut
# npm run (which may leave a partial node_modules) is redone next time.
# Every dependency's folder is checked too: two installs of different
# package.json files at once (two checkouts on one machine) can leave a
# stamp that names a package the other npm run pruned.
all_there() {
	command -v node >/dev/null || return 1
	node -e 'const fs = require("fs"), path = require("path");
		const deps = Object.keys(require(process.argv[1]).dependencies || {});
		process.exit(deps.every(d => fs.existsSync(path.join(process.argv[2], d,
			"package.json"))) ? 0 : 1)' "$here/package.json" "$dir/node_modules"
}
if ! cmp -s "$here/package.json" "$dir/.installed" || [ ! -d "$dir/node_modules" ] || ! all_there; then
	command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 1; }
	rm -f "$dir/.installed"
	cp "$here/package.json" "$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
	cp "$here/package.json" "$dir/.installed"
fi
echo "$dir/node_modules"
