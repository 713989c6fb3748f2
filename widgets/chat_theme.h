// Colours and fonts of the chat widgets, derived from the widget's palette and font so that light and dark
// themes both stay legible: every tint is a blend of two palette roles, never a fixed light or dark colour.
#pragma once

#include <QColor>
#include <QFont>
#include <QPalette>

namespace moe::widgets {

struct ChatTheme {
  QColor background;  // the conversation's backdrop (Base)
  QColor text;        // body text (Text)
  QColor muted;       // secondary text: role labels, stats, notes, reasoning
  QColor userBubble;  // fill of the user's messages
  QColor userBubbleBorder;
  QColor codeBackground;  // code blocks, inline code and table headers
  QColor codeBorder;
  QColor link;
  QColor warningText;  // the "interrupted" badge
  QColor warningBackground;
  QFont font;      // body font
  QFont monoFont;  // code
  bool dark = false;

  static ChatTheme fromPalette(const QPalette& palette, const QFont& font);
  // a blended towards b by t in [0, 1], per channel.
  static QColor mix(const QColor& a, const QColor& b, qreal t);
};

}  // namespace moe::widgets
