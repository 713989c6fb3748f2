// Flash attention of a prefill chunk over the bf16 KV cache: causal (query t at position pos0 + t sees keys
// [first, pos0 + t]), GQA (query head h reads kv head h / (nh / nkv)), sliding windows, with the online
// softmax, so no score matrix is stored. MLA runs decompressed (prefill.cu): keys [k_nope | k_pe] (192 per
// head on real models) and values (128) rebuilt from the latent cache a segment of rows at a time, the
// softmax state carried between segments in fp32 (see AttentionArgs).
//
// Two kernels. flash_attn_tc: head sizes 64, 128 or 192/128 (real models), tensor cores via mma.sync, a block
// of 64 queries x one head, K/V tiles of 64 keys double-buffered with cp.async, P kept in registers between
// the two products (FlashAttention-2's layout); on bf16 q/k/v/P, or on fp16 ones (AttentionArgs::f16: the
// same speed, 8x finer rounding; prefill.cu uses it for standard attention, see its Precision notes). Work: 2
// * n * L * nh * (dk + dv) FLOPs (half of it masked away by causality). attn_generic: any sizes up to values
// of 512 (the fixtures' heads of 8, 12, 20), one warp per (query, head), fp32 math; it is the reference the
// fast kernel is checked against on the real shapes.
#include <cmath>

#include "cuda/cuda_check.h"
#include "cuda/prefill_common.cuh"
#include "cuda/prefill_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

using namespace pf;

constexpr int kGenericWarps = 4;
constexpr int kGenericMaxV = 16;  // value size up to 32 * 16 = 512 (MLA latents)

