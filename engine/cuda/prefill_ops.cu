// Element-wise and per-row kernels of the prefill: embedding gather, RMSNorm to bf16, the rotary table,
// the post-processing of the fused q/k/v projection (bias, q/k norm, clip, rope, cache append) for standard
// attention and MLA, bias add, and the weighted un-permute of expert outputs into the residual stream.
// Each is memory-bound and small next to the GEMMs (a few MB per layer); they follow the CPU oracle's
// order of operations (engine/cpu/attention.cpp, ffn.cpp) so only the precision differs.
#include <cmath>

#include <cuda_fp16.h>

#include "cuda/cuda_check.h"
#include "cuda/prefill_common.cuh"
#include "cuda/prefill_kernels.h"

namespace moe::cuda {
namespace {

using pf::block_sum;

__global__ void embed_kernel(const int32_t* tokens, const bf16* embed, int64_t H, float* x) {
  const int64_t t = blockIdx.x;
  const bf16* row = embed + int64_t(tokens[t]) * H;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    x[t * H + i] = __bfloat162float(row[i]);
}

__global__ void rmsnorm_bf16_kernel(const float* x, const float* w, int64_t H, float eps, bf16* out,
                                    float* out32, bf16* lo) {
  __shared__ float scratch[32];
  const int64_t t = blockIdx.x;
  const float* xr = x + t * H;
  float ss = 0;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    ss += xr[i] * xr[i];
  ss = block_sum(ss, scratch);
  const float inv = float(1.0 / sqrt(double(ss) / double(H) + double(eps)));
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    const float v = w[i] * (xr[i] * inv);
    pf::store_split(v, out + t * H + i, lo ? lo + t * H + i : nullptr);
    if (out32) out32[t * H + i] = v;
  }
}

__global__ void bf16_to_f32_kernel(const bf16* in, int64_t count, float* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __bfloat162float(in[i]);
}

__global__ void bf16_to_f16_kernel(const bf16* in, int64_t count, __half* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __float2half_rn(__bfloat162float(in[i]));
}

__global__ void rope_table_kernel(const float* inv_freq, int64_t half, int64_t pos0, int64_t n, float scale,
                                  float* cs) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * half) return;
  const int64_t t = idx / half, i = idx % half;
  const float angle = float(pos0 + t) * inv_freq[i];  // float32 product, as transformers forms it
  cs[idx] = float(cos(double(angle))) * scale;
  cs[n * half + idx] = float(sin(double(angle))) * scale;
}

// Rotates pairs of v[0..2*half) in place with the table row (cos c, sin s) of one position.
__device__ void rope_inplace(float* v, const float* c, const float* s, int64_t half, bool interleaved,
                             int64_t i) {
  const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
  const float x0 = v[a], x1 = v[b];
  v[a] = x0 * c[i] - x1 * s[i];
  v[b] = x1 * c[i] + x0 * s[i];
}

// RMSNorm of `rows` segments of `dim` floats in shared memory, one warp per segment.
__device__ void norm_segments(float* base, int64_t rows, int64_t dim, const float* w, float eps) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t r = warp; r < rows; r += warps) {
    float* v = base + r * dim;
    float ss = 0;
    for (int64_t i = lane; i < dim; i += 32)
      ss += v[i] * v[i];
    ss = pf::warp_sum(ss);
    const float inv = float(1.0 / sqrt(double(ss) / double(dim) + double(eps)));
    __syncwarp();
    for (int64_t i = lane; i < dim; i += 32)
      v[i] = w[i] * (v[i] * inv);
  }
}

