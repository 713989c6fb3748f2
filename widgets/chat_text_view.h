// A read-only, selectable text area for one chat message part: shows rendered Markdown, is exactly as tall as
// its text (the conversation scrolls, never the message), and maps a point back to the source character under
// it so that hovering a token can show its probabilities.
#pragma once

#include <QTextBrowser>
#include <QVector>

#include "widgets/markdown_render_state.h"
#include "widgets/markdown_renderer.h"

namespace moe::widgets {

class ChatTextView : public QTextBrowser {
  Q_OBJECT

 public:
  explicit ChatTextView(QWidget* parent = nullptr);

  // Shows `source` rendered; source positions are reported offset by sourceBase. When source extends what was
  // shown last, only its last top-level block is rendered again (streaming).
  void showMarkdown(const MarkdownRenderer& renderer, QStringView source, int sourceBase = 0);
  // Forgets what was shown, so that the next showMarkdown renders everything (after a style change).
  void resetRenderState() { state_.reset(); }
  const MarkdownRenderState& renderState() const { return state_; }
  // Size hint as wide as the longest line rather than as wide as possible (a bubble that hugs short text).
  void setHugContents(bool hug);

  // The source position of the character under pos (this widget's coordinates), or -1 (markup, blank space).
  int sourceOffsetAt(QPoint pos) const;
  // The rectangle of the character showing source position srcPos, in this widget's coordinates; empty if
  // none.
  QRect sourceCharRect(int srcPos) const;

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 signals:
  // The mouse rested over a character with a source position (Qt's tool-tip event).
  void toolTipRequested(int sourceOffset, QPoint globalPos);

 protected:
  bool viewportEvent(QEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;

 private:
  int documentPositionAt(QPointF docPoint) const;
  void fitHeight();

  MarkdownRenderState state_;
  bool hug_ = false;
  qreal naturalWidth_ = 0;
};

}  // namespace moe::widgets
