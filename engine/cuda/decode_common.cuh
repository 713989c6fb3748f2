// Device helpers shared by the decode kernels: warp and block reductions, 16-byte bf16 weight loads that
// bypass L1 (weights are streamed once per step), and the block-wide load of an input vector into shared
// memory with the RMSNorm of the layer folded in.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <utility>

#include "cuda/cuda_check.h"

#include "cuda/cuda_context.h"

namespace moe::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Sum over the block (any size up to 1024 threads); every thread gets the result. `scratch` holds 33 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float t = lane < warps ? scratch[lane] : 0.0f;
    t = warp_sum(t);
    if (lane == 0) scratch[32] = t;
  }
  __syncthreads();
  return scratch[32];
}

// 8 bf16 weights from a 16-byte aligned address, streamed (evict-first: they are not reused this step).
__device__ __forceinline__ uint4 load_weights8(const bf16* p) {
  return __ldcs(reinterpret_cast<const uint4*>(p));
}

// x must be 16-byte aligned: two 16-byte shared-memory loads (a lane's 32 bytes) instead of eight 4-byte
// ones, which with lanes 32 bytes apart would be 8-way bank conflicts.
__device__ __forceinline__ float dot8(const uint4& w, const float* x) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&w);
  const float4 xa = *reinterpret_cast<const float4*>(x), xb = *reinterpret_cast<const float4*>(x + 4);
  const float2 f0 = __bfloat1622float2(h[0]), f1 = __bfloat1622float2(h[1]), f2 = __bfloat1622float2(h[2]),
               f3 = __bfloat1622float2(h[3]);
  float s = f0.x * xa.x;
  s = fmaf(f0.y, xa.y, s);
  s = fmaf(f1.x, xa.z, s);
  s = fmaf(f1.y, xa.w, s);
  s = fmaf(f2.x, xb.x, s);
  s = fmaf(f2.y, xb.y, s);
  s = fmaf(f3.x, xb.z, s);
  return fmaf(f3.y, xb.w, s);
}

// acc[i] += h * w[i] over 8 bf16 weights.
__device__ __forceinline__ void axpy8(float h, const uint4& w, float (&acc)[8]) {
  const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&w);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __bfloat1622float2(p[k]);
    acc[2 * k] = fmaf(h, f.x, acc[2 * k]);
    acc[2 * k + 1] = fmaf(h, f.y, acc[2 * k + 1]);
  }
}

// The vector path needs n % 8 == 0 (rows stay 16-byte aligned) and a 16-byte aligned input vector.
__device__ __forceinline__ bool vector_path(int64_t n, const float* x) {
  return (n & 7) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0;
}

// Dot product of one weight row (n bf16) with xs (shared memory, fp32) by one warp; every lane gets it.
// Vectorised (16-byte loads, four in flight per lane) when n % 8 == 0, which also keeps rows aligned.
__device__ __forceinline__ float warp_dot_row(const bf16* row, const float* xs, int64_t n) {
  const int lane = threadIdx.x & 31;
  float acc = 0.0f;
  if (vector_path(n, xs)) {
    int64_t c = int64_t(lane) * 8;
    for (; c + 3 * 256 < n; c += 4 * 256) {
      uint4 w0 = load_weights8(row + c), w1 = load_weights8(row + c + 256), w2 = load_weights8(row + c + 512),
            w3 = load_weights8(row + c + 768);
      acc += dot8(w0, xs + c) + dot8(w1, xs + c + 256) + dot8(w2, xs + c + 512) + dot8(w3, xs + c + 768);
    }
    for (; c < n; c += 256)
      acc += dot8(load_weights8(row + c), xs + c);
  } else {
    for (int64_t c = lane; c < n; c += 32)
      acc = fmaf(__bfloat162float(row[c]), xs[c], acc);
  }
  return warp_sum(acc);
}

// The 8 bf16 of a 16-byte load as floats.
__device__ __forceinline__ void unpack8(const uint4& u, float (&f)[8]) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __bfloat1622float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

