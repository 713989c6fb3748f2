#include "widgets/expert_heatmap.h"

#include <QHelpEvent>
#include <QToolTip>
#include <algorithm>

#include "widgets/expert_palette.h"
#include "widgets/matrix_csv.h"
#include "widgets/routing_plot_style.h"

namespace moe::widgets {

ExpertHeatmap::ExpertHeatmap(RoutingData* data, QWidget* parent)
    : QCustomPlot(parent), data_(data), stats_(*data), throttle_(this, [this] { refresh(); }) {
  setMinimumSize(320, 240);
  // The map is a read-out, not an explorer: no drag or zoom that could leave the user lost off the cells.
  setInteractions(QCP::Interactions());
  setNoAntialiasingOnDrag(true);

  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setInterpolate(false);  // one crisp cell per (layer, expert)
  map_->setTightBoundary(false);
  scale_ = new QCPColorScale(this);
  plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  scale_->setGradient(expert_palette::viridis());
  scale_->setLabel(tr("tokens routed to the expert"));
  scale_->setBarWidth(14);
  map_->setColorScale(scale_);
  scale_->axis()->setTicker(routing_plot::integerTicker());  // counts: no "2.5 tokens" ticks
  // The colour scale's bar spans exactly the map's height.
  auto* margins = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);

  xAxis->setLabel(tr("expert"));
  yAxis->setLabel(tr("layer"));
  yAxis->setRangeReversed(true);  // layer 0 on top, read like a table
  xAxis->setTicker(routing_plot::integerTicker());
  yAxis->setTicker(
      routing_plot::integerTicker([this](int l) { return routing_plot::layerLabel(*data_, l); }));
  xAxis->grid()->setVisible(false);
  yAxis->grid()->setVisible(false);
  title_ = routing_plot::addTitle(this, tr("Routed tokens per expert"));
  routing_plot::applyFonts(this);

  connect(this, &QCustomPlot::afterReplot, this, [this] { ++replots_; });
  connect(data_, &RoutingData::appended, this, [this] { throttle_.request(); });
  connect(data_, &RoutingData::wasReset, this, [this] {
    rebuild();
    throttle_.request();
  });
  rebuild();
  refresh();
}

void ExpertHeatmap::setScope(const RoutingScope& scope) {
  stats_.setScope(scope);
  throttle_.request();
}

void ExpertHeatmap::rebuild() {
  const int L = data_->nLayers(), E = data_->nExperts();
  map_->data()->setSize(std::max(E, 1), std::max(L, 1));
  map_->data()->setRange(routing_plot::cellRange(E), routing_plot::cellRange(L));
  map_->data()->fill(0);
  xAxis->setRange(-0.5, std::max(E, 1) - 0.5);
  yAxis->setRange(-0.5, std::max(L, 1) - 0.5);
}

void ExpertHeatmap::refresh() {
  const int L = data_->nLayers(), E = data_->nExperts();
  const auto& counts = stats_.counts();
  int64_t max_count = 0;
  for (int l = 0; l < L; ++l)
    for (int e = 0; e < E; ++e) {
      const int64_t c = counts[size_t(l) * size_t(E) + size_t(e)];
      map_->data()->setCell(e, l, double(c));
      max_count = std::max(max_count, c);
    }
  // Zero is always the bottom of the scale so that "never routed" has one colour whatever the scope.
  scale_->setDataRange(QCPRange(0, double(std::max<int64_t>(max_count, 1))));
  // Two lines: exports at small sizes, and the narrower plots beside this one, do not hold one.
  title_->setText(tr("Routed tokens per expert\n%1")
                      .arg(routing_plot::scopeText(stats_.scope(), *data_, stats_.tokens())));
  replot();
}

void ExpertHeatmap::refreshNow() {
  throttle_.flush();
  refresh();
}

void ExpertHeatmap::showEvent(QShowEvent* e) {
  QCustomPlot::showEvent(e);
  throttle_.flush();
}

QString ExpertHeatmap::toolTipAt(const QPoint& pos) {
  const int L = data_->nLayers(), E = data_->nExperts();
  if (L == 0 || E == 0 || !axisRect()->rect().contains(pos)) return {};
  const int e = int(std::lround(xAxis->pixelToCoord(pos.x())));
  const int l = int(std::lround(yAxis->pixelToCoord(pos.y())));
  if (e < 0 || e >= E || l < 0 || l >= L) return {};
  const int64_t c = stats_.count(l, e);
  const int64_t layer_total = stats_.balance(l).total;
  const double share = layer_total > 0 ? 100.0 * double(c) / double(layer_total) : 0.0;
  return tr("layer %1 \u00b7 expert %2\n%3 tokens \u00b7 %4% of the layer's routing")
      .arg(routing_plot::layerLabel(*data_, l))
      .arg(e)
      .arg(QLocale().toString(qlonglong(c)))
      .arg(share, 0, 'f', 1);
}

bool ExpertHeatmap::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    const QString text = toolTipAt(help->pos());
    if (text.isEmpty())
      QToolTip::hideText();
    else
      QToolTip::showText(help->globalPos(), text, this);
    return true;
  }
  return QCustomPlot::event(e);
}

bool ExpertHeatmap::exportPng(const QString& path, int width, int height) {
  refreshNow();
  return savePng(path, width, height);
}

bool ExpertHeatmap::exportCsv(const QString& path) {
  QStringList columns, rows;
  for (int e = 0; e < data_->nExperts(); ++e)
    columns << QStringLiteral("expert_%1").arg(e);
  for (int l = 0; l < data_->nLayers(); ++l)
    rows << routing_plot::layerLabel(*data_, l);
  return writeMatrixCsv(path, QStringLiteral("layer"), columns, rows, stats_.counts());
}

}  // namespace moe::widgets
