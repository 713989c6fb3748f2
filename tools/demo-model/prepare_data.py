#!/usr/bin/env python3
"""Extracts the demo model's text from Debian packages and writes the corpus plus the shipped data sets.

Sources (DESIGN §10; all permissive or public domain, none copyleft):
  wordnet-base    /usr/share/wordnet/data.{noun,verb,adj,adv} + index.*  (WordNet 3.0 licence)
  bible-kjv-text  /usr/lib/bible.data, read through the `bible` program of package bible-kjv (text: public domain)
  dict-jargon     /usr/share/dictd/jargon.dict.dz + jargon.index          (public domain)
  dict-devil      /usr/share/dictd/devil.dict.dz + devil.index            (public domain) -- ONLY for the
                  fine-tuning data set resources/datasets/devils-dictionary.jsonl, never for the corpus

Writes (python3 standard library only; deterministic for a given package version):
  OUT/corpus.jsonl.xz   one document a line: {"src": kjv|jargon|wn_example|chat, "split": train|heldout,
                        "text": ...}; chats are rendered in ChatML (<|im_start|>user ... <|im_end|>)
  OUT/stats.json        document / character counts per source and split
  RES/datasets/devils-dictionary.jsonl   {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}
  RES/eval/heldout-prose.txt             held-out prose (KJV chapters, Jargon entries, WordNet examples)
  RES/calibration/calibration.txt        a sample of the training text, plain UTF-8

The held-out split (about 2 %) is chosen by a hash of a stable key: the chapter for KJV, the headword for
Jargon, the synset for WordNet (its example sentences and every chat about it go to the same side).

Usage: apt-get install -y wordnet-base bible-kjv-text bible-kjv dict-devil dict-jargon
       python3 tools/demo-model/prepare_data.py [--out .demo-data] [--resources resources]
"""

import argparse
import gzip
import hashlib
import json
import lzma
import os
import random
import re
import subprocess
import sys
import unicodedata

WORDNET = "/usr/share/wordnet"
DICTD = "/usr/share/dictd"
HELDOUT_PERCENT = 2
SEED = 20240607

IM_START, IM_END, EOT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are a helpful assistant that explains the meaning of English words.",
    "You are a concise dictionary assistant.",
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def is_heldout(key):
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16)
    return h % 100 < HELDOUT_PERCENT


def clean_space(s):
    return re.sub(r"[ \t]+", " ", s).strip()


def render_chat(messages):
    """The ChatML text the chat template of tokenizer_config.json produces for these messages (no generation
    prompt), so training text and inference prompts agree token for token."""
    return "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)


