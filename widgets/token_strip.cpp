#include "widgets/token_strip.h"

#include <QEvent>
#include <QLabel>
#include <QScrollArea>
#include <QScrollBar>
#include <QVBoxLayout>
#include <algorithm>

#include "widgets/expert_palette.h"
#include "widgets/token_flow.h"

namespace moe::widgets {

namespace {
constexpr int kLegendEntries = 12;  // the rest are summarised as "+N more": a legend of 128 swatches is noise
}

TokenStrip::TokenStrip(RoutingData* data, QWidget* parent)
    : QWidget(parent),
      data_(data),
      legend_(new QLabel(this)),
      scroll_(new QScrollArea(this)),
      flow_(new TokenFlow(data, nullptr)),
      throttle_(this, [this] { refresh(); }) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  legend_->setTextFormat(Qt::RichText);
  legend_->setWordWrap(true);
  legend_->setTextInteractionFlags(Qt::NoTextInteraction);
  layout->addWidget(legend_);
  // The flow sizes itself: the strip gives it the viewport's width and takes the height its layout needs.
  scroll_->setWidgetResizable(false);
  scroll_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll_->setWidget(flow_);
  scroll_->viewport()->installEventFilter(this);
  layout->addWidget(scroll_, 1);
  setMinimumSize(240, 120);

  connect(flow_, &TokenFlow::tokenClicked, this, &TokenStrip::tokenClicked);
  connect(flow_, &TokenFlow::heightChanged, this, &TokenStrip::fitFlow);
  connect(data_, &RoutingData::appended, this, [this] { throttle_.request(); });
  connect(data_, &RoutingData::wasReset, this, [this] {
    flow_->clearLayout();
    throttle_.request();
  });
  updateLegend();
}

void TokenStrip::setLayer(int layer) {
  flow_->setLayer(layer);
  updateLegend();
}

int TokenStrip::layer() const {
  return flow_->layer();
}

void TokenStrip::setScope(const RoutingScope& scope) {
  scope_ = scope;
  flow_->setScope(scope);
  updateLegend();
}

void TokenStrip::setSelected(int index) {
  flow_->setSelected(index);
}
int TokenStrip::selected() const {
  return flow_->selected();
}
QWidget* TokenStrip::tokenArea() const {
  return flow_;
}
QRect TokenStrip::tokenRect(int index) const {
  return flow_->tokenRect(index);
}

void TokenStrip::refreshNow() {
  throttle_.flush();
  refresh();
}

void TokenStrip::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  throttle_.flush();
}

void TokenStrip::refresh() {
  ++refreshes_;
  QScrollBar* bar = scroll_->verticalScrollBar();
  // Follow the stream only while the user is at its end; someone reading back up is left where they are.
  const bool follow = bar->value() >= bar->maximum() - 2;
  fitFlow(flow_->sync());
  if (follow) bar->setValue(bar->maximum());
  updateLegend();
}

void TokenStrip::fitFlow(int contentHeight) {
  const QSize viewport = scroll_->viewport()->size();
  flow_->resize(viewport.width(), std::max(contentHeight, viewport.height()));
}

bool TokenStrip::eventFilter(QObject* watched, QEvent* e) {
  if (watched == scroll_->viewport() && e->type() == QEvent::Resize) fitFlow(flow_->contentHeight());
  return QWidget::eventFilter(watched, e);
}

std::vector<std::pair<int, int>> TokenStrip::legendEntries() const {
  std::vector<int> tally(size_t(std::max(data_->nExperts(), 0)), 0);
  const int resolved = scope_.resolvedAnswer(*data_);
  const bool all = scope_.kind == ScopeKind::Token;  // the strip shows every token then, so does the legend
  for (int i = 0; i < flow_->laidOut(); ++i)
    if (int e = flow_->topExpert(i); e >= 0 && (all || scope_.contains(*data_, i, resolved)))
      ++tally[size_t(e)];
  std::vector<std::pair<int, int>> out;
  for (size_t e = 0; e < tally.size(); ++e)
    if (tally[e] > 0) out.emplace_back(int(e), tally[e]);
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return out;
}

void TokenStrip::updateLegend() {
  const int layer = flow_->layer();
  if (layer < 0 || layer >= data_->nLayers()) {
    legend_->setText(tr("<b>Tokens</b> \u2014 no routing yet"));
    return;
  }
  const auto entries = legendEntries();
  int total = 0;
  for (auto& [e, n] : entries)
    total += n;
  QString html = tr("<b>Top-1 expert at layer %1</b>&nbsp;&nbsp;").arg(data_->layerId(layer));
  const int shown = std::min<int>(int(entries.size()), kLegendEntries);
  for (int k = 0; k < shown; ++k) {
    const auto [e, n] = entries[size_t(k)];
    const QColor bg = expert_palette::color(e, data_->nExperts());
    html += QStringLiteral(
                "<span style=\"background-color:%1; color:%2\">&nbsp;%3&nbsp;</span>&nbsp;%4%&nbsp;&nbsp; ")
                .arg(bg.name(), expert_palette::textOn(bg).name())
                .arg(e)
                .arg(100.0 * n / std::max(total, 1), 0, 'f', 0);
  }
  if (int(entries.size()) > shown) html += tr("+%1 more&nbsp;&nbsp; ").arg(int(entries.size()) - shown);
  html += tr("<span style=\"color:%1\">dashed&nbsp;outline:&nbsp;prompt&nbsp;token</span>")
              .arg(palette().color(QPalette::Disabled, QPalette::Text).name());
  // Rich-text layout is the dearest part of a refresh; most refreshes leave the rounded shares as they were.
  if (html != legend_->text()) legend_->setText(html);
}

}  // namespace moe::widgets
