// Decode-step attention kernels (see decode_kernels.h): preparation of q, k and v of the new position
// (q/k norms, clip, rotary embedding; k and v written to the bf16 cache), the MLA variants (latent cache,
// absorbed query, value up-projection), and flash-decoding: each block scores one split of the cache for
// a group of query heads sharing a KV head, keeps an online softmax, and the partials are merged by a
// second kernel. MLA runs through the same kernel as one KV head of width r + rope whose values are the
// first r elements of each cached row.
#include <cmath>
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

// Rotates pairs of v (shared memory) in place for position `pos`; all threads call it.
__device__ void rope_inplace(float* v, int rot, int pos, const float* inv_freq, float scale,
                             bool interleaved) {
  const int half = rot / 2;
  __syncthreads();
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float angle = float(pos) * inv_freq[i];  // float32 product, as transformers forms it
    const float c = float(cos(double(angle))) * scale, s = float(sin(double(angle))) * scale;
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float x0 = v[ia], x1 = v[ib];
    v[ia] = x0 * c - x1 * s;
    v[ib] = x1 * c + x0 * s;
  }
  __syncthreads();
}

// Sum of squares of n floats (global), by the whole block.
__device__ float block_sum_squares(const float* x, int n, float* scratch) {
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    ss = fmaf(x[i], x[i], ss);
  return block_sum(ss, scratch);
}

constexpr int kPrepThreads = 128;
constexpr int kMaxHead = 1024;

// One block per q head, k head and v head.
__global__ void __launch_bounds__(kPrepThreads) attn_prep_kernel(AttnPrepArgs a) {
  pdl_begin();
  __shared__ float v[kMaxHead];
  __shared__ float scratch[33];
  const int b = blockIdx.x, pos = a.params->pos;
  const int q_rows = a.nh * a.hd, k_rows = a.nkv * a.hd;
  int kind, head, n;
  const float* src;
  if (b < a.nh) {
    kind = 0, head = b, n = a.hd, src = a.qkv + head * a.hd;
  } else if (b < a.nh + a.nkv) {
    kind = 1, head = b - a.nh, n = a.hd, src = a.qkv + q_rows + head * a.hd;
  } else {
    kind = 2, head = b - a.nh - a.nkv, n = a.vd, src = a.qkv + q_rows + k_rows + head * a.vd;
  }
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    v[i] = src[i];
  const float* norm = kind == 0 ? a.q_norm : kind == 1 ? a.k_norm : nullptr;
  if (norm) {
    const float* region = a.norm_full ? (kind == 0 ? a.qkv : a.qkv + q_rows) : src;
    const int count = a.norm_full ? (kind == 0 ? q_rows : k_rows) : n;
    const float ss = block_sum_squares(region, count, scratch);
    const float inv = float(1.0 / sqrt(double(ss) / double(count) + double(a.eps)));
    const float* w = a.norm_full ? norm + head * a.hd : norm;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      v[i] = w[i] * (v[i] * inv);
  }
  if (a.clip > 0)
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      v[i] = fminf(fmaxf(v[i], -a.clip), a.clip);
  if (kind < 2) rope_inplace(v, a.hd, pos, a.inv_freq, a.cos_sin_scale, a.interleaved);
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    if (kind == 0)
      a.q[head * a.hd + i] = v[i];
    else if (kind == 1)
      a.k_cache[(int64_t(pos) * a.nkv + head) * a.hd + i] = __float2bfloat16(v[i]);
    else
      a.v_cache[(int64_t(pos) * a.nkv + head) * a.vd + i] = __float2bfloat16(v[i]);
  }
}

// MLA: the normalised latent and the rotated shared key into the cache; the normalised q_a for q_b.
__global__ void __launch_bounds__(256) mla_prep_kernel(MlaPrepArgs a) {
  pdl_begin();
  __shared__ float kpe[kMaxHead];
  __shared__ float scratch[33];
  const int pos = a.params->pos;
  const float* c = a.qkv + a.q_rows;
  bf16* row = a.k_cache + int64_t(pos) * (a.r + a.rope);
  {
    const float inv = float(1.0 / sqrt(double(block_sum_squares(c, a.r, scratch)) / a.r + double(a.eps)));
    for (int i = threadIdx.x; i < a.r; i += blockDim.x)
      row[i] = __float2bfloat16(a.kv_a_norm[i] * (c[i] * inv));
  }
  for (int i = threadIdx.x; i < a.rope; i += blockDim.x)
    kpe[i] = c[a.r + i];
  rope_inplace(kpe, a.rope, pos, a.inv_freq, a.cos_sin_scale, a.interleaved);
  for (int i = threadIdx.x; i < a.rope; i += blockDim.x)
    row[a.r + i] = __float2bfloat16(kpe[i]);
  if (a.q_lora > 0) {
    const float inv =
        float(1.0 / sqrt(double(block_sum_squares(a.qkv, a.q_lora, scratch)) / a.q_lora + double(a.eps)));
    for (int i = threadIdx.x; i < a.q_lora; i += blockDim.x)
      a.q_a_out[i] = a.q_a_norm[i] * (a.qkv[i] * inv);
  }
}

