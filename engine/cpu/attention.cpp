// Attention kernels of the CPU backend (see attention.h).
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/ops.h"

namespace moe::cpu {
namespace {

constexpr int64_t kParallelMinWork = 1 << 18;  // below this, one thread (see ops.cpp)

// Softmax-weighted sum over keys [first, last] for one query: scores = (q . k_j) * scale.
// `score_of(j)` gives q . k_j, `accumulate(j, p)` adds p * v_j to the output.
template <class Score, class Accumulate>
void attend(int64_t first, int64_t last, float scale, std::vector<float>& scores, Score score_of,
            Accumulate accumulate) {
  const int64_t m = last - first + 1;
  scores.resize(size_t(m));
  float mx = -INFINITY;
  for (int64_t j = 0; j < m; ++j) {
    scores[size_t(j)] = score_of(first + j) * scale;
    mx = std::max(mx, scores[size_t(j)]);
  }
  double sum = 0;
  for (int64_t j = 0; j < m; ++j) {
    scores[size_t(j)] = std::exp(scores[size_t(j)] - mx);
    sum += scores[size_t(j)];
  }
  const float inv = float(1.0 / sum);
  for (int64_t j = 0; j < m; ++j)
    accumulate(first + j, scores[size_t(j)] * inv);
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

void clip(std::vector<float>& x, double c) {
  const float lo = float(-c), hi = float(c);
  for (auto& v : x)
    v = std::clamp(v, lo, hi);
}

}  // namespace

void apply_rope(float* x, int64_t n, int64_t n_heads, int64_t head_stride, int64_t offset, int64_t rot_dim,
                int64_t pos0, const RopeFrequencies& f, bool interleaved) {
  const int64_t half = rot_dim / 2;
  std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  for (int64_t t = 0; t < n; ++t) {
    const float pos = float(pos0 + t);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = pos * f.inv_freq[size_t(i)];  // float32 product, as transformers forms it
      c[size_t(i)] = float(std::cos(double(angle))) * f.cos_sin_scale;
      s[size_t(i)] = float(std::sin(double(angle))) * f.cos_sin_scale;
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_stride + offset;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c[size_t(i)] - x1 * s[size_t(i)];
        v[b] = x1 * c[size_t(i)] + x0 * s[size_t(i)];
      }
    }
  }
}

void attention_standard(const ModelSpec& s, const LayerWeights& w, int32_t window, const float* xn, int64_t n,
                        int64_t pos0, KvLayer& cache, float* out) {
  const int64_t nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim, vd = s.v_head_dim;
  std::vector<float> q(size_t(n * nh * hd)), k(size_t(n * nkv * hd)), v(size_t(n * nkv * vd));
  linear(xn, n, w.q, q.data(), &w.q_bias);
  linear(xn, n, w.k, k.data(), &w.k_bias);
  linear(xn, n, w.v, v.data(), &w.v_bias);
  if (s.qk_norm != QkNorm::None) {
    auto qn = load_vector(w.q_norm), kn = load_vector(w.k_norm);
    const bool per_head = s.qk_norm == QkNorm::PerHead;
    rms_norm(q.data(), qn.data(), q.data(), per_head ? n * nh : n, per_head ? hd : nh * hd, s.rms_norm_eps);
    rms_norm(k.data(), kn.data(), k.data(), per_head ? n * nkv : n, per_head ? hd : nkv * hd, s.rms_norm_eps);
  }
  if (s.clip_qkv > 0) {
    clip(q, s.clip_qkv);
    clip(k, s.clip_qkv);
    clip(v, s.clip_qkv);
  }
  const RopeFrequencies f = rope_frequencies(s, hd, pos0 + n);
  apply_rope(q.data(), n, nh, hd, 0, hd, pos0, f, s.rope.interleaved);
  apply_rope(k.data(), n, nkv, hd, 0, hd, pos0, f, s.rope.interleaved);
  std::memcpy(cache.k.data() + pos0 * nkv * hd, k.data(), k.size() * sizeof(float));
  std::memcpy(cache.v.data() + pos0 * nkv * vd, v.data(), v.size() * sizeof(float));

  std::vector<float> attn(size_t(n * nh * vd), 0.0f);
  const float scale = float(s.attention_scale());
  const int64_t group = nh / nkv;
  const bool parallel = n * nh * (pos0 + n) * hd >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    std::vector<float> scores;
#pragma omp for schedule(static) collapse(2)
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t p = pos0 + t, g = h / group;
        const int64_t first = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
        const float* qv = q.data() + (t * nh + h) * hd;
        float* o = attn.data() + (t * nh + h) * vd;
        attend(
            first, p, scale, scores,
            [&](int64_t j) { return dot(qv, cache.k.data() + (j * nkv + g) * hd, hd); },
            [&](int64_t j, float pj) {
              const float* vj = cache.v.data() + (j * nkv + g) * vd;
              for (int64_t i = 0; i < vd; ++i)
                o[i] += pj * vj[i];
            });
      }
    }
  }
  linear(attn.data(), n, w.o, out, &w.o_bias);
}

