// Grouped GEMM of the routed experts (and of the always-on MLP's gate/up): one block computes a tile of
// BM rows x 128 weight rows, reading its expert and rows from the device-built tile table, so the routing
// never returns to the host. Rows are gathered on the fly (a_rows: sorted row -> token), and the gate/up
// variant computes gate and up of the same 64 features in one block and writes silu(gate) * up as bf16, so
// neither fp32 intermediate touches memory.
//
// B is each expert's [N, K] matrix (weight rows contiguous over K), or with b_kn its [K, N] transpose (the
// down projections, which the weight layout stores transposed for the decode step; read k-major and
// transposed by ldmatrix.trans).
//
// Tensor cores through mma.sync m16n8k16 (bf16 in, fp32 accumulate), warps of 32 x 64 outputs, a cp.async
// pipeline over k-steps of BK. A block reads (BM + 128) x K bf16 for BM x 128 x K MACs: 43 FLOP per byte of
// L2 traffic at BM 64, 64 at BM 128, against partial-tile waste of E * BM / 2 rows on average.
// Variants (numbered, chosen by grouped_gemm_variant(); the check times them on real shapes). Whole prefill
// of 2048 tokens on an H100, ms (Qwen1.5-MoE-A2.7B with its shared expert in this kernel / OLMoE /
// Qwen3-30B):
//   0: BM 64,  BK 32, 4 stages, 4 warps   51.2 / 31.6 / 93.4
//   1: BM 64,  BK 64, 3 stages, 4 warps   47.7 / 29.1 / 87.9
//   2: BM 128, BK 32, 4 stages, 8 warps   46.9 / 28.8 / 88.5
//   3: BM 128, BK 64, 3 stages, 8 warps   44.9 / 26.8 / 82.7   (default)
// The expert GEMMs still run at ~150 TFLOP/s counting useful rows (~220 with the rows of partial tiles):
// mma.sync without Hopper's wgmma/TMA is the limit; that is the next step for prefill speed.
// With A_lo (an activation carried as a bf16 hi/lo pair, prefill.cu's Precision) every k-tile runs twice,
// on A and on A_lo against the same B tile: twice the MMAs (measured +12 ms for the routed gate/up and +7 ms
// for the down projection on the Qwen1.5-MoE shape, so off by default).
// Shapes whose rows are not 16-byte aligned (odd K in the test fixtures) take the same kernel with plain
// loads instead of cp.async.
#include <cstdlib>

#include "cuda/cuda_check.h"
#include "cuda/prefill_common.cuh"
#include "cuda/prefill_kernels.h"
#include "moe/error.h"