__global__ void qkv_post_kernel(QkvPostArgs a) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  const int64_t t = blockIdx.x;
  const int64_t nq = a.nh * a.hd, nk = a.nkv * a.hd, nv = a.nkv * a.vd, rows = a.qkv_rows;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x)
    row[i] = a.qkv[t * rows + i] + (a.bias ? a.bias[i] : 0.0f);
  __syncthreads();
  if (a.qk_norm == 1) {
    norm_segments(row, a.nh, a.hd, a.q_norm, a.eps);
    norm_segments(row + nq, a.nkv, a.hd, a.k_norm, a.eps);
  } else if (a.qk_norm == 2) {
    for (int part = 0; part < 2; ++part) {
      float* v = row + (part ? nq : 0);
      const int64_t dim = part ? nk : nq;
      const float* w = part ? a.k_norm : a.q_norm;
      float ss = 0;
      for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        ss += v[i] * v[i];
      ss = block_sum(ss, scratch);
      const float inv = float(1.0 / sqrt(double(ss) / double(dim) + double(a.eps)));
      for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        v[i] = w[i] * (v[i] * inv);
    }
  }
  __syncthreads();
  if (a.clip > 0)
    for (int64_t i = threadIdx.x; i < nq + nk + nv; i += blockDim.x)
      row[i] = fminf(fmaxf(row[i], -a.clip), a.clip);
  __syncthreads();
  const float* c = a.cs + t * a.half;
  const float* s = a.cs + a.n * a.half + t * a.half;
  for (int64_t idx = threadIdx.x; idx < (a.nh + a.nkv) * a.half; idx += blockDim.x) {
    const int64_t h = idx / a.half, i = idx % a.half;
    rope_inplace(row + h * a.hd, c, s, a.half, a.interleaved, i);  // k heads follow the q heads
  }
  __syncthreads();
  const int64_t p = a.pos0 + t;
  for (int64_t i = threadIdx.x; i < nq; i += blockDim.x) {
    if (a.q_f16)
      static_cast<__half*>(a.q)[t * nq + i] = __float2half_rn(row[i]);
    else if (a.q_bf16)
      static_cast<bf16*>(a.q)[t * nq + i] = __float2bfloat16(row[i]);
    else
      static_cast<float*>(a.q)[t * nq + i] = row[i];
  }
  for (int64_t i = threadIdx.x; i < nk; i += blockDim.x) {
    a.k_cache[p * nk + i] = __float2bfloat16(row[nq + i]);
    if (a.k16) static_cast<__half*>(a.k16)[t * nk + i] = __float2half_rn(row[nq + i]);
  }
  for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
    a.v_cache[p * nv + i] = __float2bfloat16(row[nq + nk + i]);
    if (a.v16) static_cast<__half*>(a.v16)[t * nv + i] = __float2half_rn(row[nq + nk + i]);
  }
}

__global__ void mla_kv_kernel(MlaKvArgs a) {
  extern __shared__ float row[];  // [q_lora] then [r + rope]
  const int64_t t = blockIdx.x;
  const float* src = a.qkv + t * a.qkv_rows;
  const int64_t ql = a.q_lora, kw = a.r + a.rope;
  for (int64_t i = threadIdx.x; i < ql; i += blockDim.x)
    row[i] = src[i];
  for (int64_t i = threadIdx.x; i < kw; i += blockDim.x)
    row[ql + i] = src[a.q_rows + i];
  __syncthreads();
  if (threadIdx.x < 32) {
    if (ql > 0) norm_segments(row, 1, ql, a.q_a_norm, a.eps);
  } else if (threadIdx.x < 64) {
    // norm_segments assigns rows by warp index; shift so the second warp takes segment 0 of the latent.
    const int lane = threadIdx.x & 31;
    float* v = row + ql;
    float ss = 0;
    for (int64_t i = lane; i < a.r; i += 32)
      ss += v[i] * v[i];
    ss = pf::warp_sum(ss);
    const float inv = float(1.0 / sqrt(double(ss) / double(a.r) + double(a.eps)));
    __syncwarp();
    for (int64_t i = lane; i < a.r; i += 32)
      v[i] = a.kv_a_norm[i] * (v[i] * inv);
  }
  __syncthreads();
  const int64_t half = a.rope / 2;
  const float* c = a.cs + t * half;
  const float* s = a.cs + a.n * half + t * half;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x)
    rope_inplace(row + ql + a.r, c, s, half, a.interleaved, i);
  __syncthreads();
  bf16* dst = a.k_cache + (a.pos0 + t) * kw;
  for (int64_t i = threadIdx.x; i < kw; i += blockDim.x)
    dst[i] = __float2bfloat16(row[ql + i]);
  for (int64_t i = threadIdx.x; i < ql; i += blockDim.x)
    pf::store_split(row[i], a.qa + t * ql + i, a.qa_lo ? a.qa_lo + t * ql + i : nullptr);
}

