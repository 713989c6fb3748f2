#!/usr/bin/env python3
"""Where a decode step's time goes, from an Nsight Compute CSV (`tools/gpu-check.sh profile` writes one).

Reads `ncu --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,...` output of
`moe-cli bench --no-graphs`, keeps the last decode step (from the last embed kernel to the end: the prefill's
comes before every decode step) and prints one row per kernel: launches, total and per-launch microseconds,
DRAM bytes, GB/s, and the microseconds above the bytes at the copy bandwidth given on the command line.
ncu runs kernels one at a time with caches flushed, so programmatic dependent launch overlaps nothing here:
the sum of the rows is the step without overlap, the "above the bytes" column the fixed costs per kernel.

usage: ncu_decode_summary.py CSV COPY_GBPS [MEASURED_STEP_MS]
"""
import csv
import re
import sys


def short_name(kernel):
    """'void ns::(anonymous namespace)::attn_decode_kernel<8, 128, false>(Args)' -> 'attn_decode_kernel<8, 128, false>'."""
    m = re.search(r"(\w+)(<[^()]*>)?\(", kernel)
    return m.group(1) + (m.group(2) or "") if m else kernel


def read_launches(path):
    launches = {}  # by launch ID, in launch order
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    for row in csv.DictReader(lines):
        lid = int(row["ID"])
        k = launches.setdefault(lid, {"name": row["Kernel Name"], "grid": row.get("Grid Size", "")})
        value = float(row["Metric Value"].replace(",", "") or 0)
        unit = row["Metric Unit"]
        scale = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "nsecond": 1e-3, "ms": 1e3, "msecond": 1e3,
                 "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}
        k[row["Metric Name"]] = value * scale.get(unit, 1.0)
    return list(launches.values())


def main():
    path, copy_gbps = sys.argv[1], float(sys.argv[2])
    measured_ms = float(sys.argv[3]) if len(sys.argv) > 3 else None
    launches = read_launches(path)
    starts = [i for i, k in enumerate(launches) if short_name(k["name"]) == "embed_kernel"]
    if not starts:
        sys.exit(f"{path}: no embed kernel among {len(launches)} launches")
    step = launches[starts[-1]:]
    rows = {}
    for k in step:
        # One row per kernel and size of work (the QKV projection and the lm_head share the GEMV kernel).
        traffic = k.get("dram__bytes_read.sum", 0.0) + k.get("dram__bytes_write.sum", 0.0)
        key = (short_name(k["name"]), k["grid"], float(f"{traffic:.1g}"))
        r = rows.setdefault(key, {"n": 0, "us": 0.0, "bytes": 0.0, "grid": k["grid"],
                                  "regs": k.get("launch__registers_per_thread", 0)})
        r["n"] += 1
        r["us"] += k.get("gpu__time_duration.sum", 0.0)
        r["bytes"] += traffic
    total_us = sum(r["us"] for r in rows.values())
    total_bytes = sum(r["bytes"] for r in rows.values())
    print(f"| kernel | launches | grid | regs | us total | us each | MB (DRAM) | GB/s | us above the bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, _, _), r in sorted(rows.items(), key=lambda kv: -kv[1]["us"]):
        floor_us = r["bytes"] / (copy_gbps * 1e3)
        gbs = r["bytes"] / (r["us"] * 1e3) if r["us"] else 0
        print(f"| {name} | {r['n']} | {r['grid']} | {int(r['regs'])} | {r['us']:.1f} | {r['us'] / r['n']:.2f} | "
              f"{r['bytes'] / 1e6:.1f} | {gbs:.0f} | {r['us'] - floor_us:.1f} |")
    floor_us = total_bytes / (copy_gbps * 1e3)
    line = (f"step: {len(step)} launches, {total_us:.0f} us serialised, {total_bytes / 1e9:.3f} GB of DRAM "
            f"traffic = {floor_us:.0f} us at {copy_gbps:.0f} GB/s")
    if measured_ms:
        line += f"; measured step with overlap {measured_ms * 1e3:.0f} us"
    print(line)


if __name__ == "__main__":
    main()
