// Grouped GEMM of the routed experts (and of the always-on MLP's gate/up): one block computes a tile of
// kMoeTileM rows x 128 weight rows, reading its expert and rows from the device-built tile table, so the
// routing never returns to the host. Rows are gathered on the fly (a_rows: sorted row -> token), and the
// gate/up variant computes gate and up of the same 64 features in one block and writes silu(gate) * up as
// bf16, so neither fp32 intermediate touches memory.
//
// Tensor cores through mma.sync m16n8k16 (bf16 in, fp32 accumulate), 4 warps of 32 x 64, a 4-stage cp.async
// pipeline over k-steps of 32. Each tile reads (64 + 128) x K bf16 and does 64 x 128 x K MACs: 43 FLOP per
// byte from L2, and expert weights are re-read by the ~E/64-row tiles of the same expert only.
// Shapes whose rows are not 16-byte aligned (odd K in the test fixtures) take the same kernel with plain
// loads instead of cp.async.
#include "cuda/cuda_check.h"
#include "cuda/prefill_common.cuh"
#include "cuda/prefill_kernels.h"

namespace moe::cuda {
namespace {

using namespace pf;

constexpr int BM = kMoeTileM, BN = 128, BK = 32, STAGES = 4, PITCH = BK + 8, THREADS = 128;
constexpr size_t kSmem = size_t(STAGES) * (BM + BN) * PITCH * sizeof(bf16);

template <bool kAligned>
__global__ void __launch_bounds__(THREADS) grouped_gemm_kernel(GroupedGemmArgs a, const int32_t* n_tiles) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
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
  const int chunk = tid & 3;  // which 8-element chunk of the 32-wide k-step this thread loads

  // Source rows of this thread's loads: A rows tid/4 and tid/4 + 32, B rows tid/4 + 32 i.
  const bf16* a_src[2];
  bool a_ok[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = (tid >> 2) + 32 * i;
    a_ok[i] = r < rows;
    const int64_t ar = a_ok[i] ? (a.a_rows ? a.a_rows[row0 + r] : row0 + r) : 0;
    a_src[i] = a.A + ar * a.lda;
  }
  const bf16* b_src[4];
  bool b_ok[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int rr = (tid >> 2) + 32 * i;
    int64_t feat;
    const bf16* mat = a.B;
    if (a.swiglu) {
      const int w = rr & 63;
      feat = f0 + (rr >> 6) * 32 + (w & 31);
      if (w >= 32) mat = a.B2;
    } else {
      feat = f0 + rr;
    }
    b_ok[i] = feat < a.N;
    b_src[i] = mat + int64_t(e) * a.b_stride + (b_ok[i] ? feat : 0) * a.K;
  }

  const int ktiles = int((a.K + BK - 1) / BK);
  auto load_stage = [&](int kt, int stage) {
    const int64_t k0 = int64_t(kt) * BK + chunk * 8;
    bf16* as = As + stage * BM * PITCH;
    bf16* bs = Bs + stage * BN * PITCH;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      bf16* dst = as + ((tid >> 2) + 32 * i) * PITCH + chunk * 8;
      if constexpr (kAligned) {
        cp_async16(dst, a_src[i] + (k0 < a.K ? k0 : 0), a_ok[i] && k0 < a.K);
      } else {
        for (int j = 0; j < 8; ++j)
          dst[j] = a_ok[i] && k0 + j < a.K ? a_src[i][k0 + j] : __float2bfloat16(0.0f);
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      bf16* dst = bs + ((tid >> 2) + 32 * i) * PITCH + chunk * 8;
      if constexpr (kAligned) {
        cp_async16(dst, b_src[i] + (k0 < a.K ? k0 : 0), b_ok[i] && k0 < a.K);
      } else {
        for (int j = 0; j < 8; ++j)
          dst[j] = b_ok[i] && k0 + j < a.K ? b_src[i][k0 + j] : __float2bfloat16(0.0f);
      }
    }
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
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks) {
      uint32_t af[2][4], bf[8][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
        ldmatrix_x4(af[mi], as + (wm * 32 + mi * 16 + (lane & 15)) * PITCH + ks * 16 + (lane >> 4) * 8);
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        uint32_t q[4];
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
            out[feat] = __float2bfloat16(gv / (1.0f + expf(-gv)) * uv);
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

}  // namespace

void launch_grouped_gemm(const GroupedGemmArgs& a, cudaStream_t st) {
  static bool configured = false;
  if (!configured) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(grouped_gemm_kernel<true>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmem)));
    MOE_CUDA_CHECK(cudaFuncSetAttribute(grouped_gemm_kernel<false>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmem)));
    configured = true;
  }
  if (a.max_tiles <= 0 || a.N <= 0) return;
  const int64_t per_block = a.swiglu ? BN / 2 : BN;
  const dim3 grid(unsigned(a.grid_tiles > 0 ? a.grid_tiles : a.max_tiles),
                  unsigned((a.N + per_block - 1) / per_block));
  const int32_t* n_tiles = a.tiles ? reinterpret_cast<const int32_t*>(a.tiles + a.max_tiles) : nullptr;
  auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const bool ok = a.K % 8 == 0 && a.lda % 8 == 0 && a.b_stride % 8 == 0 && aligned(a.A) && aligned(a.B) &&
                  (!a.B2 || aligned(a.B2));
  if (ok)
    grouped_gemm_kernel<true><<<grid, THREADS, kSmem, st>>>(a, n_tiles);
  else
    grouped_gemm_kernel<false><<<grid, THREADS, kSmem, st>>>(a, n_tiles);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