namespace moe::cuda {
namespace {

using namespace pf;

constexpr int BN = 128;

template <int BM, int BK, int STAGES>
constexpr size_t gemm_smem() {
  return size_t(STAGES) * (BM + BN) * (BK + 8) * sizeof(bf16);
}

// kSplit: A + A_lo (a bf16 pair carrying ~16 significant bits) against B, as k-tiles of A and of A_lo in
// turn over the same B tile (the second read of which comes from L2): twice the MMAs.
// kKn: B stored [K, N] (a.b_kn), a template parameter so that the [N, K] kernels keep their code.
template <int BM, int BK, int STAGES, bool kAligned, bool kSplit, bool kKn>
__global__ void __launch_bounds__(BM * 2) grouped_gemm_kernel(GroupedGemmArgs a, const int32_t* n_tiles) {
  constexpr int THREADS = BM * 2, PITCH = BK + 8, CH = BK / 8, KN_PITCH = BN + 8;
  static_assert(BK * KN_PITCH <= BN * PITCH, "a k-major B stage fits the space of an n-major one");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ const bf16* a_src[BM];
  __shared__ const bf16* b_src[BN];
  bf16* As = reinterpret_cast<bf16*>(smem_raw);
  bf16* Bs = As + STAGES * BM * PITCH;

  const int m = blockIdx.x;
  int e = 0, row0, rows;
  if (a.tiles) {
    if (m >= *n_tiles) return;
    const int4 tt = a.tiles[m];
    e = tt.x;
    row0 = tt.y;
    rows = tt.z;
  } else {
    row0 = m * BM;
    rows = int(imin(BM, a.M - row0));
  }
  const int64_t f0 = int64_t(blockIdx.y) * (a.swiglu ? BN / 2 : BN);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wm = warp >> 1, wn = warp & 1;

  // Source row of every A and (n-major B) B row of the tile (null: outside, zero-filled).
  for (int r = tid; r < BM; r += THREADS)
    a_src[r] =
        r < rows ? a.A + (a.a_rows ? int64_t(a.a_rows[row0 + r]) : int64_t(row0 + r)) * a.lda : nullptr;
  if constexpr (!kKn) {
    for (int rr = tid; rr < BN; rr += THREADS) {
      int64_t feat;
      const bf16* mat = a.B;
      if (a.swiglu) {
        const int w = rr & 63;
        feat = f0 + (rr >> 6) * 32 + (w & 31);
        if (w >= 32) mat = a.B2;
      } else {
        feat = f0 + rr;
      }
      b_src[rr] = feat < a.N ? mat + int64_t(e) * a.b_stride + feat * a.K : nullptr;
    }
  }
  __syncthreads();

  const int ktiles = int((a.K + BK - 1) / BK) * (kSplit ? 2 : 1);
  auto load_rows = [&](bf16* dst_base, const bf16* const* src, int nrows, int64_t kbase, bool lo) {
    for (int c = tid; c < nrows * CH; c += THREADS) {
      const int r = c / CH, ch = c % CH;
      const int64_t k0 = kbase + ch * 8;
      const bf16* sp = src[r];
      if (kSplit && lo && sp) sp = a.A_lo + (sp - a.A);
      bf16* dst = dst_base + r * PITCH + ch * 8;
      if constexpr (kAligned) {
        const bool ok = sp && k0 < a.K;
        cp_async16(dst, ok ? sp + k0 : a.A, ok);
      } else {
        for (int j = 0; j < 8; ++j)
          dst[j] = sp && k0 + j < a.K ? sp[k0 + j] : __float2bfloat16(0.0f);
      }
    }
  };
  // B stored [K, N] (b_kn): a stage holds BK rows of BN features, [k][n] with pitch KN_PITCH.
  const bf16* b_kn = a.B + int64_t(e) * a.b_stride + f0;
  auto load_kn = [&](bf16* dst_base, int64_t kbase) {
    for (int c = tid; c < BK * (BN / 8); c += THREADS) {
      const int k = c / (BN / 8), ch = c % (BN / 8);
      const int64_t kk = kbase + k, f = f0 + ch * 8;
      bf16* dst = dst_base + k * KN_PITCH + ch * 8;
      const bf16* sp = b_kn + kk * a.N + ch * 8;
      if constexpr (kAligned) {
        const bool ok = kk < a.K && f < a.N;
        cp_async16(dst, ok ? sp : a.B, ok);
      } else {
        for (int j = 0; j < 8; ++j)
          dst[j] = kk < a.K && f + j < a.N ? sp[j] : __float2bfloat16(0.0f);
      }
    }
  };
  auto load_stage = [&](int kt, int stage) {
    const int64_t k0 = int64_t(kSplit ? kt >> 1 : kt) * BK;
    load_rows(As + stage * BM * PITCH, a_src, BM, k0, kSplit && (kt & 1));
    if constexpr (kKn)
      load_kn(Bs + stage * BN * PITCH, k0);
    else
      load_rows(Bs + stage * BN * PITCH, b_src, BN, k0, false);
  };

  float acc[2][8][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int nj = 0; nj < 8; ++nj)
#pragma unroll
      for (int q = 0; q < 4; ++q)
        acc[mi][nj][q] = 0.0f;

  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int next = kt + STAGES - 1;
    if (next < ktiles) load_stage(next, next % STAGES);
    cp_async_commit();
    const bf16* as = As + (kt % STAGES) * BM * PITCH;
    const bf16* bs = Bs + (kt % STAGES) * BN * PITCH;
    // A warp whose 32 rows all lie past the tile's last row (partial tiles: an expert's last rows) skips the
    // math, leaving its scheduler's tensor core to the other resident block.
    if (wm * 32 >= rows) continue;
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks) {
      uint32_t af[2][4], bf[8][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
        ldmatrix_x4(af[mi], as + (wm * 32 + mi * 16 + (lane & 15)) * PITCH + ks * 16 + (lane >> 4) * 8);
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        uint32_t q[4];
        if constexpr (kKn)  // the same four 8x8 matrices, stored k-major: transposed on the way in
          ldmatrix_x4_trans(q, bs + (ks * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * KN_PITCH + wn * 64 +
                                   p * 16 + ((lane >> 4) << 3));
        else
          ldmatrix_x4(q, bs + (wn * 64 + p * 16 + (lane & 7) + ((lane >> 4) << 3)) * PITCH + ks * 16 +
                             ((lane >> 3) & 1) * 8);
        bf[2 * p][0] = q[0];
        bf[2 * p][1] = q[1];
        bf[2 * p + 1][0] = q[2];
        bf[2 * p + 1][1] = q[3];
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int nj = 0; nj < 8; ++nj)
          mma_bf16(acc[mi][nj], af[mi], bf[nj][0], bf[nj][1]);
    }
  }
  cp_async_wait<0>();

