// Co-activation of one MoE layer over the current scope: an E x E colour map whose cell (i, j) counts the
// tokens that chose experts i and j together (the diagonal: tokens that chose i). The colour range is set by
// the largest off-diagonal count, so the pair structure stays visible next to the much larger diagonal, which
// saturates; the tooltip gives every cell's exact count. Throttled like ExpertHeatmap.
#pragma once

#include <qcustomplot.h>

#include "widgets/repaint_throttle.h"
#include "widgets/routing_stats.h"

namespace moe::widgets {

class CoactivationView : public QCustomPlot {
  Q_OBJECT
 public:
  explicit CoactivationView(RoutingData* data, QWidget* parent = nullptr);

  void setScope(const RoutingScope& scope);
  const RoutingScope& scope() const { return stats_.scope(); }
  void setLayer(int layer);
  int layer() const { return layer_; }
  RoutingStats& stats() { return stats_; }

  QCPColorMap* colorMap() const { return map_; }
  QCPColorScale* colorScale() const { return scale_; }
  int replotCount() const { return replots_; }
  void refreshNow();
  QString toolTipAt(const QPoint& pos);
  // PNG of the plot; CSV "expert,expert_0,...,expert_{E-1}" then one row per expert i.
  bool exportPng(const QString& path, int width = 0, int height = 0);
  bool exportCsv(const QString& path);

 protected:
  bool event(QEvent* e) override;
  void showEvent(QShowEvent* e) override;

 private:
  void rebuild();
  void refresh();

  RoutingData* data_;
  RoutingStats stats_;
  RepaintThrottle throttle_;
  int layer_ = 0;
  QCPColorMap* map_;
  QCPColorScale* scale_;
  QCPTextElement* title_;
  int replots_ = 0;
};

}  // namespace moe::widgets
