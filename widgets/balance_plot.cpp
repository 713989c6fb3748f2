#include "widgets/balance_plot.h"

#include <algorithm>
#include <cmath>

#include "widgets/routing_plot_style.h"

namespace moe::widgets {

namespace {
QCPGraph* addMetric(QCustomPlot* plot, QCPAxis* y, const QString& name, const QColor& color,
                    Qt::PenStyle style) {
  QCPGraph* g = plot->addGraph(plot->xAxis, y);
  g->setName(name);
  g->setPen(QPen(color, 2, style));
  g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, color, 5));
  return g;
}
}  // namespace

BalancePlot::BalancePlot(RoutingData* data, QWidget* parent)
    : QCustomPlot(parent), data_(data), stats_(*data), throttle_(this, [this] { refresh(); }) {
  setMinimumSize(320, 200);
  setInteractions(QCP::Interactions());
  xAxis->setLabel(tr("layer"));
  xAxis->setTicker(
      routing_plot::integerTicker([this](int l) { return routing_plot::layerLabel(*data_, l); }));
  yAxis->setLabel(tr("CV, MaxVio"));
  yAxis2->setVisible(true);
  yAxis2->setLabel(tr("normalised entropy"));
  yAxis2->setRange(0, 1.05);
  yAxis2->ticker()->setTickCount(5);
  cv_ = addMetric(this, yAxis, tr("CV"), QColor(0x4e79a7), Qt::SolidLine);
  maxVio_ = addMetric(this, yAxis, tr("MaxVio"), QColor(0xf28e2b), Qt::SolidLine);
  entropy_ = addMetric(this, yAxis2, tr("normalised entropy (right)"), QColor(0x59a14f), Qt::DashLine);

  setToolTip(
      tr("Per layer, over the expert loads of the scope:\nCV = std / mean (population std)\n"
         "MaxVio = (max \u2212 mean) / mean\nnormalised entropy = H / ln E\n"
         "Perfect balance: CV 0, MaxVio 0, entropy 1."));
  title_ = routing_plot::addTitle(this, tr("Load balance per layer"));
  // The legend goes below the plot, in one wrapped row, so it never covers a curve.
  legend->setVisible(true);
  axisRect()->insetLayout()->take(legend);
  plotLayout()->addElement(2, 0, legend);
  plotLayout()->setRowStretchFactor(2, 0.001);
  // Two entries a row: three do not fit the half-width the panel gives this plot. The wrap is set first:
  // setFillOrder() rearranges the entries already there (by the wrap then in force), setWrap() does not.
  legend->setWrap(2);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setBorderPen(Qt::NoPen);
  legend->setMargins(QMargins(4, 0, 4, 2));
  routing_plot::applyFonts(this);

  connect(this, &QCustomPlot::afterReplot, this, [this] { ++replots_; });
  connect(data_, &RoutingData::appended, this, [this] { throttle_.request(); });
  connect(data_, &RoutingData::wasReset, this, [this] { throttle_.request(); });
  refresh();
}

void BalancePlot::setScope(const RoutingScope& scope) {
  stats_.setScope(scope);
  throttle_.request();
}

void BalancePlot::refresh() {
  const int L = data_->nLayers();
  QVector<double> x, cv, vio, ent;
  double top = 0;
  for (int l = 0; l < L; ++l) {
    const BalanceMetrics m = stats_.balance(l);
    x << l;
    cv << m.cv;
    vio << m.maxVio;
    ent << m.normEntropy;
    if (!std::isnan(m.maxVio)) top = std::max({top, m.cv, m.maxVio});
  }
  cv_->setData(x, cv, true);
  maxVio_->setData(x, vio, true);
  entropy_->setData(x, ent, true);
  xAxis->setRange(-0.5, std::max(L, 1) - 0.5);
  yAxis->setRange(0, std::max(top * 1.1, 0.1));
  title_->setText(
      tr("Load balance per layer\n%1").arg(routing_plot::scopeText(stats_.scope(), *data_, stats_.tokens())));
  replot();
}

void BalancePlot::refreshNow() {
  throttle_.flush();
  refresh();
}

void BalancePlot::showEvent(QShowEvent* e) {
  QCustomPlot::showEvent(e);
  throttle_.flush();
}

}  // namespace moe::widgets
