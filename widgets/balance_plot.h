// Per-layer load balance over the current scope: CV and MaxVio (left axis) and normalised entropy (right
// axis, 0..1) against the MoE layer. Definitions in balance_metrics.h (population std; a perfectly balanced
// layer has CV 0, MaxVio 0, entropy 1). Layers with no load in the scope are gaps. Throttled like
// ExpertHeatmap.
#pragma once

#include <qcustomplot.h>

#include "widgets/repaint_throttle.h"
#include "widgets/routing_stats.h"

namespace moe::widgets {

class BalancePlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit BalancePlot(RoutingData* data, QWidget* parent = nullptr);

  void setScope(const RoutingScope& scope);
  const RoutingScope& scope() const { return stats_.scope(); }
  RoutingStats& stats() { return stats_; }

  QCPGraph* cvGraph() const { return cv_; }
  QCPGraph* maxVioGraph() const { return maxVio_; }
  QCPGraph* entropyGraph() const { return entropy_; }
  int replotCount() const { return replots_; }
  void refreshNow();

 protected:
  void showEvent(QShowEvent* e) override;

 private:
  void refresh();

  RoutingData* data_;
  RoutingStats stats_;
  RepaintThrottle throttle_;
  QCPGraph* cv_;
  QCPGraph* maxVio_;
  QCPGraph* entropy_;
  QCPTextElement* title_;
  int replots_ = 0;
};

}  // namespace moe::widgets
