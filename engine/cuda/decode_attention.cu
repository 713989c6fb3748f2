// Decode-step attention kernels (see decode_kernels.h): preparation of q, k and v of the new position
// (q/k norms, clip, rotary embedding; k and v written to the bf16 cache), either by a kernel of its own or by
// the flash-decoding blocks themselves, and flash-decoding: each block scores one split of the cache for a
// group of query heads sharing a KV head, keeps an online softmax, and the partials are merged by a second
// kernel (with the output projection, decode_attn_output.cu, for heads of 128 values; with MLA's value
// up-projection where mla_value_fusable says so). MLA runs through the same kernel as one KV head of width
// r + rope whose values are the first r elements of each cached row; its other kernels are in decode_mla.cu.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/decode_attn_common.cuh"
#include "cuda/decode_common.cuh"
#include "cuda/decode_kernels.h"
#include "cuda/decode_split.cuh"
#include "moe/error.h"

namespace moe::cuda {
namespace {

constexpr int kPrepThreads = 128;

// One block per q head, k head and v head.
__global__ void __launch_bounds__(kPrepThreads) attn_prep_kernel(AttnPrepArgs a) {
  __shared__ float v[kMaxHead];
  __shared__ float norm_w[kMaxHead];  // this head's norm weights
  __shared__ float cs[kMaxHead];      // rotary factors
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
  // Before waiting for the projection (the previous kernel): the rotary factors and the norm weights.
  const float* norm = kind == 0 ? a.q_norm : kind == 1 ? a.k_norm : nullptr;
  if (kind < 2) rope_factors(cs, a.hd, pos, a.inv_freq, a.cos_sin_scale);
  if (norm) {
    const float* w = a.norm_full ? norm + head * a.hd : norm;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      norm_w[i] = w[i];
  }
  pdl_begin();
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    v[i] = src[i];
  if (norm) {
    // Over all heads: the projection's region, read from global; per head: the copy just made (each thread
    // reads the entries it wrote; the sum's barriers publish norm_w).
    const float* region = a.norm_full ? (kind == 0 ? a.qkv : a.qkv + q_rows) : v;
    const int count = a.norm_full ? (kind == 0 ? q_rows : k_rows) : n;
    const float ss = block_sum_squares(region, count, scratch);
    const float inv = float(1.0 / sqrt(double(ss) / double(count) + double(a.eps)));
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      v[i] = norm_w[i] * (v[i] * inv);
  }
  if (a.clip > 0)
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      v[i] = fminf(fmaxf(v[i], -a.clip), a.clip);
  if (kind < 2) rope_apply(v, a.hd, cs, a.interleaved);
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

constexpr int kTile = 32;  // cached positions per tile of the flash-decoding kernel

// Shared-memory layout of attn_decode_kernel, computed alike on the host (size) and the device (offsets).
// q [GB, hdp] fp32 | k tiles [nbuf, kTile, ks] bf16 | v tiles (unless values are the keys' first vd
// elements, MLA) | scores [GB, kTile] | weights [kTile, GB] | corrections [GB]. Rows are padded by 16 bytes
// so lanes reading the same column of consecutive rows hit different banks. After the last tile the q/k/v
// region holds the key groups' accumulators [kg, GB, vdp] for the final sum.
struct TileSmem {
  int hdp, vdp, ks, vs;
  size_t q, k, v, sc, ps, cs, prep, total;
};
// With the position's preparation fused (AttnDecodeArgs::prep), a last region holds what it needs: rotary
// factors [hdp] | q norm weights [gb, hdp] | k norm weights [hdp] | k and v [hdp + vdp] | sums [33 + gb + 1].
__host__ __device__ inline int prep_floats(int hdp, int vdp, int gb) {
  return hdp + gb * hdp + hdp + hdp + vdp + 33 + gb + 1;
}
__host__ __device__ inline TileSmem tile_smem(int hd, int vd, bool shared_kv, int gb, int nbuf, int kg,
                                              bool prep) {
  TileSmem t;
  t.hdp = (hd + 7) / 8 * 8;
  t.vdp = (vd + 7) / 8 * 8;
  t.ks = t.hdp + 8;
  t.vs = t.vdp + 8;
  size_t off = 0;
  t.q = off;
  off += sizeof(float) * size_t(gb) * t.hdp;
  t.k = off;
  off += sizeof(bf16) * size_t(nbuf) * kTile * t.ks;
  t.v = off;
  if (!shared_kv) off += sizeof(bf16) * size_t(nbuf) * kTile * t.vs;
  const size_t red = sizeof(float) * size_t(kg) * gb * t.vdp;
  off = off > red ? off : red;
  t.sc = off;
  off += sizeof(float) * size_t(gb) * kTile;
  t.ps = off;
  off += sizeof(float) * size_t(gb) * kTile;
  t.cs = off;
  off += sizeof(float) * size_t(gb);
  t.prep = (off + 15) / 16 * 16;
  off = prep ? t.prep + sizeof(float) * size_t(prep_floats(t.hdp, t.vdp, gb)) : off;
  t.total = off;
  return t;
}

// The position's preparation fused into the flash-decoding kernel (AttnDecodeArgs::prep): what
// attn_prep_kernel does, for the block's query heads, and for its key and value in the block whose split
// holds the position. Shared memory: the last region of TileSmem.
struct PrepSmem {
  float *rope, *qn, *kn, *k, *v, *scratch, *inv;  // inv: [gb] query heads, then the key
};
__device__ __forceinline__ PrepSmem prep_smem(unsigned char* smem, const TileSmem& L, int gb) {
  float* p = reinterpret_cast<float*>(smem + L.prep);
  PrepSmem s;
  s.rope = p;
  s.qn = s.rope + L.hdp;
  s.kn = s.qn + gb * L.hdp;
  s.k = s.kn + L.hdp;
  s.v = s.k + L.hdp;
  s.scratch = s.v + L.vdp;
  s.inv = s.scratch + 33;
  return s;
}

// Before the wait for the projection: the rotary factors, and the norm weights copied by cp.async (all in
// flight at once; prep_after_wait waits for them): one row shared by the heads, or (norms over all heads)
// each head's own row.
__device__ void prep_before_wait(const AttnPrepArgs& p, const PrepSmem& s, int hdp, int h0, int nheads,
                                 int kvh, bool has_pos) {
  rope_factors(s.rope, p.hd, p.params->pos, p.inv_freq, p.cos_sin_scale);
  const int q_heads = p.norm_full ? nheads : 1;
  const auto aligned = [](const float* w) { return (reinterpret_cast<uintptr_t>(w) & 15) == 0; };
  if (p.hd % 8 == 0 && (!p.q_norm || aligned(p.q_norm)) && (!p.k_norm || aligned(p.k_norm))) {
    const int hq = p.hd / 4;
    if (p.q_norm)
      for (int i = threadIdx.x; i < q_heads * hq; i += blockDim.x)
        cp_async16(s.qn + (i / hq) * hdp + (i % hq) * 4,
                   p.q_norm + (p.norm_full ? h0 * p.hd : 0) + (i / hq) * p.hd + (i % hq) * 4, true);
    if (p.k_norm && has_pos)
      for (int i = threadIdx.x; i < hq; i += blockDim.x)
        cp_async16(s.kn + i * 4, p.k_norm + (p.norm_full ? kvh * p.hd : 0) + i * 4, true);
    cp_async_commit();
    return;
  }
  if (p.q_norm)
    for (int i = threadIdx.x; i < q_heads * p.hd; i += blockDim.x) {
      const int g = i / p.hd, d = i % p.hd;
      s.qn[g * hdp + d] = p.q_norm[(p.norm_full ? h0 * p.hd : 0) + i];
    }
  if (p.k_norm && has_pos)
    for (int d = threadIdx.x; d < p.hd; d += blockDim.x)
      s.kn[d] = p.k_norm[(p.norm_full ? kvh * p.hd : 0) + d];
}

__device__ __forceinline__ float inverse_rms(float ss, int count, float eps) {
  return float(1.0 / sqrt(double(ss) / double(count) + double(eps)));
}

// After the wait: the block's query heads normed, clipped, rotated and scaled into qs [gb, hdp]; with
// has_pos also the key (normed, clipped, rotated) and the value (clipped), rounded to bf16 into the cache
// and, when kslot is set, into the first tile's row of the position. Ends with a barrier, after which the
// block's tile loads see the cache rows it wrote.
__device__ void prep_after_wait(const AttnPrepArgs& p, const PrepSmem& s, float* qs, int hdp, int vdp, int gb,
                                int h0, int nheads, int kvh, bool has_pos, float scale, bf16* kslot,
                                bf16* vslot) {
  const int q_rows = p.nh * p.hd, k_rows = p.nkv * p.hd, pos = p.params->pos;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  // Every global load at once, one L2 round trip: the heads' rows copied by cp.async (16-byte pieces when
  // rows are multiples of 8 floats) while the sums of squares for norms over all heads (OLMoE) load
  // kRound float4s per thread.
  const float* kin = p.qkv + q_rows + kvh * p.hd;
  const float* vin = p.qkv + q_rows + k_rows + kvh * p.vd;
  const bool vec = p.hd % 8 == 0 && p.vd % 8 == 0 && (reinterpret_cast<uintptr_t>(p.qkv) & 15) == 0;
  if (vec) {
    const int hq = p.hd / 4, vq = p.vd / 4;
    for (int i = threadIdx.x; i < nheads * hq; i += blockDim.x)
      cp_async16(qs + (i / hq) * hdp + (i % hq) * 4, p.qkv + h0 * p.hd + i * 4, true);
    if (has_pos) {
      for (int i = threadIdx.x; i < hq; i += blockDim.x)
        cp_async16(s.k + i * 4, kin + i * 4, true);
      for (int i = threadIdx.x; i < vq; i += blockDim.x)
        cp_async16(s.v + i * 4, vin + i * 4, true);
    }
    cp_async_commit();
  } else {
    for (int i = threadIdx.x; i < nheads * hdp; i += blockDim.x) {
      const int g = i / hdp, d = i % hdp;
      qs[i] = d < p.hd ? p.qkv[(h0 + g) * p.hd + d] : 0.0f;
    }
    if (has_pos) {
      for (int d = threadIdx.x; d < hdp; d += blockDim.x)
        s.k[d] = d < p.hd ? kin[d] : 0.0f;
      for (int d = threadIdx.x; d < vdp; d += blockDim.x)
        s.v[d] = d < p.vd ? vin[d] : 0.0f;
    }
  }
  for (int i = nheads * hdp + threadIdx.x; i < gb * hdp; i += blockDim.x)
    qs[i] = 0.0f;
  if (p.norm_full) {
    // The query rows' and (has_pos) the key rows' sums of squares, contiguous in the projection.
    const int nq = p.q_norm ? q_rows : 0, n = nq + (p.k_norm && has_pos ? k_rows : 0);
    float ssq = 0.0f, ssk = 0.0f;
    if (vec) {
      constexpr int kRound = 8;
      const float4* x4 = reinterpret_cast<const float4*>(p.qkv + (p.q_norm ? 0 : q_rows));
      const int n4 = n / 4, nq4 = nq / 4;
      for (int base = 0; base < n4; base += kRound * blockDim.x) {
        float4 v[kRound];
#pragma unroll
        for (int k = 0; k < kRound; ++k) {
          const int i = base + threadIdx.x + k * blockDim.x;
          v[k] = i < n4 ? __ldcg(x4 + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
#pragma unroll
        for (int k = 0; k < kRound; ++k) {
          const float q = v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
          (base + threadIdx.x + k * blockDim.x < nq4 ? ssq : ssk) += q;
        }
      }
    } else {
      const float* x = p.qkv + (p.q_norm ? 0 : q_rows);
      for (int i = threadIdx.x; i < n; i += blockDim.x)
        (i < nq ? ssq : ssk) += x[i] * x[i];
    }
    if (p.q_norm) {
      const float ss = block_sum(ssq, s.scratch);
      if (threadIdx.x < gb) s.inv[threadIdx.x] = inverse_rms(ss, q_rows, p.eps);
    }
    if (p.k_norm && has_pos) {
      const float ss = block_sum(ssk, s.scratch);
      if (threadIdx.x == 0) s.inv[gb] = inverse_rms(ss, k_rows, p.eps);
    }
  }
  cp_async_wait<0>();  // the rows and prep_before_wait's norm weights
  __syncthreads();
  if (!p.norm_full)  // per head: a warp per row
    for (int r = warp; r <= nheads; r += warps) {
      const bool key = r == nheads;
      if (key ? !(p.k_norm && has_pos) : !p.q_norm) continue;
      const float* v = key ? s.k : qs + r * hdp;
      float ss = 0.0f;
      for (int d = lane; d < p.hd; d += 32)
        ss = fmaf(v[d], v[d], ss);
      ss = warp_sum(ss);
      if (lane == 0) s.inv[key ? gb : r] = inverse_rms(ss, p.hd, p.eps);
    }
  __syncthreads();
  const auto finish = [&](float v, const float* norm_w, float inv) {
    if (norm_w) v = norm_w[0] * (v * inv);
    return p.clip > 0 ? fminf(fmaxf(v, -p.clip), p.clip) : v;
  };
  for (int i = threadIdx.x; i < nheads * hdp; i += blockDim.x) {
    const int g = i / hdp, d = i % hdp;
    if (d < p.hd) qs[i] = finish(qs[i], p.q_norm ? s.qn + (p.norm_full ? i : d) : nullptr, s.inv[g]);
  }
  if (has_pos) {
    for (int d = threadIdx.x; d < p.hd; d += blockDim.x)
      s.k[d] = finish(s.k[d], p.k_norm ? s.kn + d : nullptr, s.inv[gb]);
    for (int d = threadIdx.x; d < p.vd; d += blockDim.x)
      s.v[d] = finish(s.v[d], nullptr, 1.0f);
  }
  __syncthreads();
  // Rotary embedding of every dimension; the query also times the attention scale.
  const int half = p.hd / 2, rows = nheads + (has_pos ? 1 : 0);
  for (int i = threadIdx.x; i < rows * half; i += blockDim.x) {
    const int r = i / half, j = i % half;
    float* v = r < nheads ? qs + r * hdp : s.k;
    const float m = r < nheads ? scale : 1.0f;
    const float c = s.rope[j], sn = s.rope[half + j];
    const int ia = p.interleaved ? 2 * j : j, ib = p.interleaved ? 2 * j + 1 : j + half;
    const float x0 = v[ia], x1 = v[ib];
    v[ia] = (x0 * c - x1 * sn) * m;
    v[ib] = (x1 * c + x0 * sn) * m;
  }
  if (2 * half < p.hd)  // an odd head size: the last query dimension is not rotated, only scaled
    for (int g = threadIdx.x; g < nheads; g += blockDim.x)
      qs[g * hdp + p.hd - 1] *= scale;
  __syncthreads();
  if (has_pos) {
    bf16* kc = p.k_cache + (int64_t(pos) * p.nkv + kvh) * p.hd;
    bf16* vc = p.v_cache + (int64_t(pos) * p.nkv + kvh) * p.vd;
    for (int d = threadIdx.x; d < hdp; d += blockDim.x) {
      const bf16 k = __float2bfloat16(s.k[d]);
      if (d < p.hd) kc[d] = k;
      if (kslot) kslot[d] = k;
    }
    for (int d = threadIdx.x; d < vdp; d += blockDim.x) {
      const bf16 v = __float2bfloat16(s.v[d]);
      if (d < p.vd) vc[d] = v;
      if (vslot) vslot[d] = v;
    }
  }
  __syncthreads();
}

// Scores sc[g, t] = scale * q[g] . k[t] of the first `rows` (<= KT) keys of a tile, for GB heads by NT
// threads: thread (key t, first head h) forms R whole dot products (heads h .. h + R - 1), or, when the tile
// has fewer scores than threads, P lanes share one (then log2(P) shuffles).
template <int GB, int NT, int KT>
__device__ __forceinline__ void tile_scores(const bf16* kt, int ks, const float* qs, int hdp, int rows,
                                            float scale, float* sc) {
  constexpr int P = NT / (GB * KT) > 1 ? NT / (GB * KT) : 1;
  constexpr int R = GB * KT / NT > 1 ? GB * KT / NT : 1;
  static_assert(GB * KT * P == NT * R && P <= 32, "score mapping covers the tile within warps");
  const int tid = threadIdx.x, lane = tid & 31;
  const int sub = tid % P, sg = tid / P, st = sg % KT, sh = (sg / KT) * R;
  const unsigned pmask = P >= 32 ? kFullMask : ((1u << P) - 1) << (lane & ~(P - 1));
  if (st >= rows) return;  // the P lanes of a score share its key
  const bf16* krow = kt + st * ks;
  float dot[R];
#pragma unroll
  for (int r = 0; r < R; ++r)
    dot[r] = 0.0f;
#pragma unroll 4
  for (int c = sub; c < hdp / 8; c += P) {
    float kf[8];
    unpack8(*reinterpret_cast<const uint4*>(krow + c * 8), kf);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float* qr = qs + (sh + r) * hdp + c * 8;
      const float4 x = *reinterpret_cast<const float4*>(qr), y = *reinterpret_cast<const float4*>(qr + 4);
      float d = dot[r];
      d = fmaf(x.x, kf[0], d);
      d = fmaf(x.y, kf[1], d);
      d = fmaf(x.z, kf[2], d);
      d = fmaf(x.w, kf[3], d);
      d = fmaf(y.x, kf[4], d);
      d = fmaf(y.y, kf[5], d);
      d = fmaf(y.z, kf[6], d);
      dot[r] = fmaf(y.w, kf[7], d);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int o = P / 2; o > 0; o >>= 1)
      dot[r] += __shfl_xor_sync(pmask, dot[r], o);
    if (sub == 0) sc[(sh + r) * kTile + st] = dot[r] * scale;
  }
}

// grid (nkv * head groups, splits), NT threads: a block handles GB query heads of one KV head (all of them
// when GB >= heads per KV head; MLA: all heads over the one latent) over one split, so each cached row is
// read from memory once per step. Per tile of kTile positions: the rows are copied to shared memory
// (cp.async, double-buffered when small); scores: each thread forms R whole dot products (P lanes per
// score only when the tile has fewer scores than threads, then log2(P) shuffles); the block's online
// softmax per head (one warp per head: one max and one sum per tile, not per key); values: lanes own 4
// dimensions each for all GB heads, KG groups of threads take every KG-th position and are summed at the end.
// All sums in fp32.
// Which rows of a tile load_tile copies: all, all but this step's position (before the wait for the
// previous kernel, which writes that row), or only that one.
enum class TileRows { All, BeforePos, OnlyPos };

// Walks the elements start, start + step, ... of a row-major grid with `cols` columns as (row, column), with
// two divisions in all instead of one per element.
struct GridWalk {
  int r, c, dr, dc, cols;
  __device__ GridWalk(int start, int step, int cols_)
      : r(start / cols_), c(start % cols_), dr(step / cols_), dc(step % cols_), cols(cols_) {}
  __device__ void next() {
    r += dr;
    c += dc;
    if (c >= cols) {
      c -= cols;
      ++r;
    }
  }
};

// kPrep: the position's preparation fused (AttnDecodeArgs::prep), a separate instantiation because it costs
// registers (as a runtime branch of every variant it took the 8-head one from 77 to 99; as its own, 79).
template <int GB, int NT, bool Wide, int EQ, int NBUF, bool kPrep>
__global__ void __launch_bounds__(NT) attn_decode_kernel(AttnDecodeArgs a) {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr int QL = Wide ? 128 : 32, KG = NT / QL, NW = NT / 32, HW = (GB + NW - 1) / NW;
  const bool shared_kv = a.v == a.k && a.v_stride == a.k_stride;
  const TileSmem L = tile_smem(a.hd, a.vd, shared_kv, GB, NBUF, KG, kPrep);
  float* qs = reinterpret_cast<float*>(smem + L.q);
  bf16* kb = reinterpret_cast<bf16*>(smem + L.k);
  bf16* vb = shared_kv ? kb : reinterpret_cast<bf16*>(smem + L.v);
  const int vss = shared_kv ? L.ks : L.vs;  // shared-memory stride of a value row
  float* sc = reinterpret_cast<float*>(smem + L.sc);
  float* ps = reinterpret_cast<float*>(smem + L.ps);
  float* cs = reinterpret_cast<float*>(smem + L.cs);

  const int G = a.nh / a.nkv, groups = (G + GB - 1) / GB;
  const int kvh = blockIdx.x / groups;
  const int h0 = kvh * G + (blockIdx.x % groups) * GB;
  const int nheads = min(GB, kvh * G + G - h0);
  const int pos = a.params->pos;
  int64_t first, chunk, nsplit;
  split_plan(a, pos, first, chunk, nsplit);
  const int64_t s = blockIdx.y;
  if (s >= nsplit) return;
  const int64_t j0 = first + s * chunk, j1 = min(j0 + chunk, int64_t(pos) + 1);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  const bf16* kbase = a.k + int64_t(kvh) * a.hd;
  const bf16* vbase = a.v + int64_t(kvh) * a.vd;
  const bool vec = ((a.hd | a.vd | a.k_stride | a.v_stride) & 7) == 0 &&
                   ((reinterpret_cast<uintptr_t>(a.k) | reinterpret_cast<uintptr_t>(a.v)) & 15) == 0;
  auto load_tile = [&](int buf, int64_t t0, TileRows which) {
    const int rows = int(min(int64_t(kTile), j1 - t0));
    const auto wanted = [&](int r) {
      return which == TileRows::All || (which == TileRows::BeforePos) == (t0 + r != pos);
    };
    bf16* kd = kb + buf * kTile * L.ks;
    bf16* vd = vb + buf * kTile * vss;
    if (vec && which == TileRows::OnlyPos) {  // one row (zeros where it is past the split)
      const int64_t r = pos - t0;
      if (r >= 0 && r < kTile) {
        const int64_t src = r < rows ? pos : t0;
        for (int c = tid; c < L.hdp / 8; c += NT)
          cp_async16(kd + r * L.ks + c * 8, kbase + src * a.k_stride + c * 8, r < rows);
        if (!shared_kv)
          for (int c = tid; c < L.vdp / 8; c += NT)
            cp_async16(vd + r * L.vs + c * 8, vbase + src * a.v_stride + c * 8, r < rows);
      }
    } else if (vec) {
      for (GridWalk w(tid, NT, L.hdp / 8); w.r < kTile; w.next())
        if (wanted(w.r))
          cp_async16(kd + w.r * L.ks + w.c * 8, kbase + (t0 + (w.r < rows ? w.r : 0)) * a.k_stride + w.c * 8,
                     w.r < rows);
      if (!shared_kv)
        for (GridWalk w(tid, NT, L.vdp / 8); w.r < kTile; w.next())
          if (wanted(w.r))
            cp_async16(vd + w.r * L.vs + w.c * 8,
                       vbase + (t0 + (w.r < rows ? w.r : 0)) * a.v_stride + w.c * 8, w.r < rows);
    } else {  // odd head sizes: element by element, zeros past the head and the split
      for (int i = tid; i < kTile * L.hdp; i += NT) {
        const int r = i / L.hdp, d = i % L.hdp;
        if (wanted(r))
          kd[r * L.ks + d] = r < rows && d < a.hd ? kbase[(t0 + r) * a.k_stride + d] : __float2bfloat16(0.0f);
      }
      if (!shared_kv)
        for (int i = tid; i < kTile * L.vdp; i += NT) {
          const int r = i / L.vdp, d = i % L.vdp;
          if (wanted(r))
            vd[r * L.vs + d] =
                r < rows && d < a.vd ? vbase[(t0 + r) * a.v_stride + d] : __float2bfloat16(0.0f);
        }
    }
    cp_async_commit();
  };
  // The first tile's cached rows before this step's position were written by earlier steps: they are
  // fetched while the previous kernel drains. Then the new position's row (the preparation kernel's) and q.
  // With the preparation fused, the position's row is computed here instead (prep_after_wait).
  load_tile(0, j0, TileRows::BeforePos);
  const bool has_pos = kPrep && j0 <= pos && pos < j1;
  const PrepSmem pr = prep_smem(smem, L, GB);
  if constexpr (kPrep) prep_before_wait(a.prep, pr, L.hdp, h0, nheads, kvh, has_pos);
  asm volatile("griddepcontrol.wait;" ::: "memory");
  if constexpr (kPrep) {
    const bool in_first = has_pos && pos - j0 < kTile;
    prep_after_wait(a.prep, pr, qs, L.hdp, L.vdp, GB, h0, nheads, kvh, has_pos, a.scale,
                    in_first ? kb + (pos - j0) * L.ks : nullptr, in_first ? vb + (pos - j0) * vss : nullptr);
  } else {
    load_tile(0, j0, TileRows::OnlyPos);
    // q unscaled (the scores take the scale): by cp.async in 16-byte pieces where the rows allow, all in
    // flight at once (MLA's 16 heads of 576 are 36 loads per thread, which a loop of loads waits on
    // one L2 round trip at a time); the tile loop's first wait covers them.
    const bool q_vec = a.hd % 4 == 0 && (reinterpret_cast<uintptr_t>(a.q) & 15) == 0;
    if (q_vec) {
      const int hq = a.hd / 4;
      for (int i = tid; i < nheads * hq; i += NT)
        cp_async16(qs + (i / hq) * L.hdp + (i % hq) * 4, a.q + int64_t(h0) * a.hd + int64_t(i) * 4, true);
      cp_async_commit();
      // Zeros in the padding only: the columns past hd (fewer than 8), the rows past nheads.
      const int pad = L.hdp - a.hd;
      for (int i = tid; i < nheads * pad; i += NT)
        qs[(i / pad) * L.hdp + a.hd + i % pad] = 0.0f;
      for (int i = nheads * L.hdp + tid; i < GB * L.hdp; i += NT)
        qs[i] = 0.0f;
    } else {
      for (int i = tid; i < GB * L.hdp; i += NT) {
        const int g = i / L.hdp, d = i % L.hdp;
        qs[i] = g < nheads && d < a.hd ? a.q[int64_t(h0 + g) * a.hd + d] : 0.0f;
      }
    }
  }
  // The fused preparation scales q itself.
  const float score_scale = kPrep ? 1.0f : a.scale;

  float m_run[HW], l_run[HW];
#pragma unroll
  for (int k = 0; k < HW; ++k) {
    m_run[k] = -INFINITY;
    l_run[k] = 0.0f;
  }
  float acc[GB][EQ][4];
#pragma unroll
  for (int g = 0; g < GB; ++g)
#pragma unroll
    for (int e = 0; e < EQ; ++e)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        acc[g][e][i] = 0.0f;
  const int ql = tid % QL, kg = tid / QL;  // values: dimension quad, key group

  const int ntiles = int((j1 - j0 + kTile - 1) / kTile);
  for (int it = 0; it < ntiles; ++it) {
    const int64_t t0 = j0 + int64_t(it) * kTile;
    const int rows = int(min(int64_t(kTile), j1 - t0));
    int buf = 0;
    if constexpr (NBUF == 2) {
      buf = it & 1;
      if (it + 1 < ntiles) {
        load_tile(buf ^ 1, t0 + kTile, TileRows::All);  // that buffer's last tile was done before the barrier
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
    } else {
      if (it > 0) load_tile(0, t0, TileRows::All);
      cp_async_wait<0>();
    }
    __syncthreads();

    // Scores of the tile: the threads spread over the keys it has (short splits: fewer keys, more lanes or
    // fewer heads per score, so a thread's chain of dot steps is shorter).
    const bf16* kt = kb + buf * kTile * L.ks;
    if (rows <= kTile / 4)
      tile_scores<GB, NT, kTile / 4>(kt, L.ks, qs, L.hdp, rows, score_scale, sc);
    else if (rows <= kTile / 2)
      tile_scores<GB, NT, kTile / 2>(kt, L.ks, qs, L.hdp, rows, score_scale, sc);
    else
      tile_scores<GB, NT, kTile>(kt, L.ks, qs, L.hdp, rows, score_scale, sc);
    __syncthreads();

    // Online softmax per head over the tile.
#pragma unroll
    for (int k = 0; k < HW; ++k) {
      const int g = warp + NW * k;
      if (g < GB) {
        const float sv = lane < rows ? sc[g * kTile + lane] : -INFINITY;
        const float m_new = fmaxf(m_run[k], warp_max(sv));
        const float p = expf(sv - m_new);
        const float corr = expf(m_run[k] - m_new);
        l_run[k] = l_run[k] * corr + warp_sum(p);
        m_run[k] = m_new;
        ps[lane * GB + g] = p;
        if (lane == 0) cs[g] = corr;
      }
    }
    __syncthreads();

    // Values: acc = acc * corr + sum_t p[t] v[t].
    {
      float cg[GB];
#pragma unroll
      for (int g = 0; g < GB; ++g)
        cg[g] = cs[g];
#pragma unroll
      for (int g = 0; g < GB; ++g)
#pragma unroll
        for (int e = 0; e < EQ; ++e)
#pragma unroll
          for (int i = 0; i < 4; ++i)
            acc[g][e][i] *= cg[g];
      const bf16* vt = vb + buf * kTile * vss;
      for (int t = kg; t < rows; t += KG) {
        float pv[GB];
        if constexpr (GB % 4 == 0) {
#pragma unroll
          for (int g = 0; g < GB; g += 4) {
            const float4 p4 = *reinterpret_cast<const float4*>(ps + t * GB + g);
            pv[g] = p4.x, pv[g + 1] = p4.y, pv[g + 2] = p4.z, pv[g + 3] = p4.w;
          }
        } else {
#pragma unroll
          for (int g = 0; g < GB; ++g)
            pv[g] = ps[t * GB + g];
        }
#pragma unroll
        for (int e = 0; e < EQ; ++e) {
          const int dq = ql + QL * e;
          if (dq * 4 < L.vdp) {
            const uint2 u = *reinterpret_cast<const uint2*>(vt + t * vss + dq * 4);
            const float2 v01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
            const float2 v23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
#pragma unroll
            for (int g = 0; g < GB; ++g) {
              acc[g][e][0] = fmaf(pv[g], v01.x, acc[g][e][0]);
              acc[g][e][1] = fmaf(pv[g], v01.y, acc[g][e][1]);
              acc[g][e][2] = fmaf(pv[g], v23.x, acc[g][e][2]);
              acc[g][e][3] = fmaf(pv[g], v23.y, acc[g][e][3]);
            }
          }
        }
      }
    }
    __syncthreads();
  }

  // Sum the key groups (fixed order) and write this split's partial: acc, max, sum per head.
  float* red = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int g = 0; g < GB; ++g)
#pragma unroll
    for (int e = 0; e < EQ; ++e) {
      const int dq = ql + QL * e;
      if (dq * 4 < L.vdp)
        *reinterpret_cast<float4*>(red + (kg * GB + g) * L.vdp + dq * 4) =
            make_float4(acc[g][e][0], acc[g][e][1], acc[g][e][2], acc[g][e][3]);
    }
#pragma unroll
  for (int k = 0; k < HW; ++k) {
    const int g = warp + NW * k;
    if (g < GB && lane == 0) {
      sc[g] = m_run[k];
      sc[GB + g] = l_run[k];
    }
  }
  __syncthreads();
  for (GridWalk w(tid, NT, a.vd); w.r < nheads; w.next()) {  // (head, dimension), no division per element
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < KG; ++k)
      sum += red[(k * GB + w.r) * L.vdp + w.c];
    a.partial[(s * a.nh + h0 + w.r) * (a.vd + 2) + w.c] = sum;
  }
  for (int g = tid; g < nheads; g += NT) {
    float* out = a.partial + (s * a.nh + h0 + g) * (a.vd + 2);
    out[a.vd] = sc[g];
    out[a.vd + 1] = sc[GB + g];
  }
}

// grid (nh, ceil(vd / 32)), 256 threads: merges the splits of this step for one head and 32 dimensions.
// Warp w sums splits w, w + 8, ... (lane = dimension, coalesced), and the eight warps' sums are added in a
// fixed order: at 8k positions a thread walking all ~200 splits alone waited on ~25 rounds of L2 loads.
// The first kPrefetch values of each lane, the splits' maxima and their sums are all loaded before the
// reduction of the maxima, so a step's usual ~33 splits cost one round trip of loads, not three.
// merge_slice does it for head h's dimensions d0 .. d0 + 31 (after the wait), writing out[0 .. 32) (the
// dimensions below vd) by warp 0; the kernel writes the merged head to `out`.
constexpr int kCombineWarps = 8;
constexpr int kPrefetch = 8;
__device__ __forceinline__ void merge_slice(const AttnDecodeArgs& a, int h, int d0, float* out) {
  __shared__ float weight[kMaxSplits];
  __shared__ float part[kCombineWarps][32];
  __shared__ float scratch[33];
  const int pos = a.params->pos;
  int64_t first, chunk, n;
  split_plan(a, pos, first, chunk, n);
  const int64_t stride = int64_t(a.nh) * (a.vd + 2);
  const float* base = a.partial + int64_t(h) * (a.vd + 2);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int d = d0 + lane;
  float value[kPrefetch];
#pragma unroll
  for (int k = 0; k < kPrefetch; ++k) {
    const int64_t i = warp + int64_t(kCombineWarps) * k;
    value[k] = i < n && d < a.vd ? base[i * stride + d] : 0.0f;
  }
  float mx = -INFINITY, l = 0.0f;
  float sums[kMaxSplits / (kCombineWarps * 32)];  // each thread's splits' sums, loaded with the maxima
#pragma unroll
  for (int k = 0; k < kMaxSplits / (kCombineWarps * 32); ++k) {
    const int64_t i = threadIdx.x + int64_t(blockDim.x) * k;
    const float m = i < n ? base[i * stride + a.vd] : -INFINITY;
    sums[k] = i < n ? base[i * stride + a.vd + 1] : 0.0f;
    if (i < n) weight[i] = m;
    mx = fmaxf(mx, m);
  }
  // Block maximum via the sum helper's scratch: max of maxima.
  mx = warp_max(mx);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = mx;
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < kCombineWarps; ++w)
    M = fmaxf(M, scratch[w]);
#pragma unroll
  for (int k = 0; k < kMaxSplits / (kCombineWarps * 32); ++k) {
    const int64_t i = threadIdx.x + int64_t(blockDim.x) * k;
    if (i < n) {
      const float w = expf(weight[i] - M);
      weight[i] = w;
      l += sums[k] * w;
    }
  }
  const float L = block_sum(l, scratch);  // its barriers also publish weight[]
  float sum = 0.0f;
  if (d < a.vd) {
#pragma unroll
    for (int k = 0; k < kPrefetch; ++k) {
      const int64_t i = warp + int64_t(kCombineWarps) * k;
      if (i < n) sum += value[k] * weight[i];
    }
#pragma unroll 4
    for (int64_t i = warp + int64_t(kCombineWarps) * kPrefetch; i < n; i += kCombineWarps)
      sum += base[i * stride + d] * weight[i];
  }
  part[warp][lane] = sum;
  __syncthreads();
  if (warp == 0 && d < a.vd) {
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w)
      total += part[w][lane];
    out[lane] = total * (1.0f / L);
  }
}

__global__ void __launch_bounds__(kCombineWarps * 32) attn_combine_kernel(AttnDecodeArgs a) {
  pdl_begin();
  const int d0 = blockIdx.y * 32;
  merge_slice(a, blockIdx.x, d0, a.out + int64_t(blockIdx.x) * a.vd + d0);
}

// MLA (AttnDecodeArgs::v_up): grid (nh, r / 32), 256 threads. Block (h, c) merges head h's latent slice c
// (32 values, as the combine kernel) and multiplies it by that slice's 32 columns of the head's value
// up-projection (v_vd <= 128 rows: thread t holds 8 columns of rows t / 4 and t / 4 + 64, loaded before the
// wait). The slices' parts of a value meet as int64 fixed-point atomics (r / 32 per value), which the O
// projection reads as its input (GemvArgs::x_fixed). This replaces the value kernel, the kernel boundary
// before it and its load of the merged latent.
__global__ void __launch_bounds__(kCombineWarps * 32) mla_merge_value_kernel(AttnDecodeArgs a) {
  __shared__ __align__(16) float latent[32];
  const int h = blockIdx.x, quad = threadIdx.x & 3, row0 = threadIdx.x >> 2;
  const int d0 = blockIdx.y * 32;
  const bf16* w = a.v_up + (int64_t(h) * (a.v_nope + a.v_vd) + a.v_nope) * a.vd + d0 + quad * 8;
  uint4 rows[2];
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    const int i = row0 + 64 * k;
    rows[k] = i < a.v_vd ? load_weights8(w + int64_t(i) * a.vd) : make_uint4(0, 0, 0, 0);
  }
  pdl_begin();
  merge_slice(a, h, d0, latent);
  __syncthreads();
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    const int i = row0 + 64 * k;
    float v = dot8(rows[k], latent + quad * 8);
    v += __shfl_xor_sync(kFullMask, v, 1);
    v += __shfl_xor_sync(kFullMask, v, 2);
    if (quad == 0 && i < a.v_vd)
      atomicAdd(reinterpret_cast<unsigned long long*>(a.v_out + int64_t(h) * a.v_vd + i),
                to_fixed(v, a.nonfinite, a.tag));
  }
}

