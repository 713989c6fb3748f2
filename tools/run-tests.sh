#!/usr/bin/env bash
# The test command of the README: installs what is missing, builds, runs every CTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
cd "${MOE_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" "$@"