__global__ void attn_generic_kernel(AttentionArgs a) {
  extern __shared__ float qs_all[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t id = int64_t(blockIdx.x) * kGenericWarps + warp;
  if (id >= a.n * a.nh) return;
  const int64_t t = id / a.nh, h = id % a.nh, g = h / (a.nh / a.nkv);
  float* qs = qs_all + warp * a.dk;
  const float* qv = static_cast<const float*>(a.q) + (t * a.nh + h) * a.q_width;
  for (int64_t i = lane; i < a.dk; i += 32)
    qs[i] = qv[i];
  __syncwarp();
  const int64_t p = a.pos0 + t;
  int64_t first = a.window > 0 ? imax(0, p - a.window + 1) : 0;
  int64_t last = p;
  if (a.seg_hi > 0) {
    first = imax(first, a.seg_lo);
    last = imin(last, a.seg_hi - 1);
  }
  float m = -INFINITY, l = 0, acc[kGenericMaxV];
  const int64_t sid = t * a.nh + h;
  if (a.load_state) {  // state from the previous key segment (m, l warp-uniform)
    m = a.state_ml[sid * 2];
    l = a.state_ml[sid * 2 + 1];
  }
#pragma unroll
  for (int c = 0; c < kGenericMaxV; ++c) {
    const int64_t d = lane + 32 * c;
    acc[c] = a.load_state && d < a.dv ? a.state_o[sid * a.dv + d] : 0.0f;
  }
  for (int64_t j0 = first; j0 <= last; j0 += 32) {
    const int64_t j = j0 + lane;
    float s = -INFINITY;
    if (j <= last) {
      const bf16* kr = a.k + (j - a.kv_base) * a.k_row + g * a.k_head;
      float d = 0;
      for (int64_t i = 0; i < a.dk; ++i)
        d += qs[i] * __bfloat162float(kr[i]);
      s = d * a.scale;
    }
    const float mn = fmaxf(m, warp_max(s));
    const float corr = expf(m - mn);
    const float pj = j <= last ? expf(s - mn) : 0.0f;
    l = l * corr + warp_sum(pj);
#pragma unroll
    for (int c = 0; c < kGenericMaxV; ++c)
      acc[c] *= corr;
    const int cnt = int(imin(32, last - j0 + 1));
    for (int jj = 0; jj < cnt; ++jj) {
      const float pp = __shfl_sync(0xffffffffu, pj, jj);
      const bf16* vr = a.v + (j0 + jj - a.kv_base) * a.v_row + g * a.v_head;
#pragma unroll
      for (int c = 0; c < kGenericMaxV; ++c) {
        const int64_t d = lane + 32 * c;
        if (d < a.dv) acc[c] += pp * __bfloat162float(vr[d]);
      }
    }
    m = mn;
  }
  if (a.store_state) {
    if (lane == 0) {
      a.state_ml[sid * 2] = m;
      a.state_ml[sid * 2 + 1] = l;
    }
#pragma unroll
    for (int c = 0; c < kGenericMaxV; ++c) {
      const int64_t d = lane + 32 * c;
      if (d < a.dv) a.state_o[sid * a.dv + d] = acc[c];
    }
    return;
  }
  const float inv = 1.0f / l;
  bf16* o = a.out + sid * a.dv;
  bf16* olo = a.out_lo ? a.out_lo + sid * a.dv : nullptr;
#pragma unroll
  for (int c = 0; c < kGenericMaxV; ++c) {
    const int64_t d = lane + 32 * c;
    if (d < a.dv) store_split(acc[c] * inv, o + d, olo ? olo + d : nullptr);
  }
}

constexpr int kBQ = 64, kBKV = 64;

template <int DK, int DV>
constexpr size_t tc_smem() {
  return (size_t(kBQ + 2 * kBKV) * (DK + 8) + size_t(2 * kBKV) * (DV + 8)) * sizeof(bf16);
}

// DK: query/key size, DV: value size (both multiples of 16). Registers per thread: DK / 4 for the query
// fragments, DV / 2 for the output accumulators, 32 for the scores.
// kHalf: q, k, v are fp16 (a.f16) and P is rounded to fp16 for the second product, else all bf16.
template <int DK, int DV, bool kHalf>
__global__ void __launch_bounds__(128) flash_attn_tc_kernel(AttentionArgs a) {
  // smem pitches (conflict-free ldmatrix: an odd number of 16-byte chunks per row), 16-byte chunks per row
  constexpr int PK = DK + 8, PV = DV + 8, CHK = DK / 8, CHV = DV / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* Ks = Qs + kBQ * PK;       // [2][kBKV][PK]
  bf16* Vs = Ks + 2 * kBKV * PK;  // [2][kBKV][PV]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t h = blockIdx.y, g = h / (a.nh / a.nkv);
  const int64_t t0 = int64_t(gridDim.x - 1 - blockIdx.x) * kBQ;  // the longest rows first
  const bf16* q = static_cast<const bf16*>(a.q);

  for (int c = tid; c < kBQ * CHK; c += 128) {
    const int r = c / CHK, ch = c % CHK;
    const int64_t t = t0 + r;
    cp_async16(Qs + r * PK + ch * 8, q + ((t < a.n ? t : 0) * a.nh + h) * a.q_width + ch * 8, t < a.n);
  }
  cp_async_commit();

  const int64_t p_lo = a.pos0 + t0, p_hi = a.pos0 + imin(t0 + kBQ, a.n) - 1;
  int64_t kv_end = p_hi + 1;
  int64_t kv_begin = a.window > 0 ? imax(0, p_lo - a.window + 1) : 0;
  if (a.seg_hi > 0) {  // this launch's key segment only; rows outside it are neither read nor counted
    kv_end = imin(kv_end, a.seg_hi);
    kv_begin = imax(kv_begin, a.seg_lo);
  }
  const int64_t kv_lo = a.seg_hi > 0 ? a.seg_lo : 0;  // first row that may be read
  const int64_t tile0 = kv_begin / kBKV;
  const int ntiles = kv_end > kv_begin ? int((kv_end - tile0 * kBKV + kBKV - 1) / kBKV) : 0;

  auto load_kv = [&](int i, int buf) {
    const int64_t j0 = (tile0 + i) * kBKV;
    for (int c = tid; c < kBKV * CHK; c += 128) {
      const int r = c / CHK, ch = c % CHK;
      const int64_t j = j0 + r;
      const bool ok = j < kv_end && j >= kv_lo;  // other rows are zero-filled: 0 * garbage could be NaN
      const int64_t jj = ok ? j - a.kv_base : 0;
      cp_async16(Ks + (buf * kBKV + r) * PK + ch * 8, a.k + jj * a.k_row + g * a.k_head + ch * 8, ok);
    }
    for (int c = tid; c < kBKV * CHV; c += 128) {
      const int r = c / CHV, ch = c % CHV;
      const int64_t j = j0 + r;
      const bool ok = j < kv_end && j >= kv_lo;
      const int64_t jj = ok ? j - a.kv_base : 0;
      cp_async16(Vs + (buf * kBKV + r) * PV + ch * 8, a.v + jj * a.v_row + g * a.v_head + ch * 8, ok);
    }
  };
  if (ntiles > 0) load_kv(0, 0);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();

  uint32_t qf[DK / 16][4];
#pragma unroll
  for (int kk = 0; kk < DK / 16; ++kk)
    ldmatrix_x4(qf[kk], Qs + (warp * 16 + (lane & 15)) * PK + kk * 16 + (lane >> 4) * 8);

  const int row_a = warp * 16 + (lane >> 2);  // this thread's rows: row_a and row_a + 8
  const int64_t pa[2] = {a.pos0 + t0 + row_a, a.pos0 + t0 + row_a + 8};
  const bool va[2] = {t0 + row_a < a.n, t0 + row_a + 8 < a.n};
  float o[DV / 8][4];
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  if (a.load_state) {
    // State of the previous segment: m (log2 units, quad-uniform), l (the quad's sum, kept by its first
    // lane), unnormalised o in this thread's accumulator layout.
#pragma unroll
    for (int ri = 0; ri < 2; ++ri) {
      const int64_t sid = ((va[ri] ? t0 + row_a + ri * 8 : 0) * a.nh + h);
      m[ri] = va[ri] ? a.state_ml[sid * 2] : -INFINITY;
      l[ri] = va[ri] && (lane & 3) == 0 ? a.state_ml[sid * 2 + 1] : 0.0f;
#pragma unroll
      for (int dt = 0; dt < DV / 8; ++dt) {
        const int d = dt * 8 + (lane & 3) * 2;
        const float2 v =
            va[ri] ? *reinterpret_cast<const float2*>(a.state_o + sid * a.dv + d) : make_float2(0.0f, 0.0f);
        o[dt][ri * 2] = v.x;
        o[dt][ri * 2 + 1] = v.y;
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < DV / 8; ++i)
      o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  }
  const float sl2 = a.scale * 1.4426950408889634f;

  for (int i = 0; i < ntiles; ++i) {
    if (i + 1 < ntiles) load_kv(i + 1, (i + 1) & 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const bf16* ks = Ks + (i & 1) * kBKV * PK;
    const bf16* vs = Vs + (i & 1) * kBKV * PV;
    float s[8][4];
#pragma unroll
    for (int nj = 0; nj < 8; ++nj)
      s[nj][0] = s[nj][1] = s[nj][2] = s[nj][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < DK / 16; ++kk)
#pragma unroll
      for (int pp = 0; pp < 4; ++pp) {
        uint32_t kq[4];
        ldmatrix_x4(kq,
                    ks + (pp * 16 + (lane & 7) + ((lane >> 4) << 3)) * PK + kk * 16 + ((lane >> 3) & 1) * 8);
        if constexpr (kHalf) {
          mma_f16(s[2 * pp], qf[kk], kq[0], kq[1]);
          mma_f16(s[2 * pp + 1], qf[kk], kq[2], kq[3]);
        } else {
          mma_bf16(s[2 * pp], qf[kk], kq[0], kq[1]);
          mma_bf16(s[2 * pp + 1], qf[kk], kq[2], kq[3]);
        }
      }
    const int64_t j0 = (tile0 + i) * kBKV;
    float mx[2] = {-INFINITY, -INFINITY};
    // A tile every row of the block sees whole (below the diagonal, inside the segment and the window) needs
    // no per-element mask: the int64 tests cost more instructions than the tile's mma.sync. Rows past n get
    // finite scores from their zero queries there and are never written.
    const bool full = j0 >= kv_lo && j0 + kBKV <= kv_end && j0 + kBKV - 1 <= p_lo &&
                      (a.window <= 0 || j0 > p_hi - a.window);
    if (full) {
#pragma unroll
      for (int nj = 0; nj < 8; ++nj)
#pragma unroll
        for (int qq = 0; qq < 4; ++qq) {
          s[nj][qq] *= sl2;
          mx[qq >> 1] = fmaxf(mx[qq >> 1], s[nj][qq]);
        }
    } else {
#pragma unroll
      for (int nj = 0; nj < 8; ++nj)
#pragma unroll
        for (int qq = 0; qq < 4; ++qq) {
          const int ri = qq >> 1;
          const int64_t j = j0 + nj * 8 + (lane & 3) * 2 + (qq & 1);
          const bool ok =
              va[ri] && j <= pa[ri] && j >= kv_lo && j < kv_end && (a.window <= 0 || j > pa[ri] - a.window);
          s[nj][qq] = ok ? s[nj][qq] * sl2 : -INFINITY;
          mx[ri] = fmaxf(mx[ri], s[nj][qq]);
        }
    }
    float corr[2];
#pragma unroll
    for (int ri = 0; ri < 2; ++ri) {
      mx[ri] = fmaxf(mx[ri], __shfl_xor_sync(0xffffffffu, mx[ri], 1));
      mx[ri] = fmaxf(mx[ri], __shfl_xor_sync(0xffffffffu, mx[ri], 2));
      const float mn = fmaxf(m[ri], mx[ri]);
      const float use = mn == -INFINITY ? 0.0f : mn;
      corr[ri] = exp2f(m[ri] - use);
      m[ri] = mn;
      mx[ri] = use;  // reference for this tile's exponentials
      l[ri] *= corr[ri];
    }
#pragma unroll
    for (int nj = 0; nj < 8; ++nj)
#pragma unroll
      for (int qq = 0; qq < 4; ++qq) {
        const float e = exp2f(s[nj][qq] - mx[qq >> 1]);
        s[nj][qq] = e;
        l[qq >> 1] += e;
      }
#pragma unroll
    for (int i2 = 0; i2 < DV / 8; ++i2) {
      o[i2][0] *= corr[0];
      o[i2][1] *= corr[0];
      o[i2][2] *= corr[1];
      o[i2][3] *= corr[1];
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      uint32_t pfr[4];
      auto pack = [](float x, float y) { return kHalf ? pack_f16(x, y) : pack_bf16(x, y); };
      pfr[0] = pack(s[2 * kk][0], s[2 * kk][1]);
      pfr[1] = pack(s[2 * kk][2], s[2 * kk][3]);
      pfr[2] = pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pfr[3] = pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < DV / 16; ++dp) {
        uint32_t vq[4];
        ldmatrix_x4_trans(
            vq, vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * PV + dp * 16 + (lane >> 4) * 8);
        if constexpr (kHalf) {
          mma_f16(o[2 * dp], pfr, vq[0], vq[1]);
          mma_f16(o[2 * dp + 1], pfr, vq[2], vq[3]);
        } else {
          mma_bf16(o[2 * dp], pfr, vq[0], vq[1]);
          mma_bf16(o[2 * dp + 1], pfr, vq[2], vq[3]);
        }
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites the other buffer
  }
  cp_async_wait<0>();

#pragma unroll
  for (int ri = 0; ri < 2; ++ri) {
    l[ri] += __shfl_xor_sync(0xffffffffu, l[ri], 1);
    l[ri] += __shfl_xor_sync(0xffffffffu, l[ri], 2);
  }
#pragma unroll
  for (int ri = 0; ri < 2; ++ri) {
    if (!va[ri]) continue;
    const int64_t t = t0 + row_a + ri * 8, sid = t * a.nh + h;
    if (a.store_state) {
      if ((lane & 3) == 0) {
        a.state_ml[sid * 2] = m[ri];
        a.state_ml[sid * 2 + 1] = l[ri];
      }
#pragma unroll
      for (int dt = 0; dt < DV / 8; ++dt) {
        const int d = dt * 8 + (lane & 3) * 2;
        *reinterpret_cast<float2*>(a.state_o + sid * a.dv + d) =
            make_float2(o[dt][ri * 2], o[dt][ri * 2 + 1]);
      }
      continue;
    }
    const float inv = 1.0f / l[ri];
    bf16* out = a.out + sid * a.dv;
#pragma unroll
    for (int dt = 0; dt < DV / 8; ++dt) {
      const int d = dt * 8 + (lane & 3) * 2;
      *reinterpret_cast<uint32_t*>(out + d) = pack_bf16(o[dt][ri * 2] * inv, o[dt][ri * 2 + 1] * inv);
      if (a.out_lo)
        *reinterpret_cast<uint32_t*>(a.out_lo + sid * a.dv + d) =
            pack_bf16_lo(o[dt][ri * 2] * inv, o[dt][ri * 2 + 1] * inv);
    }
  }
}

template <int DK, int DV, bool kHalf>
void launch_tc_as(const AttentionArgs& a, cudaStream_t st) {
  static bool configured = false;
  if (!configured) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(flash_attn_tc_kernel<DK, DV, kHalf>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(tc_smem<DK, DV>())));
    configured = true;
  }
  const dim3 grid(unsigned((a.n + kBQ - 1) / kBQ), unsigned(a.nh));
  flash_attn_tc_kernel<DK, DV, kHalf><<<grid, 128, tc_smem<DK, DV>(), st>>>(a);
  MOE_CUDA_LAUNCHED();
}
template <int DK, int DV>
void launch_tc(const AttentionArgs& a, cudaStream_t st) {
  if (a.f16)
    launch_tc_as<DK, DV, true>(a, st);
  else
    launch_tc_as<DK, DV, false>(a, st);
}

}  // namespace

bool attention_fast_path(const AttentionArgs& a) {
  const bool size = (a.dk == a.dv && (a.dk == 64 || a.dk == 128)) || (a.dk == 192 && a.dv == 128);
  const bool layout = a.q_width == a.dk && a.k_head % 8 == 0 && a.k_row % 8 == 0 && a.v_head % 8 == 0 &&
                      a.v_row % 8 == 0 && a.nh % a.nkv == 0;
  return size && layout;
}

void launch_attention(const AttentionArgs& a, bool fast, cudaStream_t st) {
  if (a.n <= 0) return;
  if (fast) {
    if (a.dk == 192)
      launch_tc<192, 128>(a, st);
    else if (a.dk == 128)
      launch_tc<128, 128>(a, st);
    else
      launch_tc<64, 64>(a, st);
    return;
  }
  if (a.f16) throw Error("prefill attention: fp16 inputs need the tensor-core kernel");
  if (a.dv > 32 * kGenericMaxV) throw Error("prefill attention: value size above 512");
  const int64_t warps = a.n * a.nh;
  const size_t smem = size_t(kGenericWarps) * size_t(a.dk) * sizeof(float);
  attn_generic_kernel<<<unsigned((warps + kGenericWarps - 1) / kGenericWarps), 32 * kGenericWarps, smem,
                        st>>>(a);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