// The paired dot's loops from column c on (c = lane * 8 plus a multiple of 1,024), added to sa and sb: eight
// 16-byte loads in flight per lane, then four, then two.
__device__ __forceinline__ void warp_dot_2_from(const bf16* ra, const float* xa, const bf16* rb,
                                                const float* xb, int64_t n, int64_t c, float& sa, float& sb) {
  for (; c + 768 < n; c += 1024) {
    uint4 a0 = load_weights8(ra + c), a1 = load_weights8(ra + c + 256), a2 = load_weights8(ra + c + 512),
          a3 = load_weights8(ra + c + 768), b0 = load_weights8(rb + c), b1 = load_weights8(rb + c + 256),
          b2 = load_weights8(rb + c + 512), b3 = load_weights8(rb + c + 768);
    sa += (dot8(a0, xa + c) + dot8(a1, xa + c + 256)) + (dot8(a2, xa + c + 512) + dot8(a3, xa + c + 768));
    sb += (dot8(b0, xb + c) + dot8(b1, xb + c + 256)) + (dot8(b2, xb + c + 512) + dot8(b3, xb + c + 768));
  }
  for (; c + 256 < n; c += 512) {
    uint4 a0 = load_weights8(ra + c), a1 = load_weights8(ra + c + 256), b0 = load_weights8(rb + c),
          b1 = load_weights8(rb + c + 256);
    sa += dot8(a0, xa + c) + dot8(a1, xa + c + 256);
    sb += dot8(b0, xb + c) + dot8(b1, xb + c + 256);
  }
  for (; c < n; c += 256) {
    sa += dot8(load_weights8(ra + c), xa + c);
    sb += dot8(load_weights8(rb + c), xb + c);
  }
}

// Two dot products at once (gate and up of one neuron, or two output rows): twice the loads in flight of
// one. Each row has its own input vector; equal lengths take the paired path.
__device__ __forceinline__ void warp_dot_2(const bf16* ra, const float* xa, int64_t na, const bf16* rb,
                                           const float* xb, int64_t nb, float& a, float& b) {
  if (na != nb || !vector_path(na, xa) || !vector_path(nb, xb)) {
    a = warp_dot_row(ra, xa, na);
    b = warp_dot_row(rb, xb, nb);
    return;
  }
  float sa = 0.0f, sb = 0.0f;
  warp_dot_2_from(ra, xa, rb, xb, na, int64_t(threadIdx.x & 31) * 8, sa, sb);
  a = warp_sum(sa);
  b = warp_sum(sb);
}

// The first iteration of a paired dot (warp_dot_2 over one input, n >= 1024 columns): eight 16-byte loads per
// lane held in registers, so that they can be issued before the wait for the previous kernel.
struct PreLoad {
  uint4 w[8];
};
__device__ __forceinline__ void preload_pair(const bf16* ra, const bf16* rb, PreLoad& p) {
  const int64_t c = int64_t(threadIdx.x & 31) * 8;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    p.w[k] = load_weights8(ra + c + 256 * k);
    p.w[4 + k] = load_weights8(rb + c + 256 * k);
  }
}
// warp_dot_2 of two rows over one xs (n >= 1024, the same sums in the same order), its first iteration's
// loads already in `p`.
__device__ __forceinline__ void warp_dot_2_pre(const bf16* ra, const bf16* rb, const float* xs, int64_t n,
                                               const PreLoad& p, float& a, float& b) {
  const int64_t c = int64_t(threadIdx.x & 31) * 8;
  float sa = (dot8(p.w[0], xs + c) + dot8(p.w[1], xs + c + 256)) +
             (dot8(p.w[2], xs + c + 512) + dot8(p.w[3], xs + c + 768));
  float sb = (dot8(p.w[4], xs + c) + dot8(p.w[5], xs + c + 256)) +
             (dot8(p.w[6], xs + c + 512) + dot8(p.w[7], xs + c + 768));
  warp_dot_2_from(ra, xs, rb, xs, n, c + 1024, sa, sb);
  a = warp_sum(sa);
  b = warp_sum(sb);
}

