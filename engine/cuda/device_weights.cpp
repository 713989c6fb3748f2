// layout_weights and upload_weights (see device_weights.h).
#include "cuda/device_weights.h"

#include <algorithm>
#include <cstring>

#include "cuda/cuda_check.h"
#include "moe/dtype.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

constexpr size_t kAlign = kWeightAlign;

class Layout {
 public:
  Layout(std::byte* base, std::vector<WeightSlot>* slots) : base_(base), slots_(slots) {}

  // Reserves rows x cols; `parts` are the checkpoint matrices stacked into it, top to bottom.
  template <class T>
  const T* add(int64_t rows, int64_t cols, int kind, std::initializer_list<const Matrix*> parts = {},
               bool transposed = false) {
    const size_t elem = kind == 0 ? sizeof(bf16) : sizeof(float);
    const size_t offset = used_;
    used_ += (size_t(rows * cols) * elem + kAlign - 1) / kAlign * kAlign;
    if (slots_) {
      int64_t before = 0;  // elements of the earlier parts (rows stacked; vectors concatenated)
      bool any = false;
      for (const Matrix* m : parts) {
        if (!m || m->empty()) continue;
        any = true;
        WeightSlot s;
        s.offset = offset + size_t(before) * elem;
        s.rows = m->rows;
        s.cols = m->cols;
        s.fp32 = kind != 0;
        s.source = m;
        s.kind = kind;
        s.transposed = transposed;
        slots_->push_back(s);
        before += m->rows * m->cols;
      }
      if (!any) slots_->push_back(WeightSlot{offset, rows, cols, kind != 0, nullptr, kind, transposed});
    }
    return base_ ? reinterpret_cast<const T*>(base_ + offset) : nullptr;
  }
  const bf16* matrix(int64_t rows, int64_t cols, std::initializer_list<const Matrix*> parts = {}) {
    return add<bf16>(rows, cols, 0, parts);
  }
  // A [rows, cols] source stored as its [cols, rows] transpose (one part).
  const bf16* transposed(int64_t rows, int64_t cols, const Matrix* part) {
    return add<bf16>(rows, cols, 0, {part}, true);
  }
  const float* norm(int64_t n, const Matrix* part = nullptr) { return add<float>(1, n, 1, {part}); }
  const float* bias(int64_t n, std::initializer_list<const Matrix*> parts = {}) {
    return add<float>(1, n, 2, parts);
  }
  size_t used() const { return used_; }

 private:
  std::byte* base_;
  std::vector<WeightSlot>* slots_;
  size_t used_ = 0;
};

}  // namespace

DeviceWeights layout_weights(const ModelSpec& s, const ModelWeights* w, std::byte* base,
                             std::vector<WeightSlot>* slots) {
  Layout L(base, slots);
  DeviceWeights d;
  const int64_t H = s.hidden_size, nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim, vd = s.v_head_dim;
  d.embed = L.matrix(s.vocab_size, H, {w ? &w->embed : nullptr});
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const LayerWeights* lw = w ? &w->layers[size_t(i)] : nullptr;
    static const LayerWeights kNone{};
    const LayerWeights& l = lw ? *lw : kNone;
    const bool have = lw != nullptr;
    auto p = [&](const Matrix& m) { return have ? &m : nullptr; };
    DeviceLayer dl;
    dl.attn_norm = L.norm(H, p(l.attn_norm));
    if (s.attention == AttentionKind::MLA) {
      const int64_t r = s.kv_lora_rank;
      dl.qkv_rows = fused_qkv_rows(s);
      dl.qkv = L.matrix(dl.qkv_rows, H, {p(s.q_lora_rank > 0 ? l.q_a : l.q), p(l.kv_a)});
      if (s.q_lora_rank > 0) {
        dl.q_a_norm = L.norm(s.q_lora_rank, p(l.q_a_norm));
        dl.q_b = L.matrix(nh * hd, s.q_lora_rank, {p(l.q_b)});
      }
      dl.kv_a_norm = L.norm(r, p(l.kv_a_norm));
      dl.kv_b = L.matrix(nh * (s.qk_nope_head_dim + vd), r, {p(l.kv_b)});
    } else {
      dl.qkv_rows = fused_qkv_rows(s);
      dl.qkv = L.matrix(dl.qkv_rows, H, {p(l.q), p(l.k), p(l.v)});
      if (s.attention_bias) dl.qkv_bias = L.bias(dl.qkv_rows, {p(l.q_bias), p(l.k_bias), p(l.v_bias)});
      if (s.qk_norm == QkNorm::PerHead) {
        dl.q_norm = L.norm(hd, p(l.q_norm));
        dl.k_norm = L.norm(hd, p(l.k_norm));
      } else if (s.qk_norm == QkNorm::Full) {
        dl.q_norm = L.norm(nh * hd, p(l.q_norm));
        dl.k_norm = L.norm(nkv * hd, p(l.k_norm));
      }
    }
    dl.o = L.matrix(H, nh * vd, {p(l.o)});
    if (s.o_proj_bias) dl.o_bias = L.bias(H, {p(l.o_bias)});
    dl.ffn_norm = L.norm(H, p(l.ffn_norm));

    if (s.layers[size_t(i)].moe) {
      const int64_t E = s.num_experts, I = s.moe_intermediate_size;
      dl.router_rows = E + (s.shared_expert_gate ? 1 : 0);
      dl.router = L.matrix(dl.router_rows, H, {p(l.router), p(l.shared_gate)});
      if (s.router_bias) dl.router_bias = L.bias(E, {p(l.router_score_bias)});
      // Experts one after another: slot e of the stack holds expert e.
      auto stack = [&](auto member, int64_t rows, int64_t cols, bool transposed) {
        const bf16* first = nullptr;
        for (int64_t e = 0; e < E; ++e) {
          const Matrix* m = have ? &(l.experts[size_t(e)].*member) : nullptr;
          const bf16* ptr = transposed ? L.transposed(rows, cols, m) : L.matrix(rows, cols, {m});
          if (e == 0) first = ptr;
        }
        return first;
      };
      dl.experts_gate = stack(&ExpertWeights::gate, I, H, false);
      dl.experts_up = stack(&ExpertWeights::up, I, H, false);
      dl.experts_down = stack(&ExpertWeights::down, H, I, true);
      if (s.shared_expert_intermediate_size > 0) {
        dl.always_inter = s.shared_expert_intermediate_size;
        dl.always_gated = s.shared_expert_gate;
      }
    } else {
      dl.always_inter = s.intermediate_size;
    }
    if (dl.always_inter > 0) {
      const ExpertWeights& m = s.layers[size_t(i)].moe ? l.shared : l.mlp;
      dl.always_gate = L.matrix(dl.always_inter, H, {p(m.gate)});
      dl.always_up = L.matrix(dl.always_inter, H, {p(m.up)});
      dl.always_down = L.transposed(H, dl.always_inter, p(m.down));
    }
    d.layers.push_back(dl);
  }
  d.final_norm = L.norm(H, w ? &w->final_norm : nullptr);
  d.lm_head = s.tie_word_embeddings ? d.embed : L.matrix(s.vocab_size, H, {w ? &w->lm_head : nullptr});
  d.bytes = L.used();
  return d;
}

