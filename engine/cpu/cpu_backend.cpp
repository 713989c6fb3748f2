// The CPU backend, the oracle every other path is compared with: float32 math over BF16/F16/F32 weights,
// a float32 KV cache, the whole batch of positions through each layer at once.
#include <algorithm>
#include <string>
#include <vector>

#include "cpu/attention.h"
#include "cpu/ffn.h"
#include "cpu/ops.h"
#include "moe/backend.h"
#include "moe/error.h"

namespace moe {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, const BackendOptions& options)
      : spec_(model.spec()),
        w_(model.weights()),
        ctx_(default_context_length(spec_, options.context_length)) {
    try {
      cache_.resize(size_t(spec_.num_layers));
      for (auto& c : cache_) {
        c.k.resize(size_t(ctx_ * k_width()));
        c.v.resize(size_t(ctx_ * v_width()));
      }
    } catch (const std::bad_alloc&) {
      throw Error("out of memory: the KV cache for " + std::to_string(ctx_) + " positions needs " +
                  std::to_string(kv_cache_bytes()) + " bytes; choose a shorter context");
    }
    final_norm_ = cpu::load_vector(w_.final_norm);
    for (const auto& l : w_.layers) {
      attn_norm_.push_back(cpu::load_vector(l.attn_norm));
      ffn_norm_.push_back(cpu::load_vector(l.ffn_norm));
    }
  }

  std::string name() const override { return "cpu"; }
  int64_t cache_length() const override { return len_; }
  int64_t context_length() const override { return ctx_; }
  size_t kv_cache_bytes() const override {
    return size_t(spec_.num_layers * ctx_ * (k_width() + v_width())) * 4;
  }
  void truncate(int64_t n) override { len_ = std::clamp<int64_t>(n, 0, len_); }

  void forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>& logits,
               RoutingBatch* routing) override {
    const int64_t n = int64_t(tokens.size()), H = spec_.hidden_size, pos0 = len_;
    if (n == 0) throw Error("forward: no tokens");
    if (pos0 + n > ctx_)
      throw Error("context full: " + std::to_string(pos0 + n) + " positions needed, the KV cache holds " +
                  std::to_string(ctx_));
    for (int32_t id : tokens)
      if (id < 0 || id >= spec_.vocab_size)
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(spec_.vocab_size));
    const int64_t n_moe = spec_.num_moe_layers(), k = std::max<int64_t>(spec_.top_k, 1);
    RoutingBatch scratch_routing;
    RoutingBatch& r = routing ? *routing : scratch_routing;
    r.reset(n, n_moe, k);

    std::vector<float> x(size_t(n * H)), xn(size_t(n * H)), y(size_t(n * H));
    for (int64_t t = 0; t < n; ++t)
      cpu::load_row(w_.embed, tokens[size_t(t)], x.data() + t * H);
    int64_t moe_index = 0;
    for (int64_t l = 0; l < spec_.num_layers; ++l) {
      const LayerWeights& lw = w_.layers[size_t(l)];
      const LayerSpec& ls = spec_.layers[size_t(l)];
      cpu::rms_norm(x.data(), attn_norm_[size_t(l)].data(), xn.data(), n, H, spec_.rms_norm_eps);
      if (spec_.attention == AttentionKind::MLA) {
        cpu::attention_mla(spec_, lw, xn.data(), n, pos0, cache_[size_t(l)], y.data());
      } else {
        cpu::attention_standard(spec_, lw, ls.sliding_window, xn.data(), n, pos0, cache_[size_t(l)],
                                y.data());
      }
      for (size_t i = 0; i < x.size(); ++i)
        x[i] += y[i];
      cpu::rms_norm(x.data(), ffn_norm_[size_t(l)].data(), xn.data(), n, H, spec_.rms_norm_eps);
      if (ls.moe) {
        cpu::moe_ffn(spec_, lw, xn.data(), n, y.data(), r.experts_at(0, moe_index),
                     r.weights_at(0, moe_index), n_moe * k);
        ++moe_index;
      } else {
        cpu::mlp(lw.mlp, xn.data(), n, spec_.intermediate_size, y.data());
      }
      for (size_t i = 0; i < x.size(); ++i)
        x[i] += y[i];
    }
    len_ = pos0 + n;
    const int64_t first = mode == LogitsMode::All ? 0 : n - 1, rows = n - first;
    cpu::rms_norm(x.data() + first * H, final_norm_.data(), xn.data(), rows, H, spec_.rms_norm_eps);
    logits.resize(size_t(rows * spec_.vocab_size));
    cpu::linear(xn.data(), rows, w_.lm_head, logits.data());
  }

 private:
  int64_t k_width() const {
    return spec_.attention == AttentionKind::MLA ? spec_.kv_lora_rank : spec_.num_kv_heads * spec_.head_dim;
  }
  int64_t v_width() const {
    return spec_.attention == AttentionKind::MLA ? spec_.qk_rope_head_dim
                                                 : spec_.num_kv_heads * spec_.v_head_dim;
  }

  const ModelSpec& spec_;
  const ModelWeights& w_;
  const int64_t ctx_;
  int64_t len_ = 0;
  std::vector<cpu::KvLayer> cache_;
  std::vector<float> final_norm_;
  std::vector<std::vector<float>> attn_norm_, ffn_norm_;
};

}  // namespace

int64_t default_context_length(const ModelSpec& spec, int64_t requested) {
  if (requested > 0) return std::min(requested, spec.max_position_embeddings);
  return std::min<int64_t>(spec.max_position_embeddings, 4096);
}

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options) {
  return std::make_unique<CpuBackend>(model, options);
}

}  // namespace moe