__global__ void embed_kernel(const bf16* table, int64_t hidden, const StepParams* params, float* x) {
  const bf16* row = table + int64_t(params->token) * hidden;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < hidden;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = __bfloat162float(row[i]);
}

// Launches the decode kernel and the merge; returns nothing, throws when shared memory does not suffice.
template <int GB, int NT, bool Wide, int EQ, int NBUF, bool kPrep = false>
void launch_decode(AttnDecodeArgs a, cudaStream_t s) {
  constexpr int KG = NT / (Wide ? 128 : 32);
  const bool shared_kv = a.v == a.k && a.v_stride == a.k_stride;
  const size_t smem = tile_smem(a.hd, a.vd, shared_kv, GB, NBUF, KG, kPrep).total;
  auto kernel = attn_decode_kernel<GB, NT, Wide, EQ, NBUF, kPrep>;
  int dev = 0, optin = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&dev));
  MOE_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (smem > size_t(optin))
    throw Error("attention: head size " + std::to_string(a.hd) + " needs " + std::to_string(smem) +
                " bytes of shared memory");
  // The kernel's attributes, set when the device or the size changes (launches without a graph come here
  // every layer).
  thread_local int set_device = -1;
  thread_local size_t set_smem = 0;
  thread_local int resident = 1;  // blocks an SM holds by registers and shared memory
  if (dev != set_device || smem != set_smem) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    prefer_max_shared(kernel);
    MOE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, NT, smem));
    set_device = dev;
    set_smem = smem;
  }
  // Blocks for at most one full wave (as many resident per SM as 200 KB of shared memory and the registers
  // allow, at most 6), spread over the splits; the split plan on the device shrinks the count for short
  // contexts. Each block keeps one tile in flight while it computes the other, so at long contexts the
  // blocks an SM holds set the bytes in flight: one head a block (Qwen1.5-MoE, OLMoE) fits five, which the
  // cap of 4 left at four. The split count rounds down, so no block waits for a second wave.
  const int G = a.nh / a.nkv, heads_blocks = a.nkv * ((G + GB - 1) / GB);
  const int by_smem = int(std::min<size_t>((200 * 1024) / (smem + 1024), 6));
  const int per_sm = std::max(1, std::min(by_smem, resident));
  const int64_t want = int64_t(sm_count()) * per_sm / heads_blocks;
  a.splits = std::clamp<int64_t>(want, 1, std::min<int64_t>(a.splits, kMaxSplits));
  launch_pdl(kernel, dim3(unsigned(heads_blocks), unsigned(a.splits)), NT, smem, s, a);
  MOE_CUDA_LAUNCHED();
  if (a.o_w) return launch_attn_output(a, s);
  if (a.v_up) {
    launch_pdl(mla_merge_value_kernel, dim3(unsigned(a.nh), unsigned(a.vd / 32)), kCombineWarps * 32, 0, s,
               a);
    MOE_CUDA_LAUNCHED();
    return;
  }
  launch_pdl(attn_combine_kernel, dim3(unsigned(a.nh), unsigned((a.vd + 31) / 32)), kCombineWarps * 32, 0, s,
             a);
  MOE_CUDA_LAUNCHED();
}

