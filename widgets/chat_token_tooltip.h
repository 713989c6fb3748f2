// The hover text of one generated token: its probability and the top alternatives at its position, as rich
// text.
#pragma once

#include <QString>

#include "widgets/chat_types.h"

namespace moe::widgets {

struct ChatTokenToolTip {
  // "87.3 %", "0.042 %", "< 0.001 %" for a natural-log probability.
  static QString percent(double logprob);
  // A token piece with its white space made visible (␣ for a space, ↵ for a line break, → for a tab).
  static QString visiblePiece(const QString& piece);
  // Rich text (Qt's tool-tip HTML subset): the token and its probability, then a table of the alternatives.
  static QString html(const ChatToken& token);
};

}  // namespace moe::widgets
