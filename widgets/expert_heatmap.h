// The layers x experts heatmap of routed tokens over a scope (this answer, the session, one token; prompt,
// generated or all tokens): a QCPColorMap with one cell per (layer, expert), viridis colours with a labelled
// colour scale, layer 0 at the top, and a tooltip per cell with its count and its share of the layer's
// routing.
//
// Appends only mark the view dirty; a RepaintThrottle refreshes it at most ~15 times a second, so a stream of
// a thousand records a second costs the UI a few replots. replotCount() counts real replots for tests.
#pragma once

#include <qcustomplot.h>

#include "widgets/repaint_throttle.h"
#include "widgets/routing_stats.h"

namespace moe::widgets {

class ExpertHeatmap : public QCustomPlot {
  Q_OBJECT
 public:
  explicit ExpertHeatmap(RoutingData* data, QWidget* parent = nullptr);

  void setScope(const RoutingScope& scope);
  const RoutingScope& scope() const { return stats_.scope(); }
  RoutingStats& stats() { return stats_; }

  QCPColorMap* colorMap() const { return map_; }
  QCPColorScale* colorScale() const { return scale_; }
  int replotCount() const { return replots_; }

  // Folds in pending appends and replots now (tests, exports); normally the throttle does this.
  void refreshNow();
  // The tooltip text for a point in widget coordinates; empty off the map.
  QString toolTipAt(const QPoint& pos);
  // PNG of the plot (width/height 0: the widget's size) and the counts matrix as CSV:
  // "layer,expert_0,...,expert_{E-1}" then one row per MoE layer, labelled with the model's layer number.
  bool exportPng(const QString& path, int width = 0, int height = 0);
  bool exportCsv(const QString& path);

 protected:
  bool event(QEvent* e) override;
  void showEvent(QShowEvent* e) override;

 private:
  void rebuild();  // shape changed: axes, map size, ranges
  void refresh();  // counts -> cells, title, colour range, replot
  QString scopeText() const;

  RoutingData* data_;
  RoutingStats stats_;
  RepaintThrottle throttle_;
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPTextElement* title_ = nullptr;
  int replots_ = 0;
};

}  // namespace moe::widgets
