#include "widgets/chat_bubble.h"

#include <QPainter>

namespace moe::widgets {

ChatBubble::ChatBubble(QWidget* parent) : QWidget(parent) {}

void ChatBubble::setColors(const QColor& fill, const QColor& border) {
  fill_ = fill;
  border_ = border;
  update();
}

void ChatBubble::paintEvent(QPaintEvent*) {
  if (fill_.alpha() == 0 && border_.alpha() == 0) return;
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(border_.alpha() ? QPen(border_, 1) : Qt::NoPen);
  p.setBrush(fill_);
  p.drawRoundedRect(QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5), 10, 10);
}

}  // namespace moe::widgets