// grid (nh, ceil(r / 128)): q[h, c] = sum_i q_nope[h, i] * kv_b[h (nope + vd) + i, c]; block (h, 0) also
// rotates q_pe into q[h, r ..].
__global__ void __launch_bounds__(128) mla_query_kernel(MlaQueryArgs a) {
  pdl_begin();
  __shared__ float qn[kMaxHead];
  const int h = blockIdx.x, hd = a.nope + a.rope;
  const float* qh = a.q_full + int64_t(h) * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x)
    qn[i] = qh[i];
  __syncthreads();
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  float* out = a.q + int64_t(h) * (a.r + a.rope);
  if (c < a.r) {
    const bf16* w = a.kv_b + int64_t(h) * (a.nope + a.vd) * a.r + c;
    float acc = 0.0f;
    for (int i = 0; i < a.nope; ++i)
      acc = fmaf(qn[i], __bfloat162float(w[int64_t(i) * a.r]), acc);
    out[c] = acc;
  }
  if (blockIdx.y == 0) {
    rope_inplace(qn + a.nope, a.rope, a.params->pos, a.inv_freq, a.cos_sin_scale, a.interleaved);
    for (int i = threadIdx.x; i < a.rope; i += blockDim.x)
      out[a.r + i] = qn[a.nope + i];
  }
}

// One warp per output row (h, i): out[h, i] = kv_b[h (nope + vd) + nope + i] . latent[h].
__global__ void __launch_bounds__(128) mla_value_kernel(MlaValueArgs a) {
  pdl_begin();
  const int64_t row = int64_t(blockIdx.x) * 4 + (threadIdx.x >> 5);
  if (row >= int64_t(a.nh) * a.vd) return;
  const int64_t h = row / a.vd, i = row % a.vd;
  const float acc = warp_dot_row(a.kv_b + (h * (a.nope + a.vd) + a.nope + i) * a.r, a.latent + h * a.r, a.r);
  if ((threadIdx.x & 31) == 0) a.out[row] = acc;
}

constexpr int kAttnWarps = 4;
constexpr int kMaxSplits = 256;

template <int Vec>
__device__ __forceinline__ void load_vec(const bf16* p, int d, int n, float (&out)[Vec]) {
  if constexpr (Vec == 4) {
    if (d + 3 < n) {
      const uint2 u = *reinterpret_cast<const uint2*>(p + d);
      const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
      const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
      out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
      return;
    }
  }
#pragma unroll
  for (int t = 0; t < Vec; ++t)
    out[t] = d + t < n ? __bfloat162float(p[d + t]) : 0.0f;
}

// Lane `lane` covers dims dim(e, t) = (Vec == 4 ? 4 lane + 128 e : lane + 32 e) + t.
template <int Vec>
__device__ __forceinline__ int dim_of(int lane, int e) {
  return Vec == 4 ? 4 * lane + 128 * e : lane + 32 * e;
}