template <int GB>
void launch_decode_gb(const AttnDecodeArgs& a, cudaStream_t s) {
  constexpr int NT = GB >= 8 ? 256 : 128;
  if (a.prep.qkv) {  // only where attn_prep_fusable said so
    if constexpr (GB <= 8)
      if (a.vd <= 128 && !(a.v == a.k && a.v_stride == a.k_stride))
        return launch_decode<GB, NT, false, 1, 2, true>(a, s);
    throw Error("attention: the fused preparation does not take " + std::to_string(a.nh / a.nkv) +
                " query heads per KV head or values of " + std::to_string(a.vd));
  }
  if (a.vd <= 128) return launch_decode<GB, NT, false, 1, 2>(a, s);
  if (a.vd <= 512) return launch_decode<GB, NT, true, 1, 1>(a, s);
  if constexpr (GB <= 8)
    if (a.vd <= 1024) return launch_decode<GB, NT, true, 2, 1>(a, s);
  throw Error("attention: value size " + std::to_string(a.vd) + " is not supported");
}

}  // namespace

void prepare_attention_kernels() {
  // The flash-decoding variants are prepared where they are launched (with their shared-memory size).
  prefer_max_shared(attn_prep_kernel);
  prefer_max_shared(attn_combine_kernel);
  prefer_max_shared(mla_merge_value_kernel);
  prefer_max_shared(embed_kernel);
}

