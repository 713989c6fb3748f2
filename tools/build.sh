#!/usr/bin/env bash
# Configures (once) and builds MoE Studio in build/ with Ninja (and ccache when present).
# CUDA is built when nvcc is found (on PATH or at /usr/local/cuda/bin), for MOE_CUDA_ARCHS (default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
build=${MOE_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${MOE_BUILD_TYPE:-RelWithDebInfo} \
    -DMOE_CUDA_ARCHS=${MOE_CUDA_ARCHS:-90} "$@"
fi
cmake --build "$build"
