#include "widgets/chat_reasoning.h"

namespace moe::widgets {

ReasoningSplit ReasoningSplit::of(QStringView text) {
  static constexpr QStringView kOpen = u"<think>";
  static constexpr QStringView kClose = u"</think>";
  ReasoningSplit r;
  int start = 0;
  while (start < text.size() && text[start].isSpace())
    ++start;
  QStringView rest = text.mid(start);
  if (rest.startsWith(kOpen)) {
    r.present = true;
    r.thinkStart = start + int(kOpen.size());
    const qsizetype close = text.indexOf(kClose, r.thinkStart);
    r.closed = close >= 0;
    r.thinkEnd = r.closed ? int(close) : int(text.size());
    r.answerStart = r.closed ? int(close + kClose.size()) : int(text.size());
    return r;
  }
  if (!rest.isEmpty() && rest.size() < kOpen.size() && kOpen.startsWith(rest)) {
    r.answerStart = int(text.size());  // "<thi" while streaming: show nothing rather than flash the tag
    return r;
  }
  if (const qsizetype close = text.indexOf(kClose); close >= 0) {
    r.present = r.closed = true;
    r.thinkStart = 0;
    r.thinkEnd = int(close);
    r.answerStart = int(close + kClose.size());
  }
  return r;
}

int ReasoningSplit::wordCount(QStringView reasoning) {
  int words = 0;
  bool inWord = false;
  for (QChar c : reasoning) {
    const bool space = c.isSpace();
    if (!space && !inWord) ++words;
    inWord = !space;
  }
  return words;
}

}  // namespace moe::widgets