// grid (nkv * head groups, splits); a block handles up to GB query heads of one KV head over one split.
template <int GB, int E, int Vec>
__global__ void __launch_bounds__(kAttnWarps * 32) attn_decode_kernel(AttnDecodeArgs a) {
  pdl_begin();
  __shared__ float sm_m[kAttnWarps][GB], sm_l[kAttnWarps][GB];
  __shared__ float sm_acc[kAttnWarps][GB][E * Vec * 32];
  const int G = a.nh / a.nkv, groups = (G + GB - 1) / GB;
  const int kvh = blockIdx.x / groups;
  const int h0 = kvh * G + (blockIdx.x % groups) * GB;
  const int nheads = min(GB, kvh * G + G - h0);
  const int pos = a.params->pos;
  const int64_t first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  const int64_t s = blockIdx.y;
  const int64_t j0 = max(s * a.chunk, first), j1 = min((s + 1) * a.chunk, int64_t(pos) + 1);
  if (j0 >= j1) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  float q[GB][E][Vec], acc[GB][E][Vec], m[GB], l[GB];
#pragma unroll
  for (int g = 0; g < GB; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e)
#pragma unroll
      for (int t = 0; t < Vec; ++t) {
        const int d = dim_of<Vec>(lane, e) + t;
        q[g][e][t] = g < nheads && d < a.hd ? a.q[int64_t(h0 + g) * a.hd + d] * a.scale : 0.0f;
        acc[g][e][t] = 0.0f;
      }
  }
  const bf16* kbase = a.k + int64_t(kvh) * a.hd;
  const bf16* vbase = a.v + int64_t(kvh) * a.vd;
  // Two keys per iteration (j and j + kAttnWarps): their loads are in flight together.
  for (int64_t j = j0 + warp; j < j1; j += 2 * kAttnWarps) {
    const bool two = j + kAttnWarps < j1;  // uniform across the warp
    const int64_t j2 = two ? j + kAttnWarps : j;
    float k0[E][Vec], v0[E][Vec], k1[E][Vec], v1[E][Vec];
#pragma unroll
    for (int e = 0; e < E; ++e) {
      load_vec<Vec>(kbase + j * a.k_stride, dim_of<Vec>(lane, e), a.hd, k0[e]);
      load_vec<Vec>(kbase + j2 * a.k_stride, dim_of<Vec>(lane, e), a.hd, k1[e]);
    }
#pragma unroll
    for (int e = 0; e < E; ++e) {
      load_vec<Vec>(vbase + j * a.v_stride, dim_of<Vec>(lane, e), a.vd, v0[e]);
      load_vec<Vec>(vbase + j2 * a.v_stride, dim_of<Vec>(lane, e), a.vd, v1[e]);
    }
#pragma unroll
    for (int g = 0; g < GB; ++g) {
      float p0 = 0.0f, p1 = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e)
#pragma unroll
        for (int t = 0; t < Vec; ++t) {
          p0 = fmaf(q[g][e][t], k0[e][t], p0);
          p1 = fmaf(q[g][e][t], k1[e][t], p1);
        }
      const float s0 = warp_sum(p0), s1 = two ? warp_sum(p1) : -INFINITY;
      const float m_new = fmaxf(m[g], fmaxf(s0, s1));
      const float corr = expf(m[g] - m_new), e0 = expf(s0 - m_new), e1 = two ? expf(s1 - m_new) : 0.0f;
      l[g] = l[g] * corr + e0 + e1;
      m[g] = m_new;
#pragma unroll
      for (int e = 0; e < E; ++e)
#pragma unroll
        for (int t = 0; t < Vec; ++t)
          acc[g][e][t] = fmaf(e1, v1[e][t], fmaf(e0, v0[e][t], acc[g][e][t] * corr));
    }
  }
  // Merge the warps of the block.
#pragma unroll
  for (int g = 0; g < GB; ++g) {
    if (lane == 0) {
      sm_m[warp][g] = m[g];
      sm_l[warp][g] = l[g];
    }
#pragma unroll
    for (int e = 0; e < E; ++e)
#pragma unroll
      for (int t = 0; t < Vec; ++t) {
        const int d = dim_of<Vec>(lane, e) + t;
        if (d < a.vd) sm_acc[warp][g][d] = acc[g][e][t];
      }
  }
  __syncthreads();
  for (int g = 0; g < nheads; ++g) {
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w)
      M = fmaxf(M, sm_m[w][g]);
    float scale_w[kAttnWarps], L = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) {
      scale_w[w] = sm_m[w][g] == -INFINITY ? 0.0f : expf(sm_m[w][g] - M);
      L += sm_l[w][g] * scale_w[w];
    }
    float* out = a.partial + (s * a.nh + h0 + g) * (a.vd + 2);
    for (int d = threadIdx.x; d < a.vd; d += blockDim.x) {
      float sum = 0.0f;
#pragma unroll
      for (int w = 0; w < kAttnWarps; ++w)
        sum += sm_acc[w][g][d] * scale_w[w];
      out[d] = sum;
    }
    if (threadIdx.x == 0) {
      out[a.vd] = M;
      out[a.vd + 1] = L;
    }
  }
}

// One block per query head: merges the splits that hold positions of this step. The splits' maxima and
// sums are read in parallel into shared memory first (a serial loop of dependent loads took microseconds).
__global__ void __launch_bounds__(128) attn_combine_kernel(AttnDecodeArgs a) {
  pdl_begin();
  __shared__ float weight[kMaxSplits];
  __shared__ float inv_total;
  const int h = blockIdx.x, pos = a.params->pos;
  const int64_t first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  const int64_t s0 = first / a.chunk, n = pos / a.chunk - s0 + 1;
  __shared__ float scratch[33];
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float m = a.partial[((s0 + i) * a.nh + h) * (a.vd + 2) + a.vd];
    weight[i] = m;
    mx = fmaxf(mx, m);
  }
  // Block maximum via the sum helper's scratch: max of maxima.
  mx = warp_max(mx);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = mx;
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < int(blockDim.x >> 5); ++w)
    M = fmaxf(M, scratch[w]);
  float l = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float w = expf(weight[i] - M);
    weight[i] = w;
    l += a.partial[((s0 + i) * a.nh + h) * (a.vd + 2) + a.vd + 1] * w;
  }
  const float L = block_sum(l, scratch);
  if (threadIdx.x == 0) inv_total = 1.0f / L;
  __syncthreads();
  for (int d = threadIdx.x; d < a.vd; d += blockDim.x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i)
      sum += a.partial[((s0 + i) * a.nh + h) * (a.vd + 2) + d] * weight[i];
    a.out[int64_t(h) * a.vd + d] = sum * inv_total;
  }
}