void attention_mla(const ModelSpec& s, const LayerWeights& w, const float* xn, int64_t n, int64_t pos0,
                   KvLayer& cache, float* out) {
  const int64_t nh = s.num_heads, nope = s.qk_nope_head_dim, rope = s.qk_rope_head_dim, hd = nope + rope;
  const int64_t vd = s.v_head_dim, r = s.kv_lora_rank;
  // Queries.
  std::vector<float> q(size_t(n * nh * hd));
  if (s.q_lora_rank > 0) {
    std::vector<float> qa(size_t(n * s.q_lora_rank));
    linear(xn, n, w.q_a, qa.data());
    auto qan = load_vector(w.q_a_norm);
    rms_norm(qa.data(), qan.data(), qa.data(), n, s.q_lora_rank, s.rms_norm_eps);
    linear(qa.data(), n, w.q_b, q.data());
  } else {
    linear(xn, n, w.q, q.data());
  }
  // Compressed latent and shared rotary key, appended to the cache.
  std::vector<float> kva(size_t(n * (r + rope)));
  linear(xn, n, w.kv_a, kva.data());
  auto kvn = load_vector(w.kv_a_norm);
  for (int64_t t = 0; t < n; ++t) {
    const float* src = kva.data() + t * (r + rope);
    rms_norm(src, kvn.data(), cache.k.data() + (pos0 + t) * r, 1, r, s.rms_norm_eps);
    std::memcpy(cache.v.data() + (pos0 + t) * rope, src + r, size_t(rope) * sizeof(float));
  }
  const RopeFrequencies f = rope_frequencies(s, rope, pos0 + n);
  apply_rope(q.data(), n, nh, hd, nope, rope, pos0, f, s.rope.interleaved);
  apply_rope(cache.v.data() + pos0 * rope, n, 1, rope, 0, rope, pos0, f, s.rope.interleaved);

  // kv_b rows for head h: [h*(nope+vd), +nope) map c_kv to k_nope, the next vd rows to v.
  std::vector<float> kvb(size_t(w.kv_b.rows * r));
#pragma omp parallel for schedule(static) if (w.kv_b.rows * r >= kParallelMinWork)
  for (int64_t row = 0; row < w.kv_b.rows; ++row)
    load_row(w.kv_b, row, kvb.data() + row * r);

  std::vector<float> attn(size_t(n * nh * vd));
  const float scale = float(s.attention_scale());
  const bool parallel = n * nh * (pos0 + n + nope) * r >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    std::vector<float> scores, q_abs(static_cast<size_t>(r)), latent(static_cast<size_t>(r));
#pragma omp for schedule(static) collapse(2)
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < nh; ++h) {
        const float* qh = q.data() + (t * nh + h) * hd;
        const float* wk = kvb.data() + h * (nope + vd) * r;
        const float* wv = wk + nope * r;
        // Absorb W_k into the query: q_abs = W_k^T q_nope, so q_nope . k_nope_j = q_abs . c_kv_j.
        std::fill(q_abs.begin(), q_abs.end(), 0.0f);
        for (int64_t i = 0; i < nope; ++i)
          for (int64_t c = 0; c < r; ++c)
            q_abs[size_t(c)] += qh[i] * wk[i * r + c];
        std::fill(latent.begin(), latent.end(), 0.0f);
        attend(
            0, pos0 + t, scale, scores,
            [&](int64_t j) {
              return dot(q_abs.data(), cache.k.data() + j * r, r) +
                     dot(qh + nope, cache.v.data() + j * rope, rope);
            },
            [&](int64_t j, float pj) {
              const float* cj = cache.k.data() + j * r;
              for (int64_t c = 0; c < r; ++c)
                latent[size_t(c)] += pj * cj[c];
            });
        float* o = attn.data() + (t * nh + h) * vd;
        for (int64_t i = 0; i < vd; ++i)
          o[i] = dot(wv + i * r, latent.data(), r);
      }
    }
  }
  linear(attn.data(), n, w.o, out);
}

}  // namespace moe::cpu