__global__ void mla_q_kernel(const float* q, int64_t q_stride, int64_t nh, int64_t nope, int64_t rope,
                             bool interleaved, const float* cs, int64_t n, void* out, bool q_bf16) {
  extern __shared__ float row[];  // [nh, nope + rope]
  const int64_t t = blockIdx.x, hd = nope + rope, half = rope / 2;
  for (int64_t i = threadIdx.x; i < nh * hd; i += blockDim.x)
    row[i] = q[t * q_stride + i];
  __syncthreads();
  const float* c = cs + t * half;
  const float* s = cs + n * half + t * half;
  for (int64_t idx = threadIdx.x; idx < nh * half; idx += blockDim.x)
    rope_inplace(row + (idx / half) * hd + nope, c, s, half, interleaved, idx % half);
  __syncthreads();
  for (int64_t i = threadIdx.x; i < nh * hd; i += blockDim.x) {
    if (q_bf16)
      static_cast<bf16*>(out)[t * nh * hd + i] = __float2bfloat16(row[i]);
    else
      static_cast<float*>(out)[t * nh * hd + i] = row[i];
  }
}

// One block per key row: k_pe (already rotated in the cache) copied behind every head's k_nope.
__global__ void mla_kpe_kernel(const bf16* k_cache, int64_t kw, int64_t r, int64_t rope, int64_t j0,
                               int64_t nh, int64_t nope, bf16* keys) {
  const int64_t j = blockIdx.x, hd = nope + rope;
  const bf16* src = k_cache + (j0 + j) * kw + r;
  for (int64_t idx = threadIdx.x; idx < nh * rope; idx += blockDim.x)
    keys[(j * nh + idx / rope) * hd + nope + idx % rope] = src[idx % rope];
}

__global__ void silu_mul_kernel(const float* g, const float* u, int64_t count, bf16* out, bf16* lo) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) pf::store_split(g[i] / (1.0f + expf(-g[i])) * u[i], out + i, lo ? lo + i : nullptr);
}

__global__ void add_bias_kernel(float* x, const float* bias, int64_t H) {
  const int64_t t = blockIdx.x;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    x[t * H + i] += bias[i];
}

__global__ void moe_combine_kernel(float* x, const float* yperm, const int32_t* slot_of, const float* topk_w,
                                   const float* ys, const float* sgate, int64_t k, int64_t H) {
  const int64_t t = blockIdx.x;
  const float g = ys && sgate ? sgate[t] : 1.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    float acc = 0;
    for (int64_t r = 0; r < k; ++r)
      acc += topk_w[t * k + r] * yperm[int64_t(slot_of[t * k + r]) * H + i];
    if (ys) acc += g * ys[t * H + i];
    x[t * H + i] += acc;
  }
}

int threads_for(int64_t width) {
  return width >= 512 ? 256 : 128;
}

}  // namespace

void launch_embed(const int32_t* tokens, const bf16* embed, int64_t n, int64_t H, float* x, cudaStream_t st) {
  embed_kernel<<<unsigned(n), threads_for(H), 0, st>>>(tokens, embed, H, x);
  MOE_CUDA_LAUNCHED();
}

void launch_rmsnorm_bf16(const float* x, const float* w, int64_t n, int64_t H, double eps, bf16* out,
                         cudaStream_t st, float* out32, bf16* lo) {
  rmsnorm_bf16_kernel<<<unsigned(n), threads_for(H), 0, st>>>(x, w, H, float(eps), out, out32, lo);
  MOE_CUDA_LAUNCHED();
}