__global__ void embed_kernel(const bf16* table, int64_t hidden, const StepParams* params, float* x) {
  const bf16* row = table + int64_t(params->token) * hidden;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < hidden;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = __bfloat162float(row[i]);
}

template <int GB, int E, int Vec>
void launch_decode(const AttnDecodeArgs& a, cudaStream_t s) {
  const int G = a.nh / a.nkv;
  dim3 grid(unsigned(a.nkv * ((G + GB - 1) / GB)), unsigned(a.splits));
  launch_pdl(attn_decode_kernel<GB, E, Vec>, grid, kAttnWarps * 32, 0, s, a);
}

template <int E, int Vec>
void launch_decode_e(const AttnDecodeArgs& a, int gb, cudaStream_t s) {
  if constexpr (E <= 2)
    if (gb >= 8) return launch_decode<8, E, Vec>(a, s);
  if (gb >= 4) return launch_decode<4, E, Vec>(a, s);
  if (gb >= 2) return launch_decode<2, E, Vec>(a, s);
  launch_decode<1, E, Vec>(a, s);
}

}  // namespace

void launch_attn_prep(const AttnPrepArgs& a, cudaStream_t s) {
  if (a.hd > kMaxHead || a.vd > kMaxHead) throw Error("attention: head size over 1024 is not supported");
  launch_pdl(attn_prep_kernel, unsigned(a.nh + 2 * a.nkv), kPrepThreads, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_prep(const MlaPrepArgs& a, cudaStream_t s) {
  if (a.rope > kMaxHead) throw Error("MLA: rotary size over 1024 is not supported");
  launch_pdl(mla_prep_kernel, 1, 256, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_query(const MlaQueryArgs& a, cudaStream_t s) {
  if (a.nope + a.rope > kMaxHead) throw Error("MLA: head size over 1024 is not supported");
  launch_pdl(mla_query_kernel, dim3(unsigned(a.nh), unsigned((a.r + 127) / 128)), 128, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_value(const MlaValueArgs& a, cudaStream_t s) {
  launch_pdl(mla_value_kernel, unsigned((int64_t(a.nh) * a.vd + 3) / 4), 128, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_attn_decode(const AttnDecodeArgs& a, cudaStream_t s) {
  const bool vec4 = a.hd % 4 == 0 && a.vd % 4 == 0 && a.k_stride % 4 == 0 && a.v_stride % 4 == 0;
  const int width = std::max(a.hd, a.vd);
  const int G = a.nh / a.nkv;
  if (vec4) {
    const int e = (width + 127) / 128;
    switch (e) {
      case 1:
        launch_decode_e<1, 4>(a, G, s);
        break;
      case 2:
        launch_decode_e<2, 4>(a, G, s);
        break;
      case 3:
        launch_decode_e<3, 4>(a, G, s);
        break;
      case 4:
        launch_decode_e<4, 4>(a, G, s);
        break;
      case 5:
        launch_decode_e<5, 4>(a, G, s);
        break;
      default:
        throw Error("attention: head size " + std::to_string(width) + " is not supported (max 640)");
    }
  } else {
    const int e = (width + 31) / 32;
    if (e == 1)
      launch_decode_e<1, 1>(a, G, s);
    else if (e == 2)
      launch_decode_e<2, 1>(a, G, s);
    else if (e <= 4)
      launch_decode_e<4, 1>(a, G, s);
    else if (e <= 8)
      launch_decode_e<8, 1>(a, G, s);
    else
      throw Error("attention: head size " + std::to_string(width) + " not a multiple of 4 over 256");
  }
  MOE_CUDA_LAUNCHED();
  launch_pdl(attn_combine_kernel, unsigned(a.nh), 128, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

void launch_embed(const bf16* table, int64_t hidden, const StepParams* params, float* x, cudaStream_t s) {
  embed_kernel<<<unsigned((hidden + 255) / 256), 256, 0, s>>>(table, hidden, params, x);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
