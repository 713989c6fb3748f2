#include "widgets/chat_text_view.h"

#include <QAbstractTextDocumentLayout>
#include <QDesktopServices>
#include <QHelpEvent>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextLayout>
#include <QToolTip>
#include <QUrl>
#include <QWheelEvent>
#include <cmath>
#include <memory>

namespace moe::widgets {

ChatTextView::ChatTextView(QWidget* parent) : QTextBrowser(parent) {
  setFrameShape(QFrame::NoFrame);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  // Links come from model output: open web and mail links only, never local files or other schemes.
  setOpenLinks(false);
  setOpenExternalLinks(false);
  connect(this, &QTextBrowser::anchorClicked, this, [](const QUrl& url) {
    const QString scheme = url.scheme().toLower();
    if (scheme == u"http" || scheme == u"https" || scheme == u"mailto") QDesktopServices::openUrl(url);
  });
  setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::LinksAccessibleByMouse);
  setFocusPolicy(Qt::ClickFocus);
  setContextMenuPolicy(Qt::DefaultContextMenu);
  viewport()->setAutoFillBackground(false);
  setAutoFillBackground(false);
  viewport()->setCursor(Qt::IBeamCursor);
  document()->setDocumentMargin(0);
  document()->setUndoRedoEnabled(false);  // rebuilt on every render: an undo history would only grow
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  connect(document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged, this,
          &ChatTextView::fitHeight);
  fitHeight();
}

void ChatTextView::showMarkdown(const MarkdownRenderer& renderer, QStringView source, int sourceBase) {
  renderer.update(document(), source, sourceBase, &state_);
  document()->setDocumentMargin(0);
  if (hug_) {
    // Measured on a copy: laying out the shown document at another width would make it jump.
    std::unique_ptr<QTextDocument> copy(document()->clone());
    copy->setTextWidth(-1);
    naturalWidth_ = copy->idealWidth();
    updateGeometry();
  }
  fitHeight();
}

void ChatTextView::setHugContents(bool hug) {
  hug_ = hug;
  setSizePolicy(hug ? QSizePolicy::Preferred : QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void ChatTextView::fitHeight() {
  const QMargins m = contentsMargins();
  const int h = int(std::ceil(document()->size().height())) + m.top() + m.bottom() + 2 * frameWidth();
  if (h != height() || minimumHeight() != h) setFixedHeight(h);
  verticalScrollBar()->setValue(0);
}

QSize ChatTextView::sizeHint() const {
  const QMargins m = contentsMargins();
  const int w =
      hug_ ? int(std::ceil(naturalWidth_)) + m.left() + m.right() + 2 : QTextBrowser::sizeHint().width();
  return {w, height()};
}

QSize ChatTextView::minimumSizeHint() const {
  return {40, height()};
}

int ChatTextView::documentPositionAt(QPointF p) const {
  QAbstractTextDocumentLayout* layout = document()->documentLayout();
  const int hit = layout->hitTest(p, Qt::FuzzyHit);
  if (hit < 0) return -1;
  const QTextBlock block = document()->findBlock(hit);
  const QTextLayout* tl = block.layout();
  if (!tl) return -1;
  const QPointF origin = layout->blockBoundingRect(block).topLeft() - tl->boundingRect().topLeft();
  const QPointF local = p - origin;
  for (int i = 0; i < tl->lineCount(); ++i) {
    const QTextLine line = tl->lineAt(i);
    const QRectF r = line.rect();
    if (local.y() < r.top() || local.y() >= r.bottom()) continue;
    if (local.x() < line.x() || local.x() >= line.x() + line.naturalTextWidth()) return -1;
    const int c = line.xToCursor(local.x(), QTextLine::CursorOnCharacter);
    if (c < line.textStart() || c >= line.textStart() + line.textLength()) return -1;
    return block.position() + c;
  }
  return -1;
}

int ChatTextView::sourceOffsetAt(QPoint pos) const {
  const QPointF p = QPointF(viewport()->mapFrom(this, pos)) +
                    QPointF(horizontalScrollBar()->value(), verticalScrollBar()->value());
  const int docPos = documentPositionAt(p);
  return docPos < 0 ? -1 : MarkdownRenderer::sourceAt(state_.runs, docPos);
}

QRect ChatTextView::sourceCharRect(int srcPos) const {
  const int docPos = MarkdownRenderer::documentAt(state_.runs, srcPos);
  if (docPos < 0) return {};
  QAbstractTextDocumentLayout* layout = document()->documentLayout();
  const QTextBlock block = document()->findBlock(docPos);
  const QTextLayout* tl = block.layout();
  if (!tl) return {};
  const int rel = docPos - block.position();
  const QTextLine line = tl->lineForTextPosition(rel);
  if (!line.isValid()) return {};
  const qreal x1 = line.cursorToX(rel), x2 = line.cursorToX(rel + 1);
  const QPointF origin = layout->blockBoundingRect(block).topLeft() - tl->boundingRect().topLeft();
  const QRectF r(QPointF(std::min(x1, x2), line.y()) + origin, QSizeF(std::abs(x2 - x1), line.height()));
  const QPoint scroll(horizontalScrollBar()->value(), verticalScrollBar()->value());
  if (r.width() <= 0) return {};
  const QRect aligned = r.toAlignedRect();
  return {viewport()->mapTo(this, aligned.topLeft() - scroll), aligned.size()};
}

bool ChatTextView::viewportEvent(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    const int offset = sourceOffsetAt(viewport()->mapTo(this, help->pos()));
    if (offset >= 0) {
      emit toolTipRequested(offset, help->globalPos());
    } else {
      QToolTip::hideText();
    }
    return true;
  }
  return QTextBrowser::viewportEvent(event);
}

// The message never scrolls: let the conversation around it take the wheel.
void ChatTextView::wheelEvent(QWheelEvent* event) {
  event->ignore();
}

}  // namespace moe::widgets
