#!/usr/bin/env python3
"""Summarises the FFN kernel's phase stamps (branch exp-ffn-phases, MOE_FFN_PHASES=FILE).

Each line of FILE: layer, block, then 11 %globaltimer stamps in ns (0: not taken). Times are taken per layer
from the first block past the PDL wait (the predecessor done). Prints, over all (layer, block) pairs of the
last step, the median, 90th percentile and maximum of each phase in microseconds.
"""
import statistics
import sys
from collections import defaultdict

NAMES = [
    ("entry to the PDL wait's end", 0, 1),
    ("input and norm", 1, 2),
    ("router rows (routing warp)", 3, 4),
    ("wait for every block's logits", 4, 5),
    ("top-k and publish", 5, 6),
    ("warp 0 waits for the routing", 7, 8),
    ("groups (gate/up, down)", 2, 9),
    ("output added", 9, 10),
]
SINCE = [
    ("routing published", 6),
    ("warp 0 has the routing", 8),
    ("groups done", 9),
    ("block done", 10),
]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main(path):
    layers = defaultdict(list)
    with open(path) as f:
        for line in f:
            v = [int(x) for x in line.split()]
            stamps = v[2:]
            # Stamps 7 and 8 are taken only where warp 0 waits: one older than this step's entry is stale.
            layers[v[0]].append([t if t >= stamps[0] else 0 for t in stamps])
    rows = defaultdict(list)
    spans = []
    for blocks in layers.values():
        start = min(b[1] for b in blocks)
        spans.append((max(b[10] for b in blocks) - start) / 1e3)
        for b in blocks:
            for name, i, j in NAMES:
                if b[i] and b[j]:
                    rows[name].append((b[j] - b[i]) / 1e3)
            for name, j in SINCE:
                if b[j]:
                    rows[name + " (since the first block past the wait)"].append((b[j] - start) / 1e3)
    print(f"{len(layers)} layers, {sum(len(b) for b in layers.values())} blocks")
    print("| phase | median us | p90 us | max us |")
    print("|---|---|---|---|")
    for name in [n for n, _, _ in NAMES] + [n + " (since the first block past the wait)" for n, _ in SINCE]:
        v = rows.get(name)
        if v:
            print(f"| {name} | {statistics.median(v):.2f} | {pct(v, 0.9):.2f} | {max(v):.2f} |")
    print(f"| layer span (first block past the wait to the last block done) | {statistics.median(spans):.2f} "
          f"| {pct(spans, 0.9):.2f} | {max(spans):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
