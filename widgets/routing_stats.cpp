#include "widgets/routing_stats.h"

namespace moe::widgets {

RoutingStats::RoutingStats(const RoutingData& data, const RoutingScope& scope) : data_(data), scope_(scope) {}

void RoutingStats::setScope(const RoutingScope& scope) {
  if (scope == scope_) return;
  scope_ = scope;
  generation_ = ~quint64(0);  // forces a restart at the next query
}

void RoutingStats::restart() {
  generation_ = data_.generation();
  resolvedAnswer_ = scope_.resolvedAnswer(data_);
  upto_ = 0;
  tokens_ = 0;
  counts_.assign(size_t(data_.nLayers()) * size_t(data_.nExperts()), 0);
  ++epoch_;
}

void RoutingStats::sync() {
  // A new answer under "this answer" (or appended answers out of order) means another set of records:
  // recount.
  if (generation_ != data_.generation() || scope_.resolvedAnswer(data_) != resolvedAnswer_) restart();
  const int n = data_.size();
  for (int i = upto_; i < n; ++i)
    if (scope_.contains(data_, i, resolvedAnswer_)) add(i);
  upto_ = n;
}

void RoutingStats::add(int index) {
  ++tokens_;
  const int L = data_.nLayers(), K = data_.topK(), E = data_.nExperts();
  const auto experts = data_.experts(index);
  for (int l = 0; l < L; ++l)
    for (int s = 0; s < K; ++s)
      if (int e = experts[size_t(l * K + s)]; e >= 0) ++counts_[size_t(l) * size_t(E) + size_t(e)];
}

const std::vector<int64_t>& RoutingStats::counts() {
  sync();
  return counts_;
}

int64_t RoutingStats::count(int layer, int expert) {
  return counts()[size_t(layer) * size_t(data_.nExperts()) + size_t(expert)];
}

int RoutingStats::tokens() {
  sync();
  return tokens_;
}

BalanceMetrics RoutingStats::balance(int layer) {
  const auto& c = counts();
  const size_t E = size_t(data_.nExperts());
  return BalanceMetrics::of(std::span<const int64_t>(c.data() + size_t(layer) * E, E));
}

std::vector<BalanceMetrics> RoutingStats::balance() {
  std::vector<BalanceMetrics> out;
  for (int l = 0; l < data_.nLayers(); ++l)
    out.push_back(balance(l));
  return out;
}

void RoutingStats::addCoactivation(int index) {
  const int K = data_.topK();
  const size_t E = size_t(data_.nExperts());
  const auto experts = data_.experts(index).subspan(size_t(coLayer_ * K), size_t(K));
  for (int a = 0; a < K; ++a) {
    if (experts[size_t(a)] < 0) continue;
    for (int b = 0; b < K; ++b)
      if (experts[size_t(b)] >= 0) ++co_[size_t(experts[size_t(a)]) * E + size_t(experts[size_t(b)])];
  }
}

const std::vector<int64_t>& RoutingStats::coactivation(int layer) {
  sync();
  const size_t E = size_t(data_.nExperts());
  if (layer < 0 || layer >= data_.nLayers()) {
    co_.assign(E * E, 0);
    coLayer_ = -1;
    return co_;
  }
  if (layer != coLayer_ || coEpoch_ != epoch_) {
    coLayer_ = layer;
    coEpoch_ = epoch_;
    coUpto_ = 0;
    co_.assign(E * E, 0);
  }
  // Same membership as the counts: restart() resolved the answer, and sync() has just run.
  for (int i = coUpto_; i < upto_; ++i)
    if (scope_.contains(data_, i, resolvedAnswer_)) addCoactivation(i);
  coUpto_ = upto_;
  return co_;
}

}  // namespace moe::widgets
