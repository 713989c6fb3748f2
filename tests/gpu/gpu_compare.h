// Comparison of a backend's logits and routing with the CPU oracle's, for moe-gpu-check: the largest logit
// difference relative to the largest reference logit, top-1 agreement per row, and identical top-k expert
// sets per (position, MoE layer). Counts are summed over models by Totals.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "moe/backend.h"

namespace moe::gpucheck {

struct Compare {
  double rel = 0;  // max |got - ref| / max |ref|
  int64_t rows = 0, top1 = 0;
  int64_t route_pairs = 0, route_same = 0;
  bool finite = true;  // every value of `got` written and finite (outputs are poisoned with NaN first)
};

// n token ids below vocab from a 64-bit LCG that starts at `state` (both checks draw their ids with it).
inline std::vector<int32_t> lcg_ids(int64_t n, int64_t vocab, uint64_t state) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    id = int32_t((state >> 33) % uint64_t(vocab));
  }
  return ids;
}

// moe-gpu-check's ids for `seed` (moe-prefill-check's ablation reuses its DeepSeek cases).
inline std::vector<int32_t> gpu_check_ids(int64_t n, int64_t vocab, uint64_t seed) {
  return lcg_ids(n, vocab, seed * 0x9E3779B97F4A7C15ull + 1);
}

inline int64_t argmax_row(const std::vector<float>& v, int64_t row, int64_t V) {
  const auto begin = v.begin() + row * V;
  return std::max_element(begin, begin + V) - begin;
}

// Whether the k experts from index `at` on are the same set in both routing records.
inline bool same_expert_set(const RoutingBatch& a, const RoutingBatch& b, size_t at, size_t k) {
  std::vector<int32_t> x(a.experts.begin() + at, a.experts.begin() + at + k);
  std::vector<int32_t> y(b.experts.begin() + at, b.experts.begin() + at + k);
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return x == y;
}

// Adds the (position, MoE layer) pairs and those with identical top-k sets; records of different sizes
// count as all different.
inline void count_routing(const RoutingBatch& ref, const RoutingBatch& got, int64_t& pairs, int64_t& same) {
  const size_t k = size_t(std::max<int64_t>(ref.top_k, 1));
  if (ref.experts.size() != got.experts.size()) {
    pairs += int64_t(ref.experts.size() / k);
    return;
  }
  for (size_t i = 0; i + k <= ref.experts.size(); i += k) {
    ++pairs;
    same += same_expert_set(ref, got, i, k);
  }
}

inline Compare compare(const std::vector<float>& ref, const std::vector<float>& got, int64_t V,
                       const RoutingBatch* rr = nullptr, const RoutingBatch* rg = nullptr) {
  Compare c;
  if (ref.size() != got.size() || ref.empty()) {
    c.finite = false;
    return c;
  }
  double err = 0, mx = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) c.finite = false;
    err = std::max(err, double(std::fabs(got[i] - ref[i])));
    mx = std::max(mx, double(std::fabs(ref[i])));
  }
  c.rel = mx > 0 ? err / mx : err;
  c.rows = int64_t(ref.size()) / V;
  for (int64_t r = 0; r < c.rows; ++r)
    c.top1 += argmax_row(ref, r, V) == argmax_row(got, r, V);
  if (rr && rg) count_routing(*rr, *rg, c.route_pairs, c.route_same);
  return c;
}

inline std::string describe(const Compare& c) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "rel %.2e, top-1 %lld/%lld, routing %lld/%lld%s", c.rel, (long long)c.top1,
                (long long)c.rows, (long long)c.route_same, (long long)c.route_pairs,
                c.finite ? "" : ", NON-FINITE or missing");
  return buf;
}

struct Totals {
  int64_t rows = 0, top1 = 0, pairs = 0, same = 0;
  void add(const Compare& c) {
    rows += c.rows;
    top1 += c.top1;
    pairs += c.route_pairs;
    same += c.route_same;
  }
  double top1_share() const { return rows ? double(top1) / double(rows) : 0; }
  double routing_share() const { return pairs ? double(same) / double(pairs) : 1; }
  std::string describe() const {
    char buf[160];
    std::snprintf(buf, sizeof buf, "top-1 %lld/%lld (%.1f %%), routing %lld/%lld (%.1f %%)", (long long)top1,
                  (long long)rows, 100 * top1_share(), (long long)same, (long long)pairs,
                  100 * routing_share());
    return buf;
  }
};

}  // namespace moe::gpucheck
