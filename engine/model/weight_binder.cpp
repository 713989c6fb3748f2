// WeightBinder checks, and bind_weights: the tensor names of every family (both expert layouts in the wild:
// per-expert `experts.N.{w1,w2,w3}` / `experts.N.{gate,up,down}_proj`, and fused 3-D `experts.gate_up_proj`
// [E, 2I, H] with gate rows first, `experts.down_proj` [E, H, I]).
#include "model/weight_binder.h"

#include "moe/error.h"

namespace moe::detail {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

const TensorView& WeightBinder::tensor(const std::string& name) const {
  return store_.get(name);
}

const TensorView& WeightBinder::checked(const std::string& name, std::initializer_list<int64_t> shape) const {
  const TensorView& t = store_.get(name);
  if (!dtype_is_float_compute(t.dtype))
    throw Error(t.file + ": tensor " + name + " is " + std::string(dtype_name(t.dtype)) +
                "; weights must be BF16, F16 or F32");
  std::vector<int64_t> want(shape);
  if (t.shape != want)
    throw Error(t.file + ": tensor " + name + " has shape " + shape_str(t.shape) +
                ", but config.json implies " + shape_str(want));
  return t;
}

Matrix WeightBinder::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  const TensorView& t = checked(name, {rows, cols});
  return Matrix{t.data, t.dtype, rows, cols, name};
}

Vector WeightBinder::vector(const std::string& name, int64_t n) const {
  const TensorView& t = checked(name, {n});
  return Matrix{t.data, t.dtype, 1, n, name};
}

Vector WeightBinder::optional_vector(const std::string& name, int64_t n) const {
  return has(name) ? vector(name, n) : Vector{};
}

Matrix WeightBinder::slice3d(const std::string& name, int64_t experts, int64_t rows, int64_t cols, int64_t e,
                             int64_t first_row, int64_t n_rows) const {
  const TensorView& t = checked(name, {experts, rows, cols});
  size_t row_bytes = size_t(cols) * dtype_size(t.dtype);
  const std::byte* p = t.data + (size_t(e) * size_t(rows) + size_t(first_row)) * row_bytes;
  return Matrix{p, t.dtype, n_rows, cols, name + "[" + std::to_string(e) + "]"};
}

