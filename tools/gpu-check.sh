#!/usr/bin/env bash
# The GPU check, in two halves because the GPU machine has no Qt, PCRE2 or utf8proc headers and cannot
# install anything:
#   tools/gpu-check.sh build   here: Release build without Qt for sm_${MOE_CUDA_ARCHS:-90}, stripped, into .gpu/
#   tools/gpu-check.sh run     there: runs the checks, then moe-cli bench on real shapes, prints a table, logs to $OUT
# With the device tool: run `bash tools/gpu-check.sh build` here, then
#   run(command="bash tools/gpu-check.sh run", carry=[".gpu"])
# Same-run A/B of moe-cli builds (machines of the pool differ by up to 2.5 %, so compare only within a run):
#   tools/gpu-check.sh pack NAME=PATH...   here: strips each moe-cli into .gpu/ab.tar.xz (after `build`;
#                                          the carry limit is 64 MiB: remove .gpu/checks.tar.xz if needed)
#   tools/gpu-check.sh ab                  there: `moe-cli bench` of .gpu/moe-cli ("head") and each packed
#                                          build, alternated, $REPS rounds (2) over $SHAPES (four real shapes),
#                                          decoding after a prompt of $PROMPT tokens (512)
#   tools/gpu-check.sh ab-env VAR "V1 V2"  there: .gpu/moe-cli alone with VAR set to each value in turn (for
#                                          development switches of an experiment build), as `ab` does
#   tools/gpu-check.sh kv                  there: bench/kv_read_bench, the KV cache's read pattern (position-
#                                          major, as the engine lays it out) against a head-major one, for
#                                          the Qwen1.5-MoE / OLMoE cache at 8,000 positions and MLA's rows
#   tools/gpu-check.sh phases              there: the FFN kernel's phases per layer and block, from a build of
#                                          branch exp-ffn-phases packed as `pack phases=PATH`
#   tools/gpu-check.sh profile             there: Nsight Compute over one eager decode step of each of $SHAPES
#                                          after a prompt of $PROMPT tokens: time, DRAM bytes and registers per
#                                          kernel (tools/ncu_decode_summary.py), CSVs and tables under $OUT
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  build)
    export PATH="$PATH:/usr/local/cuda/bin"
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_WITH_QT=OFF -DMOE_WITH_CUDA=ON \
      -DMOE_CUDA_ARCHS=${MOE_CUDA_ARCHS:-90} >/dev/null
    # Every GPU check program is a target named moe-*-check under tests/gpu.
    checks=$(sed -n 's/^add_executable(\(moe-[a-z-]*-check\).*/\1/p' tests/gpu/CMakeLists.txt)
    cmake --build build-gpu --target moe-cli kv_read_bench $checks
    rm -rf .gpu && mkdir -p .gpu
    cp build-gpu/app/cli/moe-cli build-gpu/bench/kv_read_bench .gpu/
    for c in $checks; do cp "build-gpu/tests/gpu/$c" .gpu/; done
    strip .gpu/moe-* .gpu/kv_read_bench
    # Libraries the GPU machine may lack travel beside the programs, xz-compressed (the carry limit is 64 MiB;
    # OpenBLAS alone is 36 MB) and unpacked there by `run`.
    libs=()
    for lib in libgomp.so.1 libopenblas.so.0 libgfortran.so.5; do
      path=$(ldd .gpu/moe-cli | awk -v l="$lib" '$1 == l {print $3}')
      [ -n "$path" ] && cp -L "$path" .gpu/ && libs+=("$lib")
    done
    if [ "${#libs[@]}" -gt 0 ]; then
      tar cJf .gpu/libs.tar.xz -C .gpu "${libs[@]}" && (cd .gpu && rm -f "${libs[@]}")
    fi
    # So do the check programs (four of ~9 MB each would not fit beside the tree otherwise).
    tar cJf .gpu/checks.tar.xz -C .gpu $checks && (cd .gpu && rm -f $checks)
    git describe --always --dirty >.gpu/COMMIT
    du -sh .gpu
    ;;
  run)
    # MOE_CHECKS="gpu decode" runs only those check programs (default: every .gpu/moe-*-check); MOE_BENCH=0
    # skips the benchmarks. Full logs go to $OUT, few files (the device tool brings back only a handful):
    # one log per check, summary.txt, bench.log, bench-rows.md. Stdout ends with the failed rows and one
    # benchmark table (the device tool shows only the last 12,000 characters).
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out"
    [ -f .gpu/libs.tar.xz ] && tar xJf .gpu/libs.tar.xz -C .gpu
    [ -f .gpu/checks.tar.xz ] && tar xJf .gpu/checks.tar.xz -C .gpu
    export LD_LIBRARY_PATH="$PWD/.gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    header="commit $(cat .gpu/COMMIT), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true)"
    echo "$header"
    set +e
    status=0
    summary="$out/summary.txt"
    : >"$summary"
    if [ -n "${MOE_CHECKS:-}" ]; then
      checks=$(for n in $MOE_CHECKS; do echo ".gpu/moe-$n-check"; done)
    else
      checks=$(ls .gpu/moe-*-check)
    fi
    for c in $checks; do
      name=$(basename "$c")
      start=$SECONDS
      "$c" tests/data >"$out/$name.log" 2>&1
      rc=$?
      [ "$rc" = 0 ] || status=1
      echo "$name: exit $rc, $(grep -c '| FAIL' "$out/$name.log") failed row(s), $((SECONDS - start)) s" |
        tee -a "$summary"
      grep '| FAIL' "$out/$name.log" | awk '!seen[$0]++' | head -n 25 | cut -c 1-300 >>"$summary"
    done
    blog="$out/bench.log"
    .gpu/moe-cli info tests/data/parity/deepseek_v3 >"$blog" 2>&1 || status=1
    grep -E '^(plan|vram plan|gpu)' "$blog" >>"$summary"

    rows="$out/bench-rows.md"
    : >"$rows"
    # bench LABEL ARGS...: one `moe-cli bench --row` run; a failure becomes a row saying why.
    bench() {
      local label=$1 start=$SECONDS
      shift
      local err="$out/bench-$label.err"
      if timeout 180 .gpu/moe-cli bench "$@" --row >>"$rows" 2>"$err"; then :; else
        echo "| $label | failed: $(tail -c 300 "$err" | tr '\n' ' ') |" >>"$rows"
        status=1
      fi
      { echo "== bench $label ($*): $((SECONDS - start)) s"; cat "$err"; } >>"$blog"
      rm -f "$err"
      echo "bench $label: $((SECONDS - start)) s"
    }
    if [ "${MOE_BENCH:-1}" != 0 ]; then
      bench qwen1.5-512 --random-like qwen1.5-moe-a2.7b --prompt 512 --gen 128
      bench qwen1.5-2048 --random-like qwen1.5-moe-a2.7b --prompt 2048 --gen 32
      bench qwen1.5-eager --random-like qwen1.5-moe-a2.7b --prompt 512 --gen 128 --no-graphs
      bench olmoe-512 --random-like olmoe-1b-7b --prompt 512 --gen 128
      bench deepseek-v2-lite --random-like deepseek-v2-lite --prompt 512 --gen 128 --at 8192
      bench qwen3-30b-a3b --random-like qwen3-30b-a3b --prompt 512 --gen 128 --at 8192
    fi

    echo
    echo "== $header"
    cat "$summary"
    echo
    echo "| shape (random bf16 weights) | device | prompt | prefill tok/s | TTFT ms | decode at | decode tok/s | GB/s | copy GB/s | % of roofline |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    cat "$rows"
    exit "$status"
    ;;
  pack)
    shift
    rm -rf .gpu/ab && mkdir -p .gpu/ab
    names=()
    for spec in "$@"; do
      strip -o ".gpu/ab/${spec%%=*}" "${spec#*=}"
      names+=("${spec%%=*}")
    done
    tar cJf .gpu/ab.tar.xz -C .gpu/ab "${names[@]}" && rm -rf .gpu/ab
    du -sh .gpu
    ;;
  ab | ab-env)
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out" .gpu/ab
    [ -f .gpu/libs.tar.xz ] && tar xJf .gpu/libs.tar.xz -C .gpu
    cp .gpu/moe-cli .gpu/ab/head
    export LD_LIBRARY_PATH="$PWD/.gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # Variants: NAME BINARY ENV (ENV "-" for none).
    variants=()
    if [ "$1" = ab ]; then
      tar xJf .gpu/ab.tar.xz -C .gpu/ab
      for b in head $(tar tJf .gpu/ab.tar.xz); do variants+=("$b .gpu/ab/$b -"); done
    else
      [ $# -eq 3 ] || { echo "usage: $0 ab-env VAR \"VALUE...\"" >&2; exit 2; }
      for v in $3; do variants+=("$2=$v .gpu/ab/head $2=$v"); done
    fi
    echo "head = $(cat .gpu/COMMIT), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true)"
    echo "| shape | build | round | prefill tok/s | decode tok/s | % of roofline |"
    echo "|---|---|---|---|---|---|"
    for shape in ${SHAPES:-qwen1.5-moe-a2.7b olmoe-1b-7b qwen3-30b-a3b deepseek-v2-lite}; do
      for round in $(seq "${REPS:-2}"); do
        for variant in "${variants[@]}"; do
          read -r name bin env_set <<<"$variant"
          [ "$env_set" = - ] && env_set=MOE_AB_NONE=1
          row=$(env "$env_set" timeout 180 "$bin" bench --random-like "$shape" --prompt "${PROMPT:-512}" --gen 128 --repeats 1 \
            --row 2>"$out/ab.err" | head -1) || true
          if [ -z "$row" ]; then
            echo "| $shape | $name | $round | failed: $(tail -c 200 "$out/ab.err" | tr '\n' ' ') | | |"
            continue
          fi
          echo "$row" | awk -F'|' -v s="$shape" -v b="$name" -v r="$round" \
            '{printf "| %s | %s | %s | %s | %s | %s |\n", s, b, r, $5, $8, $11}'
        done
      done
    done
    ;;
  kv)
    [ -f .gpu/libs.tar.xz ] && tar xJf .gpu/libs.tar.xz -C .gpu
    export LD_LIBRARY_PATH="$PWD/.gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "commit $(cat .gpu/COMMIT), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true)"
    # One head of 128 a block (128 threads) over 33 and 41 splits (four and five blocks an SM), with one
    # flash-decoding tile's bytes in flight a block (32 rows of K and V: 16 KB, 8 loads a thread) and two
    # tiles' (16); then MLA's one 1,152-byte row per position at 8,192 (264 splits as the engine takes
    # them; one head, so both layouts are the same addresses: the rate of 1,152-byte rows alone).
    for args in "--splits 33 --inflight 8" "--splits 33 --inflight 16" "--splits 41 --inflight 8" \
      "--positions 8192 --heads 1 --row 1152 --splits 264 --threads 288 --inflight 8"; do
      # shellcheck disable=SC2086
      .gpu/kv_read_bench $args
    done
    # What sets the rate: the bytes a launch reads (a fixed cost of ramp-up and drain per launch would show as
    # a rate rising with the positions), the warps an SM holds (threads a block) and the blocks (splits).
    for args in "--positions 16000 --inflight 16 --layers 8" "--positions 32000 --inflight 16 --layers 8" \
      "--positions 64000 --inflight 16 --layers 8" "--threads 256 --inflight 8" "--threads 256 --inflight 16" \
      "--threads 512 --inflight 8" "--threads 512 --inflight 16" "--splits 66 --inflight 8" \
      "--splits 132 --inflight 8"; do
      # shellcheck disable=SC2086
      .gpu/kv_read_bench $args | sed -n '1p;2p'
    done
    ;;
  phases)
    # The FFN kernel's phases per layer and block (%globaltimer stamps of branch exp-ffn-phases, packed
    # here as `pack phases=PATH`), one decode run of each of $SHAPES after $PROMPT tokens, summed up by
    # tools/ffn_phases_summary.py.
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out" .gpu/ab
    [ -f .gpu/libs.tar.xz ] && tar xJf .gpu/libs.tar.xz -C .gpu
    [ -x .gpu/ab/phases ] || tar xJf .gpu/ab.tar.xz -C .gpu/ab phases
    export LD_LIBRARY_PATH="$PWD/.gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    for shape in ${SHAPES:-olmoe-1b-7b qwen3-30b-a3b qwen1.5-moe-a2.7b}; do
      echo "== $shape at ${PROMPT:-512}"
      # (no pipe: the stamps are written when the process ends normally)
      MOE_FFN_PHASES="$out/phases-$shape.txt" .gpu/ab/phases bench --random-like "$shape" --prompt "${PROMPT:-512}" \
        --gen 32 --repeats 1 --row >"$out/phases-$shape.row"
      cat "$out/phases-$shape.row"
      python3 tools/ffn_phases_summary.py "$out/phases-$shape.txt"
    done
    ;;
  profile)
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out"
    [ -f .gpu/libs.tar.xz ] && tar xJf .gpu/libs.tar.xz -C .gpu
    export LD_LIBRARY_PATH="$PWD/.gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
    [ -n "$ncu" ] || { echo "profile: no ncu on this machine" >&2; exit 1; }
    echo "commit $(cat .gpu/COMMIT), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true)"
    # The decode kernels by name (the prefill's embed kernel matches too; the summary keeps the last step).
    kernels='gemv|attn_(prep|decode|combine|output)|ffn_kernel|mla_(prep|query|value|merge)|reduce_add|embed_kernel'
    kernels+='|stats_kernel|select_pass|full_(draw|sum)|gather_sample|mark_seen'
    for shape in ${SHAPES:-qwen1.5-moe-a2.7b olmoe-1b-7b deepseek-v2-lite qwen3-30b-a3b}; do
      # The step with graphs and overlap, and the copy bandwidth, from a plain bench in the same run.
      row=$(.gpu/moe-cli bench --random-like "$shape" --prompt "${PROMPT:-512}" --gen 128 --repeats 1 --row)
      tok_s=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
      copy=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $10); print $10}')
      "$ncu" --clock-control none --csv --kernel-name "regex:$kernels" \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__registers_per_thread \
        .gpu/moe-cli bench --random-like "$shape" --prompt "${PROMPT:-512}" --gen 2 --repeats 1 --no-graphs \
        >"$out/ncu-$shape.csv" 2>"$out/ncu-$shape.err" || { tail -5 "$out/ncu-$shape.err"; continue; }
      echo
      echo "== $shape at ${PROMPT:-512}: $tok_s tok/s with graphs, copy $copy GB/s"
      python3 tools/ncu_decode_summary.py "$out/ncu-$shape.csv" "$copy" "$(awk -v t="$tok_s" 'BEGIN {print 1000 / t}')" |
        tee "$out/ncu-$shape.md"
    done
    ;;
  *)
    echo "usage: $0 build|run|pack NAME=PATH...|ab|ab-env VAR \"VALUE...\"|kv|phases|profile" >&2
    exit 2
    ;;
esac
