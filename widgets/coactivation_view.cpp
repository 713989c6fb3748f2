#include "widgets/coactivation_view.h"

#include <QHelpEvent>
#include <QToolTip>
#include <algorithm>

#include "widgets/expert_palette.h"
#include "widgets/matrix_csv.h"
#include "widgets/routing_plot_style.h"

namespace moe::widgets {

CoactivationView::CoactivationView(RoutingData* data, QWidget* parent)
    : QCustomPlot(parent), data_(data), stats_(*data), throttle_(this, [this] { refresh(); }) {
  setMinimumSize(260, 220);
  setInteractions(QCP::Interactions());
  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setInterpolate(false);
  map_->setTightBoundary(false);
  scale_ = new QCPColorScale(this);
  plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  scale_->setGradient(expert_palette::viridis());
  scale_->setLabel(tr("tokens routed to both"));
  scale_->setBarWidth(12);
  map_->setColorScale(scale_);
  scale_->axis()->setTicker(routing_plot::integerTicker());  // counts: no "2.5 tokens" ticks
  auto* margins = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  xAxis->setLabel(tr("expert"));
  yAxis->setLabel(tr("expert"));
  yAxis->setRangeReversed(true);  // matrix orientation: the diagonal runs from top left to bottom right
  xAxis->setTicker(routing_plot::integerTicker());
  yAxis->setTicker(routing_plot::integerTicker());
  xAxis->grid()->setVisible(false);
  yAxis->grid()->setVisible(false);
  title_ = routing_plot::addTitle(this, tr("Co-activation"));
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

void CoactivationView::setScope(const RoutingScope& scope) {
  stats_.setScope(scope);
  throttle_.request();
}

void CoactivationView::setLayer(int layer) {
  layer_ = layer;
  throttle_.request();
}

void CoactivationView::rebuild() {
  const int E = std::max(data_->nExperts(), 1);
  map_->data()->setSize(E, E);
  map_->data()->setRange(routing_plot::cellRange(E), routing_plot::cellRange(E));
  map_->data()->fill(0);
  xAxis->setRange(-0.5, E - 0.5);
  yAxis->setRange(-0.5, E - 0.5);
}

void CoactivationView::refresh() {
  const int E = data_->nExperts();
  const auto& co = stats_.coactivation(layer_);
  int64_t off_max = 0, diag_max = 0;
  for (int i = 0; i < E; ++i)
    for (int j = 0; j < E; ++j) {
      const int64_t c = co[size_t(i) * size_t(E) + size_t(j)];
      map_->data()->setCell(j, i, double(c));  // key = column j, value = row i
      (i == j ? diag_max : off_max) = std::max(i == j ? diag_max : off_max, c);
    }
  // Off-diagonal maximum sets the scale (see the header); with top-1 routing there is no off-diagonal at all.
  scale_->setDataRange(QCPRange(0, double(std::max<int64_t>(off_max > 0 ? off_max : diag_max, 1))));
  const QString layer =
      layer_ >= 0 && layer_ < data_->nLayers() ? QString::number(data_->layerId(layer_)) : "\u2014";
  title_->setText(tr("Co-activation, layer %1\n%2")
                      .arg(layer, routing_plot::scopeText(stats_.scope(), *data_, stats_.tokens())));
  replot();
}

void CoactivationView::refreshNow() {
  throttle_.flush();
  refresh();
}

void CoactivationView::showEvent(QShowEvent* e) {
  QCustomPlot::showEvent(e);
  throttle_.flush();
}

QString CoactivationView::toolTipAt(const QPoint& pos) {
  const int E = data_->nExperts();
  if (E == 0 || !axisRect()->rect().contains(pos)) return {};
  const int j = int(std::lround(xAxis->pixelToCoord(pos.x())));
  const int i = int(std::lround(yAxis->pixelToCoord(pos.y())));
  if (i < 0 || i >= E || j < 0 || j >= E) return {};
  const auto& co = stats_.coactivation(layer_);
  const int64_t c = co[size_t(i) * size_t(E) + size_t(j)];
  if (i == j) return tr("expert %1: chosen by %2 tokens").arg(i).arg(QLocale().toString(qlonglong(c)));
  const int64_t with_i = co[size_t(i) * size_t(E) + size_t(i)];
  const double share = with_i > 0 ? 100.0 * double(c) / double(with_i) : 0.0;
  return tr("experts %1 and %2: chosen together by %3 tokens\n(%4% of the tokens that chose %1)")
      .arg(i)
      .arg(j)
      .arg(QLocale().toString(qlonglong(c)))
      .arg(share, 0, 'f', 1);
}

bool CoactivationView::event(QEvent* e) {
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

bool CoactivationView::exportPng(const QString& path, int width, int height) {
  refreshNow();
  return savePng(path, width, height);
}

bool CoactivationView::exportCsv(const QString& path) {
  QStringList labels, rows;
  for (int e = 0; e < data_->nExperts(); ++e) {
    labels << QStringLiteral("expert_%1").arg(e);
    rows << QString::number(e);
  }
  return writeMatrixCsv(path, QStringLiteral("expert"), labels, rows, stats_.coactivation(layer_));
}

}  // namespace moe::widgets