void upload_weights(const std::vector<WeightSlot>& slots, std::byte* base, cudaStream_t stream) {
  // Two pinned staging buffers, so the host converts one while the other is copied; transposed slots go
  // through a device buffer of the same size.
  constexpr size_t kStage = size_t(32) << 20;
  struct Staging {  // freed on every path, whatever was created
    std::byte* buf[2] = {nullptr, nullptr};
    cudaEvent_t done[2] = {nullptr, nullptr};
    void* device = nullptr;
    cudaStream_t stream;
    ~Staging() {
      cudaStreamSynchronize(stream);
      for (int i = 0; i < 2; ++i) {
        if (buf[i]) cudaFreeHost(buf[i]);
        if (done[i]) cudaEventDestroy(done[i]);
      }
      if (device) cudaFree(device);
    }
  } staging{{nullptr, nullptr}, {nullptr, nullptr}, nullptr, stream};
  std::byte** stage = staging.buf;
  cudaEvent_t* done = staging.done;
  MOE_CUDA_CHECK(cudaMallocHost(&stage[0], kStage));
  MOE_CUDA_CHECK(cudaMallocHost(&stage[1], kStage));
  MOE_CUDA_CHECK(cudaEventCreateWithFlags(&done[0], cudaEventDisableTiming));
  MOE_CUDA_CHECK(cudaEventCreateWithFlags(&done[1], cudaEventDisableTiming));
  if (std::any_of(slots.begin(), slots.end(), [](const WeightSlot& s) { return s.transposed; }))
    MOE_CUDA_CHECK(cudaMalloc(&staging.device, kStage));
  int which = 0;
  std::vector<float> row;
  for (const WeightSlot& s : slots) {
    if (!s.source) throw Error("upload_weights: slot without a source tensor");
    const Matrix& m = *s.source;
    const size_t out_elem = s.fp32 ? 4 : 2;
    const size_t out_row = size_t(m.cols) * out_elem;
    if (out_row > kStage) throw Error("upload_weights: a row of " + std::to_string(m.cols) + " values");
    const int64_t rows_per_chunk = std::max<int64_t>(1, int64_t(kStage / out_row));
    row.resize(size_t(m.cols));
    for (int64_t r0 = 0; r0 < m.rows; r0 += rows_per_chunk) {
      const int64_t n = std::min(rows_per_chunk, m.rows - r0);
      MOE_CUDA_CHECK(cudaEventSynchronize(done[which]));
      std::byte* dst = stage[which];
      if (!s.fp32 && m.dtype == DType::BF16) {
        std::memcpy(dst, m.row(r0), size_t(n) * out_row);
      } else {
        for (int64_t r = 0; r < n; ++r) {
          convert_to_f32(m.dtype, m.row(r0 + r), row.data(), size_t(m.cols));
          if (s.fp32) {
            std::memcpy(dst + size_t(r) * out_row, row.data(), out_row);
          } else {
            auto* o = reinterpret_cast<uint16_t*>(dst + size_t(r) * out_row);
            for (int64_t c = 0; c < m.cols; ++c)
              o[c] = f32_to_bf16(row[size_t(c)]);
          }
        }
      }
      if (s.transposed) {  // rows [r0, r0 + n) of the source become columns of the stored [cols, rows]
        MOE_CUDA_CHECK(
            cudaMemcpyAsync(staging.device, dst, size_t(n) * out_row, cudaMemcpyHostToDevice, stream));
        launch_transpose_bf16(static_cast<const bf16*>(staging.device), n, m.cols,
                              reinterpret_cast<bf16*>(base + s.offset) + r0, m.rows, stream);
      } else {
        MOE_CUDA_CHECK(cudaMemcpyAsync(base + s.offset + size_t(r0) * out_row, dst, size_t(n) * out_row,
                                       cudaMemcpyHostToDevice, stream));
      }
      MOE_CUDA_CHECK(cudaEventRecord(done[which], stream));
      which ^= 1;
    }
  }
  MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace moe::cuda
