#include "widgets/chat_theme.h"

#include <QFontDatabase>
#include <cmath>

namespace moe::widgets {

QColor ChatTheme::mix(const QColor& a, const QColor& b, qreal t) {
  const QColor x = a.toRgb(), y = b.toRgb();
  return QColor::fromRgbF(float(x.redF() + (y.redF() - x.redF()) * t),
                          float(x.greenF() + (y.greenF() - x.greenF()) * t),
                          float(x.blueF() + (y.blueF() - x.blueF()) * t));
}

ChatTheme ChatTheme::fromPalette(const QPalette& palette, const QFont& font) {
  ChatTheme t;
  t.background = palette.color(QPalette::Base);
  t.text = palette.color(QPalette::Text);
  t.dark = t.background.lightnessF() < 0.5;
  t.muted = mix(t.text, t.background, 0.42);
  const QColor accent = palette.color(QPalette::Highlight);
  t.userBubble = mix(t.background, accent, t.dark ? 0.22 : 0.10);
  t.userBubbleBorder = mix(t.background, accent, t.dark ? 0.38 : 0.22);
  t.codeBackground = mix(t.background, t.text, t.dark ? 0.08 : 0.045);
  t.codeBorder = mix(t.background, t.text, t.dark ? 0.22 : 0.15);
  t.link = palette.color(QPalette::Link);
  // The link colour of a light palette is unreadable on a dark Base (and the reverse) when the two disagree.
  if (std::abs(t.link.lightnessF() - t.background.lightnessF()) < 0.3) t.link = mix(accent, t.text, 0.3);
  t.warningText = t.dark ? QColor(255, 183, 110) : QColor(166, 77, 0);
  t.warningBackground = mix(t.background, t.warningText, 0.14);
  t.font = font;
  t.monoFont = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  // Monospace a little smaller than prose reads as the same size.
  if (font.pointSizeF() > 0) t.monoFont.setPointSizeF(font.pointSizeF() * 0.95);
  return t;
}

}  // namespace moe::widgets
