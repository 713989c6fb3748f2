#!/usr/bin/env bash
# Installs the reference for the tokenizer parity test: Hugging Face `tokenizers` through its native Node
# binding (@anush008/tokenizers, pinned), into <cache>/node, the cache being $MOE_NPM_CACHE or build/npm-cache.
# Idempotent and safe to run concurrently (flock). Prints the node_modules folder to put on NODE_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="@anush008/tokenizers@0.6.0"
cache="${MOE_NPM_CACHE:-$PWD/build/npm-cache}"
mkdir -p "$cache/node"
cache="$(cd "$cache" && pwd)"
modules="$cache/node/node_modules"
exec 9>"$cache/node/.lock"
flock 9
if [ ! -f "$modules/@anush008/tokenizers/package.json" ] ||
  ! NODE_PATH="$modules" node -e "require('@anush008/tokenizers')" >/dev/null 2>&1; then
  command -v npm >/dev/null || { echo "fetch-tokenizer-reference.sh: npm not found" >&2; exit 1; }
  npm install --silent --no-audit --no-fund --prefix "$cache/node" "$PACKAGE" >&2
  NODE_PATH="$modules" node -e "require('@anush008/tokenizers')" >/dev/null
fi
echo "$modules"
