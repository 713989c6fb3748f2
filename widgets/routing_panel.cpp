#include "widgets/routing_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>

#include "widgets/balance_plot.h"
#include "widgets/coactivation_view.h"
#include "widgets/expert_heatmap.h"
#include "widgets/token_routing_table.h"
#include "widgets/token_strip.h"

namespace moe::widgets {

namespace {
QLabel* caption(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  label->setTextFormat(Qt::PlainText);
  return label;
}
}  // namespace

RoutingPanel::RoutingPanel(RoutingData* data, QWidget* parent)
    : QWidget(parent),
      data_(data ? data : new RoutingData(this)),
      scopeBox_(new QComboBox(this)),
      filterBox_(new QComboBox(this)),
      layerBox_(new QComboBox(this)),
      status_(new QLabel(this)),
      heatmap_(new ExpertHeatmap(data_)),
      balance_(new BalancePlot(data_)),
      strip_(new TokenStrip(data_)),
      table_(new TokenRoutingTable(data_)),
      coactivation_(new CoactivationView(data_)),
      statusThrottle_(this, [this] { updateStatus(); }) {
  // Combo items carry their enum value, so the order shown can change without touching the logic.
  scopeBox_->addItem(tr("This answer"), int(ScopeKind::Answer));
  scopeBox_->addItem(tr("Session"), int(ScopeKind::Session));
  scopeBox_->addItem(tr("Selected token"), int(ScopeKind::Token));
  filterBox_->addItem(tr("All tokens"), int(TokenFilter::All));
  filterBox_->addItem(tr("Prompt tokens"), int(TokenFilter::Prompt));
  filterBox_->addItem(tr("Generated tokens"), int(TokenFilter::Generated));
  scopeBox_->setToolTip(tr("Which tokens the heatmap, balance and co-activation views count"));
  filterBox_->setToolTip(tr("Count prompt (prefill) tokens, generated tokens, or both"));
  layerBox_->setToolTip(tr("The layer the token strip colours by and the co-activation map shows"));
  layerBox_->setSizeAdjustPolicy(QComboBox::AdjustToContents);

  auto* controls = new QHBoxLayout;
  controls->addWidget(caption(tr("Scope"), this));
  controls->addWidget(scopeBox_);
  controls->addSpacing(12);
  controls->addWidget(caption(tr("Tokens"), this));
  controls->addWidget(filterBox_);
  controls->addSpacing(12);
  controls->addWidget(caption(tr("Layer"), this));
  controls->addWidget(layerBox_);
  controls->addStretch(1);
  controls->addWidget(status_);

  // Left: the heatmap over the full width, balance and co-activation (which wants a squarish area) below it.
  // Right: the token strip and the selected token's table, which gets the width for top-8 columns.
  auto* below = new QSplitter(Qt::Horizontal);
  below->addWidget(balance_);
  below->addWidget(coactivation_);
  below->setSizes({380, 380});
  auto* left = new QSplitter(Qt::Vertical);
  left->addWidget(heatmap_);
  left->addWidget(below);
  left->setSizes({400, 360});
  auto* right = new QSplitter(Qt::Vertical);
  right->addWidget(strip_);
  right->addWidget(table_);
  right->setSizes({330, 430});
  views_ = new QSplitter(Qt::Horizontal);
  views_->addWidget(left);
  views_->addWidget(right);
  views_->setSizes({760, 520});
  // setSizes() before the first show gives proportions: the splitters scale them to the space they get, where
  // stretch factors would only share out what is left over the plots' large size hints.
  for (QSplitter* s : {below, left, right, views_})
    s->setChildrenCollapsible(false);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  layout->addLayout(controls);
  layout->addWidget(views_, 1);

  connect(scopeBox_, &QComboBox::currentIndexChanged, this,
          [this] { setScopeKind(ScopeKind(scopeBox_->currentData().toInt())); });
  connect(filterBox_, &QComboBox::currentIndexChanged, this,
          [this] { setTokenFilter(TokenFilter(filterBox_->currentData().toInt())); });
  connect(layerBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
    if (i >= 0) setLayer(i);
  });
  connect(strip_, &TokenStrip::tokenClicked, this, &RoutingPanel::selectToken);
  connect(data_, &RoutingData::appended, this, [this] { statusThrottle_.request(); });
  connect(data_, &RoutingData::wasReset, this, [this] {
    selected_ = -1;
    rebuildLayers();
    applyScope();
    updateStatus();
  });
  rebuildLayers();
  applyScope();
  updateStatus();
}