void launch_attn_prep(const AttnPrepArgs& a, cudaStream_t s) {
  if (a.hd > kMaxHead || a.vd > kMaxHead) throw Error("attention: head size over 1024 is not supported");
  launch_pdl(attn_prep_kernel, unsigned(a.nh + 2 * a.nkv), kPrepThreads, 0, s, a);
  MOE_CUDA_LAUNCHED();
}

bool attn_prep_fusable(int nh, int nkv, int vd) {
  return nkv > 0 && nh / nkv <= 8 && vd <= 128;  // head groups of 1, 2, 4 and 8 (launch_attn_decode)
}

void launch_attn_decode(const AttnDecodeArgs& a, cudaStream_t s) {
  if (a.hd > kMaxHead || a.vd > kMaxHead) throw Error("attention: head size over 1024 is not supported");
  const int G = a.nh / a.nkv;
  // Values wider than 512 hold 8 dims per lane: at most 8 heads per block then (register budget).
  if (G >= 16 && a.vd <= 512)
    launch_decode_gb<16>(a, s);
  else if (G >= 8)
    launch_decode_gb<8>(a, s);
  else if (G >= 4)
    launch_decode_gb<4>(a, s);
  else if (G >= 2)
    launch_decode_gb<2>(a, s);
  else
    launch_decode_gb<1>(a, s);
}

void launch_embed(const bf16* table, int64_t hidden, const StepParams* params, float* x, cudaStream_t s) {
  embed_kernel<<<unsigned((hidden + 255) / 256), 256, 0, s>>>(table, hidden, params, x);
  MOE_CUDA_LAUNCHED();
}

}  // namespace moe::cuda