// The FFN kernel adds its output to the residual as int64 sums in units of 2^-32 (integer additions in any
// order give the same sum: a deterministic result without a fixed-order reduction); the kernel after it
// adds them into x as it loads x (load_input's `ffn`).
constexpr float kFixedScale = 4294967296.0f;  // 2^32
constexpr float kFixedUnit = 1.0f / kFixedScale;
__device__ __forceinline__ float from_fixed(long long v) {
  return __ll2float_rn(v) * kFixedUnit;
}
// v in the fixed point, for an atomic add. A sum must stay below 2^31 (int64 in units of 2^-32); each of its
// parts is kept below kFixedPartLimit, so sums of up to 256 parts (an FFN's blocks, a projection's heads, a
// merge's slices) cannot wrap. A larger, infinite or NaN part would wrap or saturate silently, so the first
// tag (the layer + 1) to meet one goes to *report (SampleOut::nonfinite_*), which the host reads with the
// sampled token.
constexpr float kFixedPartLimit = 8388608.0f;  // 2^23
__device__ __forceinline__ unsigned long long to_fixed(float v, int32_t* report, int32_t tag) {
  if (!(fabsf(v) < kFixedPartLimit) && report && *reinterpret_cast<volatile int32_t*>(report) == 0)
    atomicCAS(report, 0, tag);
  return static_cast<unsigned long long>(__float2ll_rn(v * kFixedScale));
}
// Element i of a fixed-point vector another block of this step wrote (through L2: __ldcg).
__device__ __forceinline__ float load_fixed(const int64_t* p, int64_t i) {
  return from_fixed(__ldcg(reinterpret_cast<const long long*>(p) + i));
}

// Loads n floats of x into xs (shared memory). With ffn (int64, units of 2^-32), x + ffn, which block 0
// also stores to x_out. With norm_w, applies RMSNorm as the CPU does:
// xs[i] = w[i] * (x[i] / sqrt(mean(x^2) + eps)). All threads of the block must call it. The usual case (n a
// multiple of 4, aligned, at most 32 floats per thread) issues every load of x and w at once: one memory
// round trip before the reduction instead of one per loop iteration (two with ffn and V > 2: the norm
// weights, an L2 hit, after x and ffn, for registers).
constexpr int kInputVectors = 8;  // float4s per thread held in registers

template <int V = kInputVectors>  // V float4s per thread: the one-round-trip path takes n <= blockDim * 4 * V
__device__ __forceinline__ void load_input(float* xs, const float* x, int64_t n, const float* norm_w,
                                           float eps, float* scratch, const int64_t* ffn = nullptr,
                                           float* x_out = nullptr) {
  const auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  if ((n & 3) == 0 && n <= int64_t(blockDim.x) * 4 * V && aligned(x) && aligned(xs) &&
      (!norm_w || aligned(norm_w)) && (!ffn || aligned(ffn)) && (!x_out || aligned(x_out))) {
    const int n4 = int(n / 4);
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const float4* w4 = reinterpret_cast<const float4*>(norm_w);
    float4* xs4 = reinterpret_cast<float4*>(xs);
    float4 v[V], w[V];
    if (ffn) {
      const longlong2* f2 = reinterpret_cast<const longlong2*>(ffn);
      longlong2 f[V][2];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int i = threadIdx.x + k * blockDim.x;
        if (i < n4) {
          v[k] = x4[i];
          f[k][0] = __ldcg(f2 + 2 * i);
          f[k][1] = __ldcg(f2 + 2 * i + 1);
          if (norm_w && V <= 2) w[k] = __ldg(w4 + i);
        }
      }
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int i = threadIdx.x + k * blockDim.x;
        if (i < n4) {
          v[k].x += from_fixed(f[k][0].x);
          v[k].y += from_fixed(f[k][0].y);
          v[k].z += from_fixed(f[k][1].x);
          v[k].w += from_fixed(f[k][1].y);
          if (x_out && blockIdx.x == 0) reinterpret_cast<float4*>(x_out)[i] = v[k];
        }
      }
      if (norm_w && V > 2)
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const int i = threadIdx.x + k * blockDim.x;
          if (i < n4) w[k] = __ldg(w4 + i);
        }
    } else {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int i = threadIdx.x + k * blockDim.x;
        if (i < n4) {
          v[k] = x4[i];
          if (norm_w) w[k] = __ldg(w4 + i);
        }
      }
    }
    if (norm_w) {
      float ss = 0.0f;
#pragma unroll
      for (int k = 0; k < V; ++k)
        if (threadIdx.x + k * blockDim.x < n4)
          ss = fmaf(v[k].w, v[k].w, fmaf(v[k].z, v[k].z, fmaf(v[k].y, v[k].y, fmaf(v[k].x, v[k].x, ss))));
      const float inv = rsqrtf(block_sum(ss, scratch) / float(n) + eps);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        v[k].x = w[k].x * (v[k].x * inv);
        v[k].y = w[k].y * (v[k].y * inv);
        v[k].z = w[k].z * (v[k].z * inv);
        v[k].w = w[k].w * (v[k].w * inv);
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int i = threadIdx.x + k * blockDim.x;
      if (i < n4) xs4[i] = v[k];
    }
    __syncthreads();
    return;
  }
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = x[i];
    if (ffn) {
      v += load_fixed(ffn, i);
      if (x_out && blockIdx.x == 0) x_out[i] = v;
    }
    xs[i] = v;
    ss = fmaf(v, v, ss);
  }
  if (norm_w) {
    const float inv = rsqrtf(block_sum(ss, scratch) / float(n) + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      xs[i] = norm_w[i] * (xs[i] * inv);
  }
  __syncthreads();
}