// Children are deleted in creation order, and an owned RoutingData was created first: the views (which keep
// references to it in their RoutingStats) go before it.
RoutingPanel::~RoutingPanel() {
  delete views_;
}

RoutingScope RoutingPanel::scope() const {
  switch (kind_) {
    case ScopeKind::Answer:
      return RoutingScope::thisAnswer(RoutingScope::kLatestAnswer, filter_);
    case ScopeKind::Session:
      return RoutingScope::session(filter_);
    case ScopeKind::Token:
      return RoutingScope::selectedToken(selected_);
  }
  return {};
}

void RoutingPanel::applyScope() {
  const RoutingScope s = scope();
  heatmap_->setScope(s);
  balance_->setScope(s);
  coactivation_->setScope(s);
  strip_->setScope(s);
  filterBox_->setEnabled(kind_ != ScopeKind::Token);  // one token is shown whatever kind it is
  emit scopeChanged(s);
}

void RoutingPanel::setScopeKind(ScopeKind kind) {
  kind_ = kind;
  if (const int i = scopeBox_->findData(int(kind)); i != scopeBox_->currentIndex())
    scopeBox_->setCurrentIndex(i);
  applyScope();
}

void RoutingPanel::setTokenFilter(TokenFilter filter) {
  filter_ = filter;
  if (const int i = filterBox_->findData(int(filter)); i != filterBox_->currentIndex())
    filterBox_->setCurrentIndex(i);
  applyScope();
}

void RoutingPanel::setLayer(int layer) {
  layer_ = layer;
  if (layer != layerBox_->currentIndex() && layer < layerBox_->count()) layerBox_->setCurrentIndex(layer);
  strip_->setLayer(layer);
  coactivation_->setLayer(layer);
}

void RoutingPanel::selectToken(int index) {
  selected_ = index;
  strip_->setSelected(index);
  table_->setToken(index);
  if (kind_ == ScopeKind::Token) applyScope();
  emit tokenSelected(index);
}

void RoutingPanel::rebuildLayers() {
  const QSignalBlocker block(layerBox_);
  layerBox_->clear();
  for (int l = 0; l < data_->nLayers(); ++l)
    layerBox_->addItem(tr("layer %1").arg(data_->layerId(l)));
  layer_ = std::clamp(layer_, 0, std::max(data_->nLayers() - 1, 0));
  layerBox_->setCurrentIndex(data_->nLayers() > 0 ? layer_ : -1);
  strip_->setLayer(layer_);
  coactivation_->setLayer(layer_);
}

void RoutingPanel::updateStatus() {
  status_->setText(tr("%1 layers \u00b7 %2 experts \u00b7 top-%3 \u00b7 %4 tokens in the session")
                       .arg(data_->nLayers())
                       .arg(data_->nExperts())
                       .arg(data_->topK())
                       .arg(QLocale().toString(data_->size())));
}

void RoutingPanel::refreshNow() {
  heatmap_->refreshNow();
  balance_->refreshNow();
  strip_->refreshNow();
  coactivation_->refreshNow();
  updateStatus();
}

bool RoutingPanel::exportHeatmapPng(const QString& path, int width, int height) {
  return heatmap_->exportPng(path, width, height);
}
bool RoutingPanel::exportHeatmapCsv(const QString& path) {
  return heatmap_->exportCsv(path);
}
bool RoutingPanel::exportCoactivationPng(const QString& path, int width, int height) {
  return coactivation_->exportPng(path, width, height);
}
bool RoutingPanel::exportCoactivationCsv(const QString& path) {
  return coactivation_->exportCsv(path);
}

}  // namespace moe::widgets
