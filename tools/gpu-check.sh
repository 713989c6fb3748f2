#!/usr/bin/env bash
# The GPU check, in two halves because the GPU machine has no Qt, PCRE2 or utf8proc headers and cannot
# install anything:
#   tools/gpu-check.sh build   here: Release build without Qt for sm_${MOE_CUDA_ARCHS:-90}, stripped, into .gpu/
#   tools/gpu-check.sh run     there: runs the checks (and later the benchmarks), prints a table, logs to $OUT
# With the device tool: run `bash tools/gpu-check.sh build` here, then
#   run(command="bash tools/gpu-check.sh run", carry=[".gpu"])
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  build)
    export PATH="$PATH:/usr/local/cuda/bin"
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_WITH_QT=OFF -DMOE_WITH_CUDA=ON \
      -DMOE_CUDA_ARCHS=${MOE_CUDA_ARCHS:-90} >/dev/null
    # Every GPU check program is a target named moe-*-check under tests/gpu.
    checks=$(sed -n 's/^add_executable(\(moe-[a-z-]*-check\).*/\1/p' tests/gpu/CMakeLists.txt)
    cmake --build build-gpu --target moe-cli $checks
    rm -rf .gpu && mkdir -p .gpu
    cp build-gpu/app/cli/moe-cli .gpu/
    for c in $checks; do cp "build-gpu/tests/gpu/$c" .gpu/; done
    strip .gpu/moe-*
    # Libraries the GPU machine may lack travel beside the programs, xz-compressed (the carry limit is 64 MiB;
    # OpenBLAS alone is 36 MB) and unpacked there by `run`.
    libs=()
    for lib in libgomp.so.1 libopenblas.so.0 libgfortran.so.5; do
      path=$(ldd .gpu/moe-cli | awk -v l="$lib" '$1 == l {print $3}')
      [ -n "$path" ] && cp -L "$path" .gpu/ && libs+=("$lib")
    done
    tar cJf .gpu/libs.tar.xz -C .gpu "${libs[@]}" && (cd .gpu && rm -f "${libs[@]}")
    git rev-parse --short HEAD >.gpu/COMMIT
    du -sh .gpu
    ;;
  run)
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out"
    [ -f .gpu/libs.tar.xz ] && tar xJf .gpu/libs.tar.xz -C .gpu
    export LD_LIBRARY_PATH="$PWD/.gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "commit $(cat .gpu/COMMIT), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
    set +e
    status=0
    for c in .gpu/moe-*-check; do
      "$c" tests/data 2>&1 | tee -a "$out/gpu-check.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
    done
    .gpu/moe-cli info tests/data/parity/deepseek_v3 2>&1 | tee -a "$out/gpu-check.log"
    exit "$status"
    ;;
  *)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
