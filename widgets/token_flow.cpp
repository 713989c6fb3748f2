#include "widgets/token_flow.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>
#include <algorithm>

#include "widgets/expert_palette.h"

namespace moe::widgets {

namespace {
constexpr int kMargin = 6;  // around the whole flow
constexpr int kPadX = 5;    // text inside a chip
constexpr int kPadY = 2;
constexpr int kSpacing = 3;     // between chips on a row
constexpr int kRowGap = 4;      // between rows
constexpr int kAnswerGap = 10;  // extra space (with a rule) before each new answer

int chipWidth(const QFontMetrics& fm, const QString& text) {
  return std::max(fm.horizontalAdvance(text) + 2 * kPadX, 14);
}
}  // namespace

TokenFlow::TokenFlow(const RoutingData* data, QWidget* parent) : QWidget(parent), data_(data) {
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
}

void TokenFlow::setLayer(int layer) {
  if (layer == layer_) return;
  layer_ = layer;
  const bool valid = layer_ >= 0 && layer_ < data_->nLayers();
  for (size_t i = 0; i < top1_.size(); ++i)
    top1_[i] = valid ? data_->topExpert(int(i), layer_) : -1;
  update();
}

void TokenFlow::setScope(const RoutingScope& scope) {
  scope_ = scope;
  update();
}

void TokenFlow::setSelected(int index) {
  if (index == selected_) return;
  const QRect before = tokenRect(selected_);
  selected_ = index;
  update(before.adjusted(-3, -3, 3, 3));
  update(tokenRect(selected_).adjusted(-3, -3, 3, 3));
}

void TokenFlow::clearLayout() {
  text_.clear();
  widths_.clear();
  top1_.clear();
  rects_.clear();
  answerBreaks_.clear();
  x_ = y_ = 0;
  contentHeight_ = 0;
  selected_ = hovered_ = pressed_ = -1;
  update();
}

QString TokenFlow::display(const QString& piece) const {
  if (piece.isEmpty()) return QStringLiteral("\u2205");
  if (piece.trimmed().isEmpty() && !piece.contains('\n'))
    return QString(piece.size(), QChar(0x2423));  // a piece of blanks would be an empty-looking chip: show ␣
  QString s = piece;
  s.replace(QStringLiteral("\r\n"), QStringLiteral("\u21b5"));
  s.replace('\n', QChar(0x21b5));  // ↵
  s.replace('\t', QChar(0x2192));  // →
  s.remove('\r');
  return s;
}

void TokenFlow::place(int i) {
  const QFontMetrics fm(font());
  if (size_t(i) >= text_.size()) {
    text_.push_back(display(data_->piece(i)));
    widths_.push_back(chipWidth(fm, text_.back()));
    const bool valid = layer_ >= 0 && layer_ < data_->nLayers();
    top1_.push_back(valid ? data_->topExpert(i, layer_) : -1);
  }
  const int avail = std::max(width() - 2 * kMargin, 40);
  const int w = std::min(widths_[size_t(i)], avail);
  const int h = fm.height() + 2 * kPadY;
  if (i == 0) {
    x_ = kMargin;
    y_ = kMargin;
  } else if (data_->answer(i) != data_->answer(i - 1)) {
    y_ += h + kRowGap + kAnswerGap;
    answerBreaks_.push_back(y_ - kAnswerGap / 2 - kRowGap / 2);
    x_ = kMargin;
  } else if (x_ + w > kMargin + avail && x_ > kMargin) {
    y_ += h + kRowGap;
    x_ = kMargin;
  }
  rects_.emplace_back(x_, y_, w, h);
  x_ += w + kSpacing;
  contentHeight_ = y_ + h + kMargin;
}

void TokenFlow::relayout() {
  rects_.clear();
  answerBreaks_.clear();
  contentHeight_ = 0;
  for (int i = 0; i < int(text_.size()); ++i)
    place(i);
  layoutWidth_ = width();
  update();
}

int TokenFlow::sync() {
  const int before = contentHeight_;
  const int first = int(rects_.size());
  for (int i = first; i < data_->size(); ++i)
    place(i);
  if (first < data_->size()) update();
  if (contentHeight_ != before) emit heightChanged(contentHeight_);
  return contentHeight_;
}

void TokenFlow::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  if (width() == layoutWidth_) return;  // a height change (the strip growing) needs no new layout
  const int before = contentHeight_;
  relayout();
  if (contentHeight_ != before) emit heightChanged(contentHeight_);
}

QRect TokenFlow::tokenRect(int index) const {
  return index >= 0 && index < int(rects_.size()) ? rects_[size_t(index)] : QRect();
}

int TokenFlow::tokenAt(const QPoint& pos) const {
  // Rows are laid out top to bottom, so the first chip whose bottom is below pos starts the candidate row.
  auto it = std::partition_point(rects_.begin(), rects_.end(),
                                 [&](const QRect& r) { return r.bottom() < pos.y(); });
  for (; it != rects_.end() && it->top() <= pos.y(); ++it)
    if (it->contains(pos)) return int(it - rects_.begin());
  return -1;
}