void launch_bf16_to_f32(const bf16* in, int64_t count, float* out, cudaStream_t st) {
  if (count <= 0) return;
  bf16_to_f32_kernel<<<unsigned((count + 255) / 256), 256, 0, st>>>(in, count, out);
  MOE_CUDA_LAUNCHED();
}

void launch_bf16_to_f16(const bf16* in, int64_t count, void* out, cudaStream_t st) {
  if (count <= 0) return;
  bf16_to_f16_kernel<<<unsigned((count + 255) / 256), 256, 0, st>>>(in, count, static_cast<__half*>(out));
  MOE_CUDA_LAUNCHED();
}

void launch_rope_table(const float* inv_freq, int64_t half, int64_t pos0, int64_t n, float scale, float* cs,
                       cudaStream_t st) {
  const int64_t total = n * half;
  if (total == 0) return;
  rope_table_kernel<<<unsigned((total + 255) / 256), 256, 0, st>>>(inv_freq, half, pos0, n, scale, cs);
  MOE_CUDA_LAUNCHED();
}

void launch_qkv_post(const QkvPostArgs& a, cudaStream_t st) {
  const size_t smem = size_t(a.qkv_rows) * sizeof(float);
  if (smem > 48 * 1024)
    MOE_CUDA_CHECK(
        cudaFuncSetAttribute(qkv_post_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  qkv_post_kernel<<<unsigned(a.n), 256, smem, st>>>(a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_kv(const MlaKvArgs& a, cudaStream_t st) {
  const size_t smem = size_t(a.q_lora + a.r + a.rope) * sizeof(float);
  mla_kv_kernel<<<unsigned(a.n), 128, smem, st>>>(a);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_q(const float* q, int64_t q_stride, int64_t n, int64_t nh, int64_t nope, int64_t rope,
                  bool interleaved, const float* cs, void* out, bool q_bf16, cudaStream_t st) {
  const size_t smem = size_t(nh * (nope + rope)) * sizeof(float);
  if (smem > 48 * 1024)
    MOE_CUDA_CHECK(
        cudaFuncSetAttribute(mla_q_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  mla_q_kernel<<<unsigned(n), 256, smem, st>>>(q, q_stride, nh, nope, rope, interleaved, cs, n, out, q_bf16);
  MOE_CUDA_LAUNCHED();
}

void launch_mla_kpe(const bf16* k_cache, int64_t kw, int64_t r, int64_t rope, int64_t j0, int64_t cnt,
                    int64_t nh, int64_t nope, bf16* keys, cudaStream_t st) {
  if (cnt <= 0) return;
  mla_kpe_kernel<<<unsigned(cnt), 256, 0, st>>>(k_cache, kw, r, rope, j0, nh, nope, keys);
  MOE_CUDA_LAUNCHED();
}

void launch_silu_mul(const float* g, const float* u, int64_t count, bf16* out, cudaStream_t st, bf16* lo) {
  if (count <= 0) return;
  silu_mul_kernel<<<unsigned((count + 255) / 256), 256, 0, st>>>(g, u, count, out, lo);
  MOE_CUDA_LAUNCHED();
}

void launch_add_bias(float* x, const float* bias, int64_t n, int64_t H, cudaStream_t st) {
  add_bias_kernel<<<unsigned(n), threads_for(H), 0, st>>>(x, bias, H);
  MOE_CUDA_LAUNCHED();
}

void launch_moe_combine(float* x, const float* yperm, const int32_t* slot_of, const float* topk_w,
                        const float* ys, const float* sgate, int64_t n, int64_t k, int64_t H,
                        cudaStream_t st) {
  moe_combine_kernel<<<unsigned(n), threads_for(H), 0, st>>>(x, yperm, slot_of, topk_w, ys, sgate, k, H);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