  const int g = lane >> 2, c2 = (lane & 3) * 2;
#pragma unroll
  for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
    for (int hrow = 0; hrow < 2; ++hrow) {
      const int r = wm * 32 + mi * 16 + g + hrow * 8;
      if (r >= rows) continue;
      const int64_t out_row = int64_t(row0) + r;
      if (a.swiglu) {
        bf16* out = static_cast<bf16*>(a.C) + out_row * a.ldc;
#pragma unroll
        for (int nj = 0; nj < 4; ++nj)
#pragma unroll
          for (int q = 0; q < 2; ++q) {
            const int64_t feat = f0 + wn * 32 + nj * 8 + c2 + q;
            if (feat >= a.N) continue;
            const float gv = acc[mi][nj][hrow * 2 + q], uv = acc[mi][nj + 4][hrow * 2 + q];
            store_split(gv / (1.0f + expf(-gv)) * uv, out + feat,
                        a.C_lo ? static_cast<bf16*>(a.C_lo) + out_row * a.ldc + feat : nullptr);
          }
      } else {
        float* out = static_cast<float*>(a.C) + out_row * a.ldc;
#pragma unroll
        for (int nj = 0; nj < 8; ++nj)
#pragma unroll
          for (int q = 0; q < 2; ++q) {
            const int64_t feat = f0 + wn * 64 + nj * 8 + c2 + q;
            if (feat < a.N) out[feat] = acc[mi][nj][hrow * 2 + q];
          }
      }
    }
  }
}

template <int BM, int BK, int STAGES, bool kSplit, bool kKn>
void launch_layout(const GroupedGemmArgs& a, cudaStream_t st) {
  constexpr size_t smem = gemm_smem<BM, BK, STAGES>();
  static bool configured = false;
  if (!configured) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(grouped_gemm_kernel<BM, BK, STAGES, true, kSplit, kKn>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    MOE_CUDA_CHECK(cudaFuncSetAttribute(grouped_gemm_kernel<BM, BK, STAGES, false, kSplit, kKn>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    configured = true;
  }
  const int64_t per_block = a.swiglu ? BN / 2 : BN;
  const int64_t tiles = a.tiles ? (a.grid_tiles > 0 ? a.grid_tiles : a.max_tiles) : (a.M + BM - 1) / BM;
  const dim3 grid(unsigned(tiles), unsigned((a.N + per_block - 1) / per_block));
  const int32_t* n_tiles = a.tiles ? reinterpret_cast<const int32_t*>(a.tiles + a.max_tiles) : nullptr;
  auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const bool ok = a.K % 8 == 0 && a.lda % 8 == 0 && a.b_stride % 8 == 0 && (!kKn || a.N % 8 == 0) &&
                  aligned(a.A) && aligned(a.B) && (!a.B2 || aligned(a.B2)) && (!a.A_lo || aligned(a.A_lo));
  if (ok)
    grouped_gemm_kernel<BM, BK, STAGES, true, kSplit, kKn><<<grid, BM * 2, smem, st>>>(a, n_tiles);
  else
    grouped_gemm_kernel<BM, BK, STAGES, false, kSplit, kKn><<<grid, BM * 2, smem, st>>>(a, n_tiles);
  MOE_CUDA_LAUNCHED();
}

template <int BM, int BK, int STAGES, bool kSplit>
void launch_variant(const GroupedGemmArgs& a, cudaStream_t st) {
  if (a.b_kn) {
    if (a.swiglu) throw Error("grouped GEMM: a [K, N] B with swiglu");
    launch_layout<BM, BK, STAGES, kSplit, true>(a, st);
  } else {
    launch_layout<BM, BK, STAGES, kSplit, false>(a, st);
  }
}

}  // namespace

int grouped_gemm_variant() {
  const char* e = std::getenv("MOE_PREFILL_GEMM");
  const int v = e && *e ? std::atoi(e) : kDefaultGemmVariant;
  return v >= 0 && v <= 3 ? v : kDefaultGemmVariant;
}

int grouped_gemm_tile_m(int variant) {
  return variant >= 2 ? 128 : 64;
}

void launch_grouped_gemm(const GroupedGemmArgs& a, int variant, cudaStream_t st) {
  if (a.N <= 0 || (a.tiles ? a.max_tiles : a.M) <= 0) return;
  if (a.A_lo) {
    switch (variant) {
      case 1:
        return launch_variant<64, 64, 3, true>(a, st);
      case 2:
        return launch_variant<128, 32, 4, true>(a, st);
      case 3:
        return launch_variant<128, 64, 3, true>(a, st);
      default:
        return launch_variant<64, 32, 4, true>(a, st);
    }
  }
  switch (variant) {
    case 1:
      return launch_variant<64, 64, 3, false>(a, st);
    case 2:
      return launch_variant<128, 32, 4, false>(a, st);
    case 3:
      return launch_variant<128, 64, 3, false>(a, st);
    default:
      return launch_variant<64, 32, 4, false>(a, st);
  }
}

}  // namespace moe::cuda
