#!/usr/bin/env python3
"""Writes tests/data/tokenizers/texts.json: the hard multilingual text set of the tokenizer parity test.

English, code, CJK, emoji with ZWJ sequences, combining marks, full-width forms, whitespace runs, tabs, CRLF,
very long words, numbers, text that looks like (or is) special tokens of the four reference tokenizers, and
a large mixed document. Deterministic: rerun it and the file is the same.
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "tokenizers", "texts.json")

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. It's a well-known pangram; they've used it since the "
    "1880s, and we'll keep using it. Don't you think it's time we'd found another? I'm not sure."
)
PYTHON = '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


if __name__ == "__main__":
\tprint(fibonacci(10))  # tab-indented on purpose
'''
CPP = '''#include <vector>
template <typename T>
T sum(const std::vector<T>& v) {
  T s{};
  for (const auto& x : v) s += x;   // accumulate
  return s;
}
int main() { return sum<int>({1, 2, 3}) == 6 ? 0 : 1; }
'''
JSON_TEXT = '{"name": "MoE Studio", "experts": [8, 64, 128], "top_k": 2, "nested": {"a": null, "b": true}}'
HTML = '<div class="chat"><p>Hello &amp; welcome!</p><br/><a href="https://example.com/?q=1&x=2">link</a></div>'

TEXTS = [
    "Hello, world!",
    "hello world",
    "HELLO WORLD",
    ENGLISH,
    "I'm sure you'll see they've said we'd DON'T IT'S I'M YOU'LL THEY'VE WE'D 'S 'T 'RE 'VE 'M 'LL 'D",
    "’s ‘quoted’ “double” «guillemets» — en–dash … ellipsis",
    PYTHON,
    CPP,
    JSON_TEXT,
    HTML,
    "```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    "你好，世界！今天天气很好。我们一起去公园散步吧。",
    "机器学习是人工智能的一个分支。混合专家模型（MoE）在每个词元上只激活少数专家。",
    "こんにちは世界。東京は日本の首都です。カタカナとひらがなと漢字。",
    "안녕하세요 세계. 한국어 텍스트입니다. 띄어쓰기도 있어요.",
    "Привет, мир! Как дела? Всё хорошо.",
    "Γειά σου Κόσμε. Ελληνικά.",
    "مرحبا بالعالم. هذا نص عربي.",
    "שלום עולם",
    "नमस्ते दुनिया। यह हिंदी है।",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Tiếng Việt có nhiều dấu: ắ ằ ẳ ẵ ặ ế ề ể ễ ệ",
    "👨‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag, ❤️ heart, 🧑🏿‍💻 coder, 🇯🇵🇺🇸 flags",
    "emoji only: 😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘",
    "🧬🪐🫠🫶 newer emoji",
    "café naïve résumé Ångström Zürich São Paulo Øresund Łódź",
    "cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m",
    "e\u0301\u0301\u0301 a\u0300\u0301\u0302\u0303\u0304",
    "Z̷̛̗a̶̢l̴̰g̸̣o̵̳ text with stacked marks",
    "\u1100\u1161\u11a8 decomposed hangul \uac01",
    "ＡＢＣ１２３！？　全角スペース　ｆｕｌｌｗｉｄｔｈ",
    "ﬁ ﬂ ﬃ ligatures, ① ② ③, ™ ℃ ㎏ Ⅻ",
    "a    b\t\tc   \n\n\n   d",
    "   leading spaces",
    "trailing spaces   ",
    " ",
    "  ",
    "",
    "\n",
    "\t",
    "\t\tindented\twith\ttabs\t",
    "line1\r\nline2\r\n\r\nline3\r\n",
    "\r\r\n\n\r",
    "\n\n\n\n\n\n",
    "para one.\n\n\npara two.\n \n \npara three.",
    "a" * 5000,
    "ab" * 1500,
    " " * 1000 + "x",
    "\n" * 300 + "y",
    "supercalifragilisticexpialidocious" * 30,
    "https://www.example.com/a/very/long/path/with/many/segments/" + "segment-" * 60 + "end.html?query=" + "x1y2" * 40 + "&lang=en#fragment",
    "x" * 300 + " " + "漢" * 300,
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi there.<|im_end|>\n",
    "<|endoftext|>",
    "text<|endoftext|>more text<|endoftext|>",
    "hello <|im_end|> world  <|im_start|>  spaced  ",
    "<|im_start|><|im_start|><|im_end|>",
    "<|im_start", 
    "<think>\nreasoning\n</think>\n\nanswer <tool_call>{\"name\": \"f\"}</tool_call>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|reserved_special_token_5|> and <|python_tag|>",
    "<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜>",
    "<s>[INST] What is MoE? [/INST] Mixture of experts.</s>",
    "<s> <s>  </s>",
    "<unk> <0x41> <0xFF>",
    "▁hello ▁▁world ▁",
    "1234567890123456789012345678901234567890",
    "3.14159265358979323846 2.71828 -42 +7 1e-10 0x1F 0b1010",
    "1,000,000 and 1.000.000 and 1 000 000",
    "123abc456def789",
    "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits, १२३ Devanagari digits, 一二三 Chinese numerals, ½ ¾ ²",
    "∑_{i=1}^{n} x_i² ≤ ∞, ∀x∈ℝ: x² ≥ 0; ∫₀¹ f(x) dx ≈ π/4",
    "a\u00a0b\u2000c\u3000d\u202fe\u2028f\u2029g\u0085h\u200bi",
    "a\u0000b\u0007c\u001b[31mred\u001b[0m",
    "\ue000\U0010fffd private use, \U00020000\U0002a6d6 CJK extension B",
    "ſtraße 'ſ 'K 'k 'Ｓ",
    "!!!???...,,,;;;::: ----==== ____ ****",
    "@user #hashtag $100 %50 ^caret &amp *star (paren) [bracket] {brace} |pipe| \\backslash/ ~tilde `tick`",
    "don't won't can't shouldn't y'all o'clock rock'n'roll",
    "MixedCASE camelCase snake_case kebab-case SCREAMING_SNAKE PascalCase",
    "The year 2024 had 366 days; 10000 tokens/s at 3.5 GHz.",
]

def document():
    rng = random.Random(1234)
    parts = [ENGLISH, PYTHON, "你好，世界！", "こんにちは", "안녕하세요", "👨‍👩‍👧‍👦", "café", "１２３",
             "\r\n", "\t", "    ", "<|im_end|>", "12345678", "Ωμέγα", "naïve"]
    return "".join(rng.choice(parts) + rng.choice([" ", "\n", "", "  "]) for _ in range(400))

TEXTS.append(document())

def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(TEXTS, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{OUT}: {len(TEXTS)} texts")

if __name__ == "__main__":
    main()
