// Aggregates of a RoutingData over one RoutingScope: the layers x experts counts matrix (routed (token, slot)
// assignments), per-layer balance metrics (see balance_metrics.h: CV and MaxVio use the population standard
// deviation, entropy is normalised by ln E) and the co-activation matrix of one layer.
//
// Incremental: the stats remember how many records they have looked at and, when asked, fold in only the ones
// appended since (O(nLayers * topK) each; O(topK^2) more for the co-activation layer). They start over only
// when the scope changes, the data is reset, or a new answer begins under "this answer" (kLatestAnswer).
// Queries are therefore non-const; several RoutingStats may watch one RoutingData with different scopes.
#pragma once

#include <vector>

#include "widgets/balance_metrics.h"
#include "widgets/routing_data.h"
#include "widgets/routing_scope.h"

namespace moe::widgets {

class RoutingStats {
 public:
  explicit RoutingStats(const RoutingData& data, const RoutingScope& scope = {});

  const RoutingData& data() const { return data_; }
  const RoutingScope& scope() const { return scope_; }
  void setScope(const RoutingScope& scope);  // cheap; the recount happens at the next query

  // Counts [layer * nExperts + expert]: how many (token, slot) pairs of the scope routed there.
  const std::vector<int64_t>& counts();
  int64_t count(int layer, int expert);
  // Records (tokens) in the scope.
  int tokens();
  // Load metrics of one layer, or of every layer.
  BalanceMetrics balance(int layer);
  std::vector<BalanceMetrics> balance();
  // Co-activation of `layer`: C[i * E + j] = number of tokens of the scope that chose both experts i and j at
  // that layer (symmetric); the diagonal C[i * E + i] counts the tokens that chose i (its load as tokens).
  // One layer is kept up to date incrementally; asking for another layer recounts it.
  const std::vector<int64_t>& coactivation(int layer);

 private:
  void sync();
  void restart();
  void add(int index);
  void addCoactivation(int index);

  const RoutingData& data_;
  RoutingScope scope_;
  quint64 generation_ = ~quint64(0);  // data generation the counts belong to (none yet)
  int resolvedAnswer_ = -2;           // the answer id "this answer" meant when counting started
  int upto_ = 0;                      // records [0, upto_) have been looked at
  int tokens_ = 0;
  std::vector<int64_t> counts_;
  quint64 epoch_ = 0;  // bumped on every restart, so the co-activation cache knows it is stale

  int coLayer_ = -1;
  quint64 coEpoch_ = ~quint64(0);
  int coUpto_ = 0;
  std::vector<int64_t> co_;
};

}  // namespace moe::widgets
