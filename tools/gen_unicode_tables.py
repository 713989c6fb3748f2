#!/usr/bin/env python3
"""Writes engine/tokenizer/unicode_tables.inc: where Hugging Face tokenizers' Unicode data and the libraries this
engine uses (PCRE2 10.42 and Python 3.11: Unicode 14; utf8proc 2.8: Unicode 15) disagree, measured on
tokenizers itself, the @anush008/tokenizers Node binding (see tools/fetch-tokenizer-reference.sh):

- regex properties: Oniguruma (Unicode 16) puts more characters in \\p{L}, \\p{N}... A Split pre-tokenizer with
  the pattern \\p{X} over a string of every code point removes the members of X; those unassigned in Unicode 14
  are the additions to put in PCRE2 classes.
- Rust's char::is_numeric (Digits) and the regex crate's \\w (Whitespace, single_word): additions likewise,
  read from what the Digits and Whitespace pre-tokenizers do with every code point.
- normalization: tokenizers' NFC/NFD/NFKC/NFKD tables are older than Unicode 14; the characters they do not
  know (unassigned in Unicode 14, or normalized differently from Python's Unicode 14 tables) are left alone.
- Lowercase mappings that differ from Python's (newer case pairs).
- The complete sets of tokenizers' punctuation (Punctuation, BertPreTokenizer) and combining marks
  (StripAccents), which come from old Unicode tables.

    NODE_PATH=$(tools/fetch-tokenizer-reference.sh) python3 tools/gen_unicode_tables.py
"""
import json
import os
import subprocess
import tempfile
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "engine", "tokenizer", "unicode_tables.inc")
PROPERTIES = ["L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd",
              "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "Alphabetic"]

# Runs in Node: argv[1] is a JSON request file, the answer goes to stdout.
PROBE = r"""
const t = require('@anush008/tokenizers');
const fs = require('fs');
const req = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const all = [];
if (req.kind === 'properties')
  for (let c = 0; c < 0x110000; c++) if (c < 0xD800 || c > 0xDFFF) all.push(String.fromCodePoint(c));
const cps = (s) => Array.from(s).map((ch) => ch.codePointAt(0));
function pre(p) {
  const doc = {version: '1.0', added_tokens: [], normalizer: null, post_processor: null, decoder: null,
               pre_tokenizer: p, model: {type: 'BPE', vocab: {a: 0}, merges: []}};
  return t.Tokenizer.fromString(JSON.stringify(doc)).getPreTokenizer();
}
// Characters a pre-tokenizer leaves as one-character pieces when each is followed by 'x'.
function alone(p) {
  const out = [];
  for (const [s] of pre(p).preTokenizeString(all.join('x'))) {
    const c = cps(s);
    if (c.length === 1 && c[0] !== 0x78) out.push(c[0]);
  }
  return out;
}
let answer;
if (req.kind === 'properties') {
  answer = {};
  for (const p of req.properties) {
    const kept = new Set();
    const split = {type: 'Split', pattern: {Regex: '\\p{' + p + '}'}, behavior: 'Removed', invert: false};
    for (const [s] of pre(split).preTokenizeString(all.join(''))) for (const c of cps(s)) kept.add(c);
    answer[p] = all.map((ch) => ch.codePointAt(0)).filter((c) => !kept.has(c));
  }
  answer.numeric = alone({type: 'Digits', individual_digits: true});
  answer.punctuation = alone({type: 'Punctuation', behavior: 'Isolated'});
  // Whitespace splits on \w+|[^\w\s]+: a word character stands alone between two 'x'... unless it is 'x'-like,
  // so use '!' as the separator there.
  answer.word = [];
  for (const [s] of pre({type: 'Whitespace'}).preTokenizeString(all.join('!'))) {
    const c = cps(s);
    if (c.length === 1 && c[0] !== 0x21) answer.word.push(c[0]);
  }
} else {
  const n = {NFC: t.nfcNormalizer(), NFD: t.nfdNormalizer(), NFKC: t.nfkcNormalizer(), NFKD: t.nfkdNormalizer(),
             Lowercase: t.lowercase(), StripAccents: t.stripAccentsNormalizer()}[req.form];
  answer = req.texts.map((s) => n.normalizeString(s));
}
process.stdout.write(JSON.stringify(answer));
"""

ALL = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
NEW = {c for c in ALL if unicodedata.category(chr(c)) == "Cn"}  # unassigned in Unicode 14


def node(request):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(request, f, ensure_ascii=False)
    try:
        return json.loads(subprocess.run(["node", "-e", PROBE, f.name], capture_output=True, check=True).stdout)
    finally:
        os.remove(f.name)


def per_character(form, chars):
    """tokenizers' normalizer `form` applied to each character (separated by U+0001, a starter)."""
    chars = [c for c in chars if c != 1]
    chunks = [chars[i:i + 5000] for i in range(0, len(chars), 5000)]
    texts = ["".join(chr(c) + "\x01" for c in chunk) for chunk in chunks]
    out = {}
    for chunk, result in zip(chunks, node({"kind": "normalize", "form": form, "texts": texts})):
        for c, r in zip(chunk, result.split("\x01")):
            out[c] = r
    return out


def normalization_unknown():
    unknown = set(NEW)
    assigned = [c for c in ALL if c not in NEW]
    for form in ["NFD", "NFKD", "NFC", "NFKC"]:
        for c, r in per_character(form, assigned).items():
            if unicodedata.normalize(form, chr(c)) != r:
                unknown.add(c)
    marks = [c for c in assigned if unicodedata.combining(chr(c))]  # canonical ordering around each mark
    texts = ["a\u0301" + chr(c) + "\u0316" for c in marks] + ["a\u0316" + chr(c) + "\u0301" for c in marks]
    for s, r in zip(texts, node({"kind": "normalize", "form": "NFD", "texts": texts})):
        if unicodedata.normalize("NFD", s) != r:
            unknown.add(ord(s[2]))
    return unknown


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def range_lines(cps):
    rs = ranges(cps)
    return ["    " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in rs[i:i + 6]) for i in range(0, len(rs), 6)]