# ------------------------------------------------------------------------------------------------------------
# King James Bible
# ------------------------------------------------------------------------------------------------------------
def read_kjv():
    try:
        out = subprocess.run(["bible", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True,
                             stdin=subprocess.DEVNULL, env=dict(os.environ, COLUMNS="100000")).stdout
    except FileNotFoundError:
        sys.exit("the `bible` program is missing: apt-get install -y bible-kjv (it reads bible-kjv-text's data)")
    chapters, cur = [], None
    for line in out.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^\s+(\d+) (.*)$", line)
        if m and cur is not None:
            cur["verses"].append(clean_space(m.group(2)))
        elif not line[0].isspace():
            cur = {"title": line.strip(), "verses": []}
            chapters.append(cur)
        else:
            raise SystemExit(f"unexpected KJV line: {line!r}")
    n_verses = sum(len(c["verses"]) for c in chapters)
    log(f"KJV: {len(chapters)} chapters, {n_verses} verses")
    if len(chapters) != 1189 or n_verses != 31102:
        raise SystemExit("KJV: expected 1189 chapters and 31102 verses")
    docs = []
    for c in chapters:
        text = c["title"] + "\n\n" + "\n".join(c["verses"]) + "\n"
        docs.append({"src": "kjv", "key": "kjv:" + c["title"], "text": text})
    return docs


# ------------------------------------------------------------------------------------------------------------
# dictd files: .index lines "headword<TAB>offset<TAB>length" (base64 digits), .dict.dz is gzip (dictzip)
# ------------------------------------------------------------------------------------------------------------
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64num(s):
    v = 0
    for c in s:
        v = v * 64 + B64.index(c)
    return v


def read_dictd(name):
    data = gzip.open(os.path.join(DICTD, name + ".dict.dz")).read()
    entries, seen = [], set()
    with open(os.path.join(DICTD, name + ".index"), encoding="utf-8") as f:
        for line in f:
            head, off, length = line.rstrip("\n").split("\t")
            if head.startswith("00-database") or head.startswith("00database"):
                continue
            off, length = b64num(off), b64num(length)
            if off in seen:  # several headwords pointing at one entry
                continue
            seen.add(off)
            entries.append((head, data[off:off + length].decode("utf-8")))
    return entries


def reflow(body, verse_ok=True):
    """Blocks separated by blank lines; a block of indented short lines is verse (line breaks kept), other
    blocks are prose (lines joined; an indented line inside a block starts a new paragraph)."""
    paras = []
    for block in re.split(r"\n\s*\n", body):
        lines = [l.rstrip() for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        indented = [l for l in lines if l.startswith("    ")]
        if verse_ok and len(lines) >= 2 and len(indented) == len(lines) and max(len(l.strip()) for l in lines) < 66:
            ind = min(len(l) - len(l.lstrip()) for l in lines)
            paras.append("\n".join(l[ind:] for l in lines))
            continue
        cur = []
        for l in lines:
            if l.startswith("    ") and cur and verse_ok:
                paras.append(clean_space(" ".join(cur)))
                cur = []
            cur.append(l.strip())
        if cur:
            paras.append(clean_space(" ".join(cur)))
    return "\n\n".join(p for p in paras if p)


def read_jargon():
    docs = []
    for head, text in read_dictd("jargon"):
        lines = text.split("\n")
        title = lines[0].strip()
        pos = ""
        rest = lines[1:]
        if rest and rest[0].startswith(" ") and rest[0].strip():
            # pronunciation and part of speech: " /I·D·P/, v.,n." or " adj."
            pos = re.sub(r"^/[^/]*/,?\s*", "", rest[0].strip()).strip()
            rest = rest[1:]
        body = "\n".join(rest)
        body = reflow(body, verse_ok=False)
        body = re.sub(r"\{\s*([^{}]*?)\s*\}", r"\1", body)  # cross references {word}
        body = clean_space(body) if "\n" not in body else "\n\n".join(clean_space(p) for p in body.split("\n\n"))
        if len(body) < 20:
            continue
        head_line = f"{title} ({pos})" if pos else title
        docs.append({"src": "jargon", "key": "jargon:" + head, "text": f"{head_line}\n\n{body}\n"})
    log(f"Jargon File: {len(docs)} entries")
    return docs


DEVIL_HEAD = re.compile(
    r"^(?P<head>[A-Z0-9][A-Z0-9 '\-&,]*?)"
    r"(?:,?\s*(?P<pos>[a-z][a-z.]*?)\.|\?|\.)?"
    r"[ \t]*(?:\[(?P<lang>[A-Za-z]+)\])?"
    r"(?:[ \t]*\n|[ \t]{2,}|$)")


def read_devil():
    """(question headword, Bierce's definition) pairs."""
    pairs = []
    for head, text in read_dictd("devil"):
        text = text.replace("\r", "")
        m = DEVIL_HEAD.match(text)
        body = text[m.end():] if m else text
        if m and re.search(r"[A-Z]", m.group("head")):
            head = m.group("head").split(",")[0].strip().lower()  # OUT-OF-DOORS, not the index's outofdoors
        body = body.replace("_", "")
        body = reflow(body)
        if len(body) < 10:
            continue
        pairs.append((head, body))
    log(f"Devil's Dictionary: {len(pairs)} entries")
    return pairs


# ------------------------------------------------------------------------------------------------------------
# WordNet
# ------------------------------------------------------------------------------------------------------------
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
POS_NAME = {"n": "noun", "v": "verb", "a": "adjective", "r": "adverb"}


def parse_gloss(gloss):
    examples = [clean_space(e) for e in re.findall(r'"([^"]+)"', gloss)]
    definition = re.split(r'"', gloss, maxsplit=1)[0]
    definition = clean_space(definition).rstrip(";").strip()
    # a leading domain label, "(physiology) the gradual lengthening...", does not fit "X is ..." answers
    definition = re.sub(r"^\([^()]{1,40}\)\s*", "", definition)
    # a trailing "- Author" attribution of an example leaks in after the quotes; ignore it
    examples = [e for e in examples if len(e) > 3]
    return definition, examples


def read_wordnet():
    """synsets[(pos, offset)] = {words, definition, examples, antonyms: {word: [(pos, offset, word_no)]}}"""
    synsets = {}
    for pos, fname in POS_FILES.items():
        with open(os.path.join(WORDNET, "data." + fname), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                head, _, gloss = line.partition(" | ")
                t = head.split()
                offset, w_cnt = t[0], int(t[3], 16)
                words = [re.sub(r"\((a|p|ip)\)$", "", t[4 + 2 * i]).replace("_", " ") for i in range(w_cnt)]
                i = 4 + 2 * w_cnt
                p_cnt = int(t[i])
                i += 1
                ants = []
                for _ in range(p_cnt):
                    sym, toff, tpos, st = t[i:i + 4]
                    i += 4
                    if sym == "!":
                        tpos = "a" if tpos == "s" else tpos
                        ants.append((int(st[:2], 16), tpos, toff, int(st[2:], 16)))
                definition, examples = parse_gloss(gloss.strip())
                synsets[(pos, offset)] = {"words": words, "definition": definition, "examples": examples,
                                          "antonyms": ants}
    index = {}  # (lemma, pos) -> [offsets in sense order]
    for pos, fname in POS_FILES.items():
        with open(os.path.join(WORDNET, "index." + fname), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                t = line.split()
                lemma, synset_cnt = t[0], int(t[2])
                index[(lemma, pos)] = t[len(t) - synset_cnt:]
    log(f"WordNet: {len(synsets)} synsets, {len(index)} (lemma, pos) entries")
    return synsets, index


def article(w):
    return "an" if w[:1].lower() in "aeiou" else "a"


def cap(s):
    return s[:1].upper() + s[1:]


def sentence(s):
    s = s.strip()
    return s if s.endswith((".", "!", "?")) else s + "."


def word_in(word, text):
    return re.search(r"\b" + re.escape(word.split(" ")[0].lower()), text.lower()) is not None


class ChatMaker:
    """Question/answer pairs about one WordNet sense, in varied phrasings."""

    MEANING_Q = ["What does {w} mean?", "What does {w} mean?", "What does \"{w}\" mean?", "Define {w}.",
                 "What is the meaning of {w}?", "What is the definition of {w}?", "Explain the word {w}.",
                 "Tell me what {w} means.", "What's the meaning of the word \"{w}\"?", "Can you define {w}?",
                 "Meaning of {w}?", "I came across the word \"{w}\". What does it mean?",
                 "What is meant by {w}?", "Please explain what \"{w}\" means."]
    NOUN_Q = ["What is {a} {w}?", "What is {w}?", "What is {a} {w}?"]
    VERB_Q = ["What does it mean to {w}?", "What does the verb \"{w}\" mean?"]
    ADJ_Q = ["What does the adjective \"{w}\" mean?", "What does it mean to be {w}?"]
    ADV_Q = ["What does the adverb \"{w}\" mean?"]
    EXAMPLE_Q = ["Give an example of {w} used in a sentence.", "Use {w} in a sentence.",
                 "Can you use the word \"{w}\" in a sentence?", "Show me how to use \"{w}\" in a sentence.",
                 "Give me an example sentence with {w}.", "How is {w} used in a sentence?"]
    SYN_Q = ["What's another word for {w}?", "Give me a synonym for {w}.", "What is a synonym of {w}?",
             "What are some other words for {w}?"]
    ANT_Q = ["What is the opposite of {w}?", "What is an antonym of {w}?", "What's the opposite of \"{w}\"?"]

    def __init__(self, rng):
        self.rng = rng

    def example_tail(self, ex):
        form = self.rng.choice(["For example: \"{e}\"", "For example, \"{e}\"", "Example: \"{e}\"",
                                "It is used like this: \"{e}\"", "As in: \"{e}\""])
        return " " + form.format(e=sentence(ex) if not ex.endswith(("?", "!")) else ex)

    def meaning(self, w, pos, syn, other_defs):
        r, d = self.rng, syn["definition"]
        if pos == "n" and r.random() < 0.35:
            q = r.choice(self.NOUN_Q).format(w=w, a=article(w))
            ans = f"{cap(article(w)) if q.startswith('What is a') else ''} {w} is {d}".strip()
            ans = cap(ans)
        elif pos == "v" and r.random() < 0.35:
            q = r.choice(self.VERB_Q).format(w=w)
            ans = f"To {w} means {d}" if d.startswith("to ") else f"To {w} is to {d}"
        elif pos == "a" and r.random() < 0.25:
            q = r.choice(self.ADJ_Q).format(w=w)
            ans = f"The adjective \"{w}\" means {d}"
        elif pos == "r" and r.random() < 0.25:
            q = r.choice(self.ADV_Q).format(w=w)
            ans = f"The adverb \"{w}\" means {d}"
        else:
            q = r.choice(self.MEANING_Q).format(w=w)
            form = r.choice(["{W} ({p}): {d}", "As {a} {p}, \"{w}\" means {d}", "\"{W}\" means {d}",
                             "{W} means {d}", "The word \"{w}\" means {d}"])
            ans = form.format(W=cap(w), w=w, p=POS_NAME[pos], a=article(POS_NAME[pos]), d=d)
        ans = sentence(ans)
        usable = [e for e in syn["examples"] if word_in(w, e)] or syn["examples"]
        if usable and r.random() < 0.75:
            ans += self.example_tail(r.choice(usable))
        if other_defs and r.random() < 0.4:
            ans += " " + sentence(f"It can also mean {r.choice(other_defs)}")
        return q, ans

    def example(self, w, syn):
        usable = [e for e in syn["examples"] if word_in(w, e)]
        if not usable:
            return None
        q = self.rng.choice(self.EXAMPLE_Q).format(w=w)
        ex = self.rng.choice(usable)
        ex = cap(ex)
        ex = ex if ex.endswith((".", "!", "?")) else ex + "."
        form = self.rng.choice(["Here is an example: \"{e}\"", "\"{e}\"", "For example: \"{e}\"",
                                "Sure: \"{e}\" Here \"{w}\" means {d}."])
        return q, form.format(e=ex, w=w, d=syn["definition"])

    def synonym(self, w, syn):
        others = [x for x in dict.fromkeys(syn["words"]) if x.lower() != w.lower()]
        if not others:
            return None
        q = self.rng.choice(self.SYN_Q).format(w=w)
        shown = others[:3]
        if len(shown) == 1:
            ans = self.rng.choice(["Another word for {w} is \"{s}\".", "A synonym of {w} is \"{s}\".",
                                   "You could say \"{s}\"."]).format(w=w, s=shown[0])
        else:
            lst = ", ".join(f"\"{s}\"" for s in shown[:-1]) + f" or \"{shown[-1]}\""
            ans = f"Other words for {w} are {lst}."
        return q, ans + f" They mean {syn['definition']}."

    def antonym(self, w, ant_word, syn):
        q = self.rng.choice(self.ANT_Q).format(w=w)
        return q, f"The opposite of {w} is \"{ant_word}\". {cap(sentence(w + ' means ' + syn['definition']))}"


def wordnet_docs(synsets, index, rng):
    maker = ChatMaker(rng)
    chats, examples = [], []
    # prose: every example sentence once, grouped by synset
    for (pos, off), syn in synsets.items():
        if syn["examples"]:
            text = "\n".join(sentence(cap(e)) if not e.endswith(("?", "!")) else cap(e)
                             for e in syn["examples"]) + "\n"
            examples.append({"src": "wn_example", "key": f"wn:{pos}{off}", "text": text})
    for (lemma, pos), offsets in sorted(index.items()):
        if not re.search(r"[a-z]", lemma):
            continue
        senses = [synsets[(pos, o)] for o in offsets]
        # the surface form as the synset spells it (capitals of proper nouns)
        w = next((x for x in senses[0]["words"] if x.lower() == lemma.replace("_", " ")), lemma.replace("_", " "))
        multiword = " " in w
        defs = [s["definition"] for s in senses]
        for rank, o in enumerate(offsets[:4]):
            syn = synsets[(pos, o)]
            key = f"wn:{pos}{o}"
            qas = []
            n_meaning = 2 if rank == 0 and not multiword else 1
            if rank > 0 and rng.random() < 0.5:
                n_meaning = 0
            for _ in range(n_meaning):
                qas.append(maker.meaning(w, pos, syn, [d for d in defs if d != syn["definition"]][:2]))
            if rng.random() < (0.6 if rank == 0 else 0.3):
                qas.append(maker.example(w, syn))
            if rng.random() < (0.35 if rank == 0 else 0.15):
                qas.append(maker.synonym(w, syn))
            for src_no, tpos, toff, tno in syn["antonyms"]:
                if src_no and syn["words"][src_no - 1].lower() == w.lower() and (tpos, toff) in synsets:
                    tw = synsets[(tpos, toff)]["words"]
                    if 0 < tno <= len(tw):
                        qas.append(maker.antonym(w, tw[tno - 1], syn))
                        break
            for qa in qas:
                if qa is None:
                    continue
                msgs = []
                if rng.random() < 0.15:
                    msgs.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
                msgs += [{"role": "user", "content": qa[0]}, {"role": "assistant", "content": qa[1]}]
                chats.append({"src": "chat", "key": key, "messages": msgs})
    # a tenth of the conversations get a second turn (another word of the same split) to teach multi-turn
    rng.shuffle(chats)
    merged, i = [], 0
    while i < len(chats):
        c = chats[i]
        if i + 1 < len(chats) and rng.random() < 0.1 and \
                is_heldout(c["key"]) == is_heldout(chats[i + 1]["key"]):
            nxt = [m for m in chats[i + 1]["messages"] if m["role"] != "system"]
            c = {"src": "chat", "key": c["key"], "messages": c["messages"] + nxt}
            i += 1
        merged.append(c)
        i += 1
    for c in merged:
        c["text"] = render_chat(c["messages"])
    log(f"WordNet: {len(examples)} example-sentence documents, {len(merged)} chats")
    return examples, merged


# ------------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".demo-data")
    ap.add_argument("--resources", default="resources")
    ap.add_argument("--eval-bytes", type=int, default=300_000)
    ap.add_argument("--calibration-bytes", type=int, default=250_000)
    args = ap.parse_args()
    rng = random.Random(SEED)

    kjv = read_kjv()
    jargon = read_jargon()
    synsets, index = read_wordnet()
    wn_examples, chats = wordnet_docs(synsets, index, rng)
    docs = kjv + jargon + wn_examples + chats
    for d in docs:
        d["text"] = unicodedata.normalize("NFC", d["text"])
        d["split"] = "heldout" if is_heldout(d["key"]) else "train"
    order = list(range(len(docs)))
    rng.shuffle(order)
    docs = [docs[i] for i in order]

    os.makedirs(args.out, exist_ok=True)
    stats = {}
    with lzma.open(os.path.join(args.out, "corpus.jsonl.xz"), "wt", encoding="utf-8", preset=9) as f:
        for d in docs:
            f.write(json.dumps({"src": d["src"], "split": d["split"], "text": d["text"]}, ensure_ascii=False))
            f.write("\n")
            s = stats.setdefault(f"{d['src']}/{d['split']}", {"docs": 0, "chars": 0})
            s["docs"] += 1
            s["chars"] += len(d["text"])
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
    for k in sorted(stats):
        log(f"  {k:20s} {stats[k]['docs']:8d} docs {stats[k]['chars']:11d} chars")

    # ---- shipped data sets -------------------------------------------------------------------------------
    ds_dir = os.path.join(args.resources, "datasets")
    os.makedirs(ds_dir, exist_ok=True)
    with open(os.path.join(ds_dir, "devils-dictionary.jsonl"), "w", encoding="utf-8") as f:
        for head, body in read_devil():
            word = head if len(head) > 1 else head.upper()
            q = f"What does the letter {word} mean?" if len(head) == 1 else f"What does {word} mean?"
            rec = {"messages": [{"role": "user", "content": q},
                                {"role": "assistant", "content": unicodedata.normalize("NFC", body)}]}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    prose = [d for d in docs if d["src"] != "chat"]
    ev_dir = os.path.join(args.resources, "eval")
    os.makedirs(ev_dir, exist_ok=True)
    held = sorted((d for d in prose if d["split"] == "heldout"), key=lambda d: (d["src"], d["key"]))
    written = 0
    with open(os.path.join(ev_dir, "heldout-prose.txt"), "w", encoding="utf-8") as f:
        for d in held:
            b = len(d["text"].encode("utf-8")) + 1
            if written + b > args.eval_bytes:
                continue
            f.write(d["text"] + "\n")
            written += b
    log(f"eval text: {written} bytes")

    cal_dir = os.path.join(args.resources, "calibration")
    os.makedirs(cal_dir, exist_ok=True)
    crng = random.Random(SEED + 1)
    train = [d for d in docs if d["split"] == "train"]
    crng.shuffle(train)
    written = 0
    with open(os.path.join(cal_dir, "calibration.txt"), "w", encoding="utf-8") as f:
        for d in train:
            if d["src"] == "chat":  # as plain text: question line, answer line
                text = "\n".join(m["content"] for m in d["messages"] if m["role"] != "system") + "\n"
            elif d["src"] == "kjv":
                text = "\n".join(d["text"].split("\n")[:14]) + "\n"  # the opening of a chapter
            else:
                text = d["text"]
            b = len(text.encode("utf-8")) + 1
            if written + b > args.calibration_bytes:
                if written > args.calibration_bytes - 200:
                    break
                continue
            f.write(text + "\n")
            written += b
    log(f"calibration text: {written} bytes")


if __name__ == "__main__":
    main()
