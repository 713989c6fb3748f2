// Where the reasoning block (<think>…</think>) and the answer lie in an assistant message's text. Models
// whose chat template opens the block in the prompt (Qwen3 thinking templates, DeepSeek-R1) write only
// "</think>": then everything before it is reasoning. While streaming, an open block runs to the end of the
// text.
#pragma once

#include <QStringView>

namespace moe::widgets {

struct ReasoningSplit {
  bool present = false;  // the text has a reasoning part (possibly still empty)
  bool closed = false;   // its "</think>" has arrived
  int thinkStart = 0;    // reasoning content [thinkStart, thinkEnd), tags excluded
  int thinkEnd = 0;
  int answerStart = 0;  // the answer is [answerStart, end of text)

  static ReasoningSplit of(QStringView text);
  // Whitespace-separated words in the reasoning.
  static int wordCount(QStringView reasoning);
};

}  // namespace moe::widgets
