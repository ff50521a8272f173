#!/bin/sh
# Runs `node` with the arguments given on Node.js 22 or later (docs/operations.md#runtime): the machine's own when it
# is new enough, else a Node.js 24 fetched once from the npm registry's node-<os>-<arch> package (the binary Node.js
# publishes) into .node/, which git ignores. So `npm start` and `npm test` work on a machine whose node is older.
# The last command is an exec: the process npm started is node itself, and signals reach it directly.
set -e
if [ "$(node -p 'process.versions.node.split(".")[0] >= 22')" = true ]; then exec node "$@"; fi
root=$(dirname "$0")/..
package=$(node -p '`node-${process.platform === "win32" ? "win" : process.platform}-${process.arch}`')
bin="$root/.node/node_modules/$package/bin/node"
if [ ! -x "$bin" ]; then
  echo "node $(node --version) is older than Node.js 22: fetching Node.js 24 ($package) into .node/" >&2
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$root/.node" "$package@24" >&2
fi
exec "$bin" "$@"