void TokenFlow::paintEvent(QPaintEvent* e) {
  QPainter p(this);
  p.fillRect(e->rect(), palette().base());
  p.setRenderHint(QPainter::Antialiasing);
  const QRect clip = e->rect();

  p.setPen(QPen(palette().mid().color(), 1));
  for (int y : answerBreaks_)
    if (y >= clip.top() - 1 && y <= clip.bottom() + 1) p.drawLine(kMargin, y, width() - kMargin, y);

  const int resolved = scope_.resolvedAnswer(*data_);
  const bool fades = scope_.kind != ScopeKind::Token;
  const int E = data_->nExperts();
  auto it = std::partition_point(rects_.begin(), rects_.end(),
                                 [&](const QRect& r) { return r.bottom() < clip.top(); });
  for (; it != rects_.end() && it->top() <= clip.bottom(); ++it) {
    const int i = int(it - rects_.begin());
    const QRectF r = QRectF(*it).adjusted(0.5, 0.5, -0.5, -0.5);
    const bool in_scope = !fades || scope_.contains(*data_, i, resolved);
    QColor fill = expert_palette::color(top1_[size_t(i)], E);
    QColor ink = expert_palette::textOn(fill);
    if (!in_scope) {
      fill.setAlpha(45);
      ink = palette().color(QPalette::Disabled, QPalette::Text);
    }
    QPainterPath path;
    path.addRoundedRect(r, 3, 3);
    p.fillPath(path, fill);
    if (data_->isPrompt(i)) {
      p.setPen(QPen(palette().text().color(), 1, Qt::DashLine));
      p.drawPath(path);
    }
    if (i == hovered_ && i != selected_) {
      p.setPen(QPen(palette().text().color(), 1));
      p.drawPath(path);
    }
    if (i == selected_) {
      p.setPen(QPen(palette().highlight().color(), 2.5));
      p.drawRoundedRect(r.adjusted(-1, -1, 1, 1), 4, 4);
    }
    p.setPen(ink);
    // Elide only chips narrowed to the row width: elidedText() at exactly the (rounded) advance would cut
    // ordinary pieces whose true width has a fractional pixel more.
    const QRect text_rect = it->adjusted(kPadX, 0, -kPadX + 2, 0);
    const QString& text = text_[size_t(i)];
    p.drawText(text_rect, Qt::AlignVCenter | Qt::AlignLeft,
               widths_[size_t(i)] <= it->width()
                   ? text
                   : p.fontMetrics().elidedText(text, Qt::ElideRight, text_rect.width() - 2));
  }
}

void TokenFlow::mousePressEvent(QMouseEvent* e) {
  pressed_ = e->button() == Qt::LeftButton ? tokenAt(e->position().toPoint()) : -1;
  QWidget::mousePressEvent(e);
}

void TokenFlow::mouseReleaseEvent(QMouseEvent* e) {
  // A click is a press and release on the same chip, so a drag that wanders off selects nothing.
  const int at = tokenAt(e->position().toPoint());
  if (e->button() == Qt::LeftButton && at >= 0 && at == pressed_) emit tokenClicked(at);
  pressed_ = -1;
  QWidget::mouseReleaseEvent(e);
}

void TokenFlow::mouseMoveEvent(QMouseEvent* e) {
  const int at = tokenAt(e->position().toPoint());
  if (at != hovered_) {
    update(tokenRect(hovered_).adjusted(-2, -2, 2, 2));
    hovered_ = at;
    update(tokenRect(hovered_).adjusted(-2, -2, 2, 2));
    setCursor(at >= 0 ? Qt::PointingHandCursor : Qt::ArrowCursor);
  }
  QWidget::mouseMoveEvent(e);
}

void TokenFlow::leaveEvent(QEvent* e) {
  update(tokenRect(hovered_).adjusted(-2, -2, 2, 2));
  hovered_ = -1;
  QWidget::leaveEvent(e);
}

void TokenFlow::changeEvent(QEvent* e) {
  QWidget::changeEvent(e);
  if (e->type() != QEvent::FontChange) return;
  // The cached chip widths belong to the old font.
  const QFontMetrics fm(font());
  for (size_t i = 0; i < text_.size(); ++i)
    widths_[i] = chipWidth(fm, text_[i]);
  const int before = contentHeight_;
  relayout();
  if (contentHeight_ != before) emit heightChanged(contentHeight_);
}

QString TokenFlow::toolTipFor(int i) const {
  QString text =
      tr("\u201c%1\u201d \u00b7 position %2 \u00b7 %3 \u00b7 answer %4")
          .arg(display(data_->piece(i)), QString::number(data_->position(i)),
               data_->isPrompt(i) ? tr("prompt") : tr("generated"), QString::number(data_->answer(i)));
  if (layer_ >= 0 && layer_ < data_->nLayers()) {
    QStringList choices;
    for (int s = 0; s < data_->topK(); ++s)
      if (int e = data_->expert(i, layer_, s); e >= 0)
        choices << tr("%1 (%2)").arg(e).arg(double(data_->weight(i, layer_, s)), 0, 'f', 3);
    text += tr("\nlayer %1: experts %2").arg(data_->layerId(layer_)).arg(choices.join(QStringLiteral(", ")));
  }
  // Rich text, escaped: a piece such as "<b>" must show as itself, not as markup.
  return QStringLiteral("<qt>%1</qt>").arg(text.toHtmlEscaped().replace('\n', QStringLiteral("<br>")));
}

bool TokenFlow::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    const int at = tokenAt(help->pos());
    if (at < 0)
      QToolTip::hideText();
    else
      QToolTip::showText(help->globalPos(), toolTipFor(at), this, tokenRect(at));
    return true;
  }
  return QWidget::event(e);
}

}  // namespace moe::widgets