def main():
    if unicodedata.unidata_version != "14.0.0":
        raise SystemExit(f"needs Python's Unicode 14.0.0 database (PCRE2 10.42's), got {unicodedata.unidata_version}")
    members = node({"kind": "properties", "properties": PROPERTIES})
    lines = ["// Generated by tools/gen_unicode_tables.py from Hugging Face tokenizers (the @anush008/tokenizers",
             "// Node binding). Do not edit.", "",
             "// Members of each property that tokenizers has and PCRE2 10.42 (Unicode 14) lacks: regex classes (by",
             "// property name), Rust's char::is_numeric (\"numeric\") and the regex crate's \\w (\"word\").",
             "const PropertyRanges kPropertyExtra[] = {"]
    for p in PROPERTIES + ["numeric", "word"]:
        extra = ranges(c for c in members[p] if c in NEW)
        lines.append(f'    {{"{p}", {{' + ", ".join(f"{{0x{a:X}, 0x{b:X}}}" for a, b in extra) + "}},")
    lines += ["};", "", "// tokenizers' punctuation (Punctuation and BertPreTokenizer pre-tokenizers), complete.",
              "const CodeRange kPunctuation[] = {"]
    lines += range_lines(members["punctuation"])
    lines += ["};", "", "// tokenizers' combining marks (the StripAccents normalizer removes them), complete.",
              "const CodeRange kCombiningMark[] = {"]
    strip = per_character("StripAccents", ALL)
    lines += range_lines(c for c, r in strip.items() if r == "")
    lines += ["};", "", "// Characters tokenizers' normalization tables do not know: NFC/NFD/NFKC/NFKD leave them as they are.",
              "const CodeRange kNormalizationUnknown[] = {"]
    lines += range_lines(normalization_unknown())
    lines += ["};", "", "// Lowercase mappings of tokenizers (Rust's char::to_lowercase) that differ from Unicode 14's.",
              "const CodeRange kLowercaseExtra[] = {  // {from, to}"]
    lower = [(c, r) for c, r in per_character("Lowercase", ALL).items() if r != chr(c).lower()]
    if any(len(r) != 1 for c, r in lower):
        raise SystemExit("a lowercase mapping to several characters differs: extend the table format")
    for i in range(0, len(lower), 6):
        lines.append("    " + " ".join(f"{{0x{a:X}, 0x{ord(b):X}}}," for a, b in lower[i:i + 6]))
    lines.append("};")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{OUT}: written")


if __name__ == "__main__":
    main()