namespace {

ExpertWeights bind_mlp(const WeightBinder& b, const std::string& p, int64_t hidden, int64_t inter) {
  return ExpertWeights{b.matrix(p + "gate_proj.weight", inter, hidden),
                       b.matrix(p + "up_proj.weight", inter, hidden),
                       b.matrix(p + "down_proj.weight", hidden, inter)};
}

void bind_experts(const WeightBinder& b, const ModelSpec& s, const std::string& p, LayerWeights& lw) {
  const int64_t E = s.num_experts, I = s.moe_intermediate_size, H = s.hidden_size;
  lw.experts.resize(size_t(E));
  if (b.has(p + "experts.gate_up_proj")) {
    for (int64_t e = 0; e < E; ++e) {
      auto& x = lw.experts[size_t(e)];
      x.gate = b.slice3d(p + "experts.gate_up_proj", E, 2 * I, H, e, 0, I);
      x.up = b.slice3d(p + "experts.gate_up_proj", E, 2 * I, H, e, I, I);
      x.down = b.slice3d(p + "experts.down_proj", E, H, I, e, 0, H);
    }
    return;
  }
  const bool mixtral_names = b.has(p + "experts.0.w1.weight");
  for (int64_t e = 0; e < E; ++e) {
    std::string q = p + "experts." + std::to_string(e) + ".";
    auto& x = lw.experts[size_t(e)];
    if (mixtral_names) {
      x = ExpertWeights{b.matrix(q + "w1.weight", I, H), b.matrix(q + "w3.weight", I, H),
                        b.matrix(q + "w2.weight", H, I)};
    } else {
      x = bind_mlp(b, q, H, I);
    }
  }
}

void bind_standard_attention(const WeightBinder& b, const ModelSpec& s, const std::string& p,
                             LayerWeights& lw) {
  const int64_t H = s.hidden_size, qd = s.num_heads * s.head_dim, kvd = s.num_kv_heads * s.head_dim;
  lw.q = b.matrix(p + "q_proj.weight", qd, H);
  lw.k = b.matrix(p + "k_proj.weight", kvd, H);
  lw.v = b.matrix(p + "v_proj.weight", kvd, H);
  lw.o = b.matrix(p + "o_proj.weight", H, qd);
  if (s.attention_bias) {
    lw.q_bias = b.vector(p + "q_proj.bias", qd);
    lw.k_bias = b.vector(p + "k_proj.bias", kvd);
    lw.v_bias = b.vector(p + "v_proj.bias", kvd);
  }
  lw.o_bias = s.o_proj_bias ? b.vector(p + "o_proj.bias", H) : Vector{};
  if (s.qk_norm == QkNorm::PerHead) {
    lw.q_norm = b.vector(p + "q_norm.weight", s.head_dim);
    lw.k_norm = b.vector(p + "k_norm.weight", s.head_dim);
  } else if (s.qk_norm == QkNorm::Full) {
    lw.q_norm = b.vector(p + "q_norm.weight", qd);
    lw.k_norm = b.vector(p + "k_norm.weight", kvd);
  }
}

void bind_mla(const WeightBinder& b, const ModelSpec& s, const std::string& p, LayerWeights& lw) {
  if (s.attention_bias) throw Error("config.json: attention_bias is not supported with MLA attention");
  const int64_t H = s.hidden_size, qd = s.num_heads * s.head_dim;
  if (s.q_lora_rank > 0) {
    lw.q_a = b.matrix(p + "q_a_proj.weight", s.q_lora_rank, H);
    lw.q_a_norm = b.vector(p + "q_a_layernorm.weight", s.q_lora_rank);
    lw.q_b = b.matrix(p + "q_b_proj.weight", qd, s.q_lora_rank);
  } else {
    lw.q = b.matrix(p + "q_proj.weight", qd, H);
  }
  lw.kv_a = b.matrix(p + "kv_a_proj_with_mqa.weight", s.kv_lora_rank + s.qk_rope_head_dim, H);
  lw.kv_a_norm = b.vector(p + "kv_a_layernorm.weight", s.kv_lora_rank);
  lw.kv_b =
      b.matrix(p + "kv_b_proj.weight", s.num_heads * (s.qk_nope_head_dim + s.v_head_dim), s.kv_lora_rank);
  lw.o = b.matrix(p + "o_proj.weight", H, s.num_heads * s.v_head_dim);
}

void bind_moe(const WeightBinder& b, const ModelSpec& s, const std::string& layer, LayerWeights& lw) {
  const int64_t H = s.hidden_size;
  std::string p =
      b.has(layer + "block_sparse_moe.gate.weight") ? layer + "block_sparse_moe." : layer + "mlp.";
  lw.router = b.matrix(p + "gate.weight", s.num_experts, H);
  if (s.router_bias) lw.router_score_bias = b.vector(p + "gate.e_score_correction_bias", s.num_experts);
  bind_experts(b, s, p, lw);
  if (s.shared_expert_intermediate_size > 0) {
    std::string sp = s.family == Family::Qwen2Moe ? p + "shared_expert." : p + "shared_experts.";
    lw.shared = bind_mlp(b, sp, H, s.shared_expert_intermediate_size);
  }
  if (s.shared_expert_gate) lw.shared_gate = b.matrix(p + "shared_expert_gate.weight", 1, H);
}

}  // namespace

ModelWeights bind_weights(const TensorStore& store, const ModelSpec& s) {
  WeightBinder b(store, s);
  ModelWeights w;
  const int64_t H = s.hidden_size;
  w.embed = b.matrix("model.embed_tokens.weight", s.vocab_size, H);
  w.final_norm = b.vector("model.norm.weight", H);
  if (s.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    w.lm_head = b.matrix("lm_head.weight", s.vocab_size, H);
  }
  w.layers.resize(size_t(s.num_layers));
  for (int64_t i = 0; i < s.num_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& lw = w.layers[size_t(i)];
    lw.attn_norm = b.vector(p + "input_layernorm.weight", H);
    lw.ffn_norm = b.vector(p + "post_attention_layernorm.weight", H);
    if (s.attention == AttentionKind::MLA) {
      bind_mla(b, s, p + "self_attn.", lw);
    } else {
      bind_standard_attention(b, s, p + "self_attn.", lw);
    }
    if (s.layers[size_t(i)].moe) {
      bind_moe(b, s, p, lw);
    } else {
      lw.mlp = bind_mlp(b, p + "mlp.", H, s.intermediate_size);
    }
  }
  return w;
}

}  // namespace moe::detail
