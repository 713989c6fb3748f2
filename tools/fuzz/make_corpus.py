#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors_header: a few tiny, valid .safetensors files covering the
header's features (metadata, several dtypes, zero-size and scalar tensors, sub-byte types, padding).
Run from the repository root: python3 tools/fuzz/make_corpus.py"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors_header")


def write(name, entries, metadata=None, pad=True):
    """entries: list of (tensor name, dtype, shape, byte size)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for tensor, dtype, shape, nbytes in entries:
        header[tensor] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(i % 251 for i in range(offset)))


os.makedirs(OUT, exist_ok=True)
write("empty.safetensors", [])
write("one_f32.safetensors", [("w", "F32", [2], 8)])
write("metadata.safetensors", [("a", "BF16", [2, 2], 8), ("empty", "F16", [0, 3], 0), ("ids", "I64", [1], 8)],
      metadata={"format": "pt", "note": "x"})
write("scalar_unpadded.safetensors", [("s", "F64", [], 8), ("b", "BOOL", [3], 3)], pad=False)
write("subbyte.safetensors", [("q", "F4", [2, 2], 2), ("r", "F6_E2M3", [4], 3), ("e", "F8_E8M0", [1], 1),
                              ("c", "C64", [1], 8)])