__device__ __forceinline__ float silu(float v) {
  return v / (1.0f + expf(-v));
}

__device__ __forceinline__ float sigmoid(float v) {
  return 1.0f / (1.0f + expf(-v));
}

// 16 bytes global -> shared without registers (cp.async); src_bytes 0 writes zeros (e.g. rows past a
// flash-decoding split).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool ok) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(ok ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// Programmatic dependent launch: every decode kernel is launched with launch_pdl, so the next kernel's
// launch overlaps this one's tail; each kernel first waits for its predecessor's results (pdl_begin), then
// lets its own successor start launching.
__device__ __forceinline__ void pdl_begin() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

// For kernels whose first weights do not depend on the previous kernel: let the successor launch, ask L2
// for `n` elements of up to two weight rows (one 128-byte line per lane and step) and for the norm weights
// (by the first block only: they are a DRAM miss, as every step streams far more than L2 holds, and all
// blocks asking for the same lines congest them), then wait. The prefetches run while the previous kernel
// drains.
__device__ __forceinline__ void pdl_begin_prefetching(const bf16* row_a, const bf16* row_b, int64_t n,
                                                      const float* norm = nullptr, int64_t norm_n = 0) {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  const int lane = threadIdx.x & 31;
  for (int64_t c = int64_t(lane) * 64; c < n; c += 32 * 64) {
    if (row_a) asm volatile("prefetch.global.L2 [%0];" ::"l"(row_a + c));
    if (row_b) asm volatile("prefetch.global.L2 [%0];" ::"l"(row_b + c));
  }
  if (norm && blockIdx.x == 0 && threadIdx.x < 32)
    for (int64_t c = int64_t(lane) * 32; c < norm_n; c += 32 * 32)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(norm + c));
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

// Every kernel of the decode step asks for the same split of the SM's L1 and shared memory (all shared). With
// the driver's choice, which follows each kernel's own shared memory, the split changed between consecutive
// kernels; an SM drains before it changes the split, which undid part of the launch overlap. Measured
// (H100, bench/cuda_decode_notes.md, version 48): Qwen1.5-MoE +1.4 %, OLMoE +2.5 %, Qwen3-30B +3.2 %; small
// splits for the GEMV and attention kernels instead cost 11-13 %.
template <class Kernel>
void prefer_max_shared(Kernel* kernel) {
  MOE_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                      cudaFuncAttributePreferredSharedMemoryCarveout,
                                      int(cudaSharedmemCarveoutMaxShared)));
}

// SMs of the device the first call sees (the decode kernels size their grids by it).
inline int sm_count() {
  static const int count = [] {
    int dev = 0, n = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&dev));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return count;
}

// A launch with programmatic dependent launch allowed; `cooperative` also asks the driver to make every block
// resident at once (or to refuse the launch), for kernels whose blocks wait for each other.
template <class... Params, class... Args>
void launch_pdl_config(bool cooperative, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                       cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  attr[1].id = cudaLaunchAttributeCooperative;
  attr[1].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = cooperative ? 2 : 1;
  check(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), "cudaLaunchKernelEx", __FILE__,
        __LINE__);
}

template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                Args&&... args) {
  launch_pdl_config(false, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

}  // namespace moe::cuda
