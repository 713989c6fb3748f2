#!/usr/bin/env python3
"""Trains the demo model's byte-level BPE tokenizer with Hugging Face `tokenizers` on the training split.

The layout is the one Qwen2/Qwen3 ship, which our C++ tokenizer runs (DESIGN §1, engine/tokenizer):
  normalizer     NFC
  pre_tokenizer  Sequence[Split(GPT-4-style regex, Isolated), ByteLevel(add_prefix_space=False, use_regex=False)]
  model          BPE over the 256 byte symbols, no unk, no byte fallback
  decoder        ByteLevel
  post_processor ByteLevel(trim_offsets=False) (adds nothing)
  special tokens <|endoftext|> = 0, <|im_start|> = 1, <|im_end|> = 2 (added tokens, special)

Usage: python3 tools/demo-model/build_tokenizer.py --data .demo-data/corpus.jsonl.xz --out DIR [--vocab 8192]
Writes DIR/tokenizer.json. Deterministic for a given corpus and tokenizers version.
"""

import argparse
import json
import lzma
import os
import time

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen2's pre-tokenizer pattern: contractions, letters with one leading non-letter, single digits, punctuation
# runs, newlines, whitespace.
SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def training_texts(path, chat_every=3):
    """The training split, with every chat_every-th chat only (they are many and alike)."""
    n_chat = 0
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["split"] != "train":
                continue
            if d["src"] == "chat":
                n_chat += 1
                if n_chat % chat_every:
                    continue
            t = d["text"]
            for s in SPECIAL:
                t = t.replace(s, "")
            yield t


def build(corpus, vocab_size):
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_texts(corpus), trainer=trainer)
    return tok


def check(tok):
    for i, s in enumerate(SPECIAL):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    text = "<|im_start|>user\nWhat does dog mean?<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.encode(text).ids
    assert ids[0] == 1 and 2 in ids, ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    s = "Naïve café – “quotes” 12345 and\ttabs\n\n  spaces"
    assert tok.decode(tok.encode(s).ids) == s
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".demo-data/corpus.jsonl.xz")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=8192)
    args = ap.parse_args()
    t0 = time.time()
    tok = build(args.data, args.vocab)
    ids = check(tok)
    os.makedirs(args.out, exist_ok=True)
    tok.save(os.path.join(args.out, "tokenizer.json"), pretty=False)
    print(f"tokenizer: vocab {tok.get_vocab_size()} in {time.time() - t0:.1f}s; chat prompt -> {ids}", flush=True)


if __name__ == "__main__":
    main()
