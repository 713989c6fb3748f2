// Load-balance metrics of one MoE layer over a scope, from its per-expert loads (routed (token, slot)
// counts). Definitions (DESIGN.md §7), with E experts, load_i the count of expert i, mean = sum(load) / E:
//   CV      = std / mean, where std is the POPULATION standard deviation: sqrt(sum((load_i - mean)^2) / E)
//   MaxVio  = (max load - mean) / mean
//   entropy = H / ln E, H = -sum(p_i ln p_i) over the load distribution p_i = load_i / sum(load) (0 ln 0 = 0)
// A perfectly balanced layer has CV 0, MaxVio 0 and normalised entropy 1. A layer with no load in the scope
// has no defined metrics: all three are NaN (plots leave a gap). With one expert the layer is trivially
// balanced.
#pragma once

#include <cstdint>
#include <span>

namespace moe::widgets {

struct BalanceMetrics {
  double cv = 0;
  double maxVio = 0;
  double normEntropy = 1;
  int64_t total = 0;  // sum of the loads

  static BalanceMetrics of(std::span<const int64_t> loads);
};

}  // namespace moe::widgets
