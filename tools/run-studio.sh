#!/usr/bin/env bash
# The first command of the README: installs what is missing, builds, and starts MoE Studio on the built-in
# demo model (or on the model folder given as the first argument). Without a display it starts `moe-cli chat`
# on the same model instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
build="${MOE_BUILD_DIR:-build}"
model=("$@")
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$build/app/studio/moe-studio" ]; then
  exec "$build/app/studio/moe-studio" ${model:+--model "${model[0]}"}
fi
echo "no display: starting moe-cli chat in the terminal (the studio needs a desktop session)" >&2
exec "$build/app/cli/moe-cli" chat "${model[@]}"
