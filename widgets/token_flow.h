// The canvas of TokenStrip: the session's token pieces laid out like text, wrapped at the widget's width,
// each piece a chip filled with the colour of its top-1 expert at the chosen layer. Each answer starts on a
// new line; prompt tokens have a dashed outline; tokens outside the current scope are faded; the selected
// token is outlined. Layout is incremental (appends only place the new chips), and painting visits only the
// rows in the exposed rectangle, so a long session stays cheap.
#pragma once

#include <QWidget>
#include <vector>

#include "widgets/routing_data.h"
#include "widgets/routing_scope.h"

namespace moe::widgets {

class TokenFlow : public QWidget {
  Q_OBJECT
 public:
  explicit TokenFlow(const RoutingData* data, QWidget* parent = nullptr);

  void setLayer(int layer);
  int layer() const { return layer_; }
  void setScope(const RoutingScope& scope);
  void setSelected(int index);
  int selected() const { return selected_; }

  // Lays out records appended since the last call; returns the height the content needs now.
  int sync();
  // Forgets everything laid out (the data was reset).
  void clearLayout();
  int contentHeight() const { return contentHeight_; }
  // The top-1 expert of record `index` at the current layer, as coloured (-1: none); index < laidOut().
  int topExpert(int index) const { return top1_[size_t(index)]; }
  int laidOut() const { return int(rects_.size()); }

  // A token's chip in this widget's coordinates (empty when not laid out), and the token under a point (-1).
  QRect tokenRect(int index) const;
  int tokenAt(const QPoint& pos) const;

 signals:
  void tokenClicked(int index);
  void heightChanged(int height);

 protected:
  void paintEvent(QPaintEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void leaveEvent(QEvent* e) override;
  void changeEvent(QEvent* e) override;
  bool event(QEvent* e) override;

 private:
  void place(int index);  // appends the chip of record `index` to the layout
  void relayout();        // width changed: place every chip again (widths are cached)
  QString display(const QString& piece) const;
  QString toolTipFor(int index) const;

  const RoutingData* data_;
  int layer_ = 0;
  RoutingScope scope_;
  int selected_ = -1;
  int hovered_ = -1;
  int pressed_ = -1;

  std::vector<QString> text_;  // the piece as drawn (whitespace made visible), per record
  std::vector<int> widths_;    // its chip width, cached: relayout on resize needs no font metrics
  std::vector<int> top1_;
  std::vector<QRect> rects_;
  std::vector<int> answerBreaks_;  // y of the separator above each answer after the first
  int x_ = 0, y_ = 0;              // where the next chip goes
  int contentHeight_ = 0;
  int layoutWidth_ = -1;
};

}  // namespace moe::widgets
