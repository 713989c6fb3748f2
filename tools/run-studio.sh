#!/usr/bin/env bash
# The first command of the README: installs what is missing, builds, and starts MoE Studio.
# Until the studio (issue 5) and the built-in demo model (issue 4) land, it writes a small random-weight
# checkpoint and runs moe-cli on it: its description, then a generation with the routing it chose.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
cli="${MOE_BUILD_DIR:-build}/app/cli/moe-cli"
model="${1:-${MOE_MODEL:-}}"
if [ -z "$model" ]; then
  model="${XDG_CACHE_HOME:-$HOME/.cache}/moe-studio/tiny-qwen3-moe"
  [ -f "$model/config.json" ] || "$cli" random "$model" --like tiny-qwen3-moe
fi
"$cli" info "$model"
ids=$(mktemp --suffix=.json)
echo '[257, 72, 101, 108, 108, 111]' >"$ids"
"$cli" generate "$model" --ids "$ids" --max-tokens 32 --seed 1
rm -f "$ids"
