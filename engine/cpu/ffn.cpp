// Feed-forward blocks (see ffn.h).
#include "cpu/ffn.h"

#include <cstring>
#include <span>
#include <vector>

#include "cpu/ops.h"
#include "moe/router.h"

namespace moe::cpu {

void mlp(const ExpertWeights& w, const float* x, int64_t n, int64_t inter, float* out) {
  std::vector<float> g(size_t(n * inter)), u(size_t(n * inter));
  linear(x, n, w.gate, g.data());
  linear(x, n, w.up, u.data());
  for (size_t i = 0; i < g.size(); ++i)
    g[i] = silu(g[i]) * u[i];
  linear(g.data(), n, w.down, out);
}

void moe_ffn(const ModelSpec& s, const LayerWeights& w, const float* xn, int64_t n, float* out,
             int32_t* experts, float* weights, int64_t routing_stride) {
  const int64_t H = s.hidden_size, E = s.num_experts, k = s.top_k;
  std::vector<float> logits(size_t(n * E));
  linear(xn, n, w.router, logits.data());
  std::vector<float> bias =
      w.router_score_bias.empty() ? std::vector<float>() : load_vector(w.router_score_bias);
  for (int64_t t = 0; t < n; ++t)
    route_token(s, std::span<const float>(logits.data() + t * E, size_t(E)), bias,
                experts + t * routing_stride, weights + t * routing_stride);

  // Group positions by expert, then run each expert once over its positions; experts are added in id order,
  // as transformers does.
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(static_cast<size_t>(E));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < k; ++i)
      by_expert[size_t(experts[t * routing_stride + i])].push_back({t, weights[t * routing_stride + i]});
  std::memset(out, 0, sizeof(float) * size_t(n * H));
  std::vector<float> xe, ye;
  for (int64_t e = 0; e < E; ++e) {
    const auto& rows = by_expert[size_t(e)];
    if (rows.empty()) continue;
    const int64_t m = int64_t(rows.size());
    xe.resize(size_t(m * H));
    ye.resize(size_t(m * H));
    for (int64_t r = 0; r < m; ++r)
      std::memcpy(&xe[size_t(r * H)], xn + rows[size_t(r)].first * H, sizeof(float) * H);
    mlp(w.experts[size_t(e)], xe.data(), m, s.moe_intermediate_size, ye.data());
    for (int64_t r = 0; r < m; ++r) {
      float* o = out + rows[size_t(r)].first * H;
      const float g = rows[size_t(r)].second;
      for (int64_t i = 0; i < H; ++i)
        o[i] += ye[size_t(r * H + i)] * g;
    }
  }
  if (w.shared.gate.empty()) return;
  std::vector<float> shared(size_t(n * H));
  mlp(w.shared, xn, n, s.shared_expert_intermediate_size, shared.data());
  std::vector<float> gate(size_t(n), 1.0f);
  if (!w.shared_gate.empty()) {
    linear(xn, n, w.shared_gate, gate.data());
    for (auto& g : gate)
      g = 1.0f / (1.0f + std::exp(-g));
  }
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < H; ++i)
      out[t * H + i] += gate[size_t(t)] * shared[size_t(t * H + i)];
}

}  // namespace moe::cpu
