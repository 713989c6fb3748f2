// The studio's routing dock: the expert heatmap and the per-layer balance plot on the left, the token strip,
// the selected token's routing table and the co-activation map on the right, and the controls over them —
// scope (this answer / session / selected token), token filter (all / prompt / generated) and the layer the
// strip and the co-activation map show. Exports write the heatmap or the co-activation map as PNG or CSV to a
// path; the application wires menu actions and file dialogs to them.
//
// The panel owns a RoutingData unless given one; the studio appends records to data() as they arrive.
#pragma once

#include <QWidget>

#include "widgets/repaint_throttle.h"
#include "widgets/routing_data.h"
#include "widgets/routing_scope.h"

class QComboBox;
class QLabel;
class QSplitter;

namespace moe::widgets {

class BalancePlot;
class CoactivationView;
class ExpertHeatmap;
class TokenRoutingTable;
class TokenStrip;

class RoutingPanel : public QWidget {
  Q_OBJECT
 public:
  // A given `data` must outlive the panel; without one the panel makes and owns its own.
  explicit RoutingPanel(RoutingData* data = nullptr, QWidget* parent = nullptr);
  ~RoutingPanel() override;

  RoutingData* data() const { return data_; }
  ExpertHeatmap* heatmap() const { return heatmap_; }
  BalancePlot* balancePlot() const { return balance_; }
  TokenStrip* tokenStrip() const { return strip_; }
  TokenRoutingTable* tokenTable() const { return table_; }
  CoactivationView* coactivationView() const { return coactivation_; }
  QComboBox* scopeBox() const { return scopeBox_; }
  QComboBox* filterBox() const { return filterBox_; }
  QComboBox* layerBox() const { return layerBox_; }

  void setScopeKind(ScopeKind kind);
  void setTokenFilter(TokenFilter filter);
  void setLayer(int layer);  // the MoE layer (index) of the strip and the co-activation map
  void selectToken(int index);
  RoutingScope scope() const;
  int layer() const { return layer_; }
  int selectedToken() const { return selected_; }

  // Every view's pending appends folded in now (before a screenshot or an export).
  void refreshNow();
  bool exportHeatmapPng(const QString& path, int width = 0, int height = 0);
  bool exportHeatmapCsv(const QString& path);
  bool exportCoactivationPng(const QString& path, int width = 0, int height = 0);
  bool exportCoactivationCsv(const QString& path);

 signals:
  void tokenSelected(int index);
  void scopeChanged(const moe::widgets::RoutingScope& scope);

 private:
  void applyScope();
  void rebuildLayers();
  void updateStatus();

  RoutingData* data_;
  ScopeKind kind_ = ScopeKind::Answer;
  TokenFilter filter_ = TokenFilter::All;
  int layer_ = 0;
  int selected_ = -1;

  QComboBox* scopeBox_;
  QComboBox* filterBox_;
  QComboBox* layerBox_;
  QLabel* status_;
  ExpertHeatmap* heatmap_;
  BalancePlot* balance_;
  TokenStrip* strip_;
  TokenRoutingTable* table_;
  CoactivationView* coactivation_;
  QSplitter* views_;  // holds every view; deleted before an owned RoutingData, which the views watch
  RepaintThrottle statusThrottle_;
};

}  // namespace moe::widgets
