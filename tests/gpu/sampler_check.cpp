// moe-sampler-check: the device sampler (engine/cuda/sampler*.cu) against the CPU's sample_token
// (moe/sampler.h), on the GPU machine, with a minimal CudaContext holding only what the sampler reads.
//  1. equality: random logit rows (peaked "LLM-like", flat, and heavily tied) at V = 151936 and small V,
//     nine parameter sets (greedy, top-k/top-p/min-p, full sort, penalties with a history, ...), random seeds
//     and steps: the drawn token must equal the CPU's in >= 99.9% of draws, the logprob and the top
//     alternatives must agree to 1e-5.
//  2. chi-square: 100k draws (steps 0..N-1) from a fixed 50-token distribution under three settings, on the
//     device and on the CPU, against probabilities computed here in double; pass when p > 1e-3.
//  3. timing of each mode at V = 151936: 1000 stream launches and 1000 launches of a captured CUDA graph;
//     the graph is then re-run with new steps and seeds written to device memory and checked against the CPU.
// Usage: moe-sampler-check [DATA_DIR] (the data directory is not needed). Exit status 1 when a check fails.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_context.h"
#include "cuda/sampler.h"
#include "cuda/sampler_device.cuh"
#include "moe/sampler.h"

using namespace moe;
using namespace moe::cuda;

namespace {

int failures = 0;

void row(const std::string& check, bool ok, const std::string& detail) {
  std::printf("| %-40s | %-4s | %s\n", check.c_str(), ok ? "ok" : "FAIL", detail.c_str());
  std::fflush(stdout);
  failures += !ok;
}

#define CK(expr)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (expr);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(2);                                                                               \
    }                                                                                             \
  } while (0)

// The fields of CudaContext the sampler uses, allocated here.
struct Rig {
  CudaContext c;
  StepParams* h_params = nullptr;  // pinned
  SampleOut* h_out = nullptr;      // pinned
  int64_t V;

  explicit Rig(int64_t vocab) : V(vocab) {
    c.spec.vocab_size = vocab;
    CK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    CK(cudaMalloc(&c.d.logits, size_t(V) * 4));
    CK(cudaMalloc(&c.d.params, sizeof(StepParams)));
    CK(cudaMalloc(&c.d.sample, sizeof(SampleOut)));
    CK(cudaMalloc(&c.d.seen, size_t(V)));
    CK(cudaMemset(c.d.seen, 0, size_t(V)));
    c.d.sampler_workspace_bytes = sampler_workspace_bytes(V);
    CK(cudaMalloc(&c.d.sampler_workspace, c.d.sampler_workspace_bytes));
    // Garbage in the workspace: the sampler must not rely on it being zeroed.
    CK(cudaMemset(c.d.sampler_workspace, 0xA5, c.d.sampler_workspace_bytes));
    CK(cudaMallocHost(&h_params, sizeof(StepParams)));
    CK(cudaMallocHost(&h_out, sizeof(SampleOut)));
  }
  ~Rig() {
    cudaFree(c.d.logits);
    cudaFree(c.d.params);
    cudaFree(c.d.sample);
    cudaFree(c.d.seen);
    cudaFree(c.d.sampler_workspace);
    cudaFreeHost(h_params);
    cudaFreeHost(h_out);
    cudaStreamDestroy(c.stream);
  }
  void set_logits(const std::vector<float>& l) {
    CK(cudaMemcpy(c.d.logits, l.data(), l.size() * 4, cudaMemcpyHostToDevice));
  }
  void set_params(const StepParams& p) {
    *h_params = p;
    CK(cudaMemcpyAsync(c.d.params, h_params, sizeof(StepParams), cudaMemcpyHostToDevice, c.stream));
    CK(cudaStreamSynchronize(c.stream));  // h_params is reused at once
  }
  // One draw with the output poisoned first (token -1, NaN logprobs).
  SampleOut sample(const StepParams& p, SamplerMode mode) {
    set_params(p);
    CK(cudaMemsetAsync(c.d.sample, 0xFF, sizeof(SampleOut), c.stream));
    enqueue_sample(c, mode);
    CK(cudaMemcpyAsync(h_out, c.d.sample, sizeof(SampleOut), cudaMemcpyDeviceToHost, c.stream));
    CK(cudaStreamSynchronize(c.stream));
    return *h_out;
  }
};

StepParams to_step(const SamplingParams& s, uint64_t step, int top_logprobs) {
  StepParams p;
  p.temperature = float(s.temperature);
  p.top_k = int32_t(s.top_k);
  p.top_p = float(s.top_p);
  p.min_p = float(s.min_p);
  p.repetition_penalty = float(s.repetition_penalty);
  p.presence_penalty = float(s.presence_penalty);
  p.seed = s.seed;
  p.step = step;
  p.top_logprobs = top_logprobs;
  return p;
}

// StepParams carries the sampling parameters as float; the CPU gets the same values (a top_p of 0.9 and of
// float(0.9) can cut a flat distribution one token apart, which is no property of the sampler).
SamplingParams float_rounded(SamplingParams s) {
  s.temperature = double(float(s.temperature));
  s.top_p = double(float(s.top_p));
  s.min_p = double(float(s.min_p));
  s.repetition_penalty = double(float(s.repetition_penalty));
  s.presence_penalty = double(float(s.presence_penalty));
  return s;
}

const char* mode_name(SamplerMode m) {
  return m == SamplerMode::Greedy ? "greedy" : m == SamplerMode::TopK ? "topk" : "fullsort";
}

// Logit rows: 0 peaked (a few tokens far above a normal background, like a language model), 1 flat normal,
// 2 heavily tied (normal rounded to halves: large groups of equal logits around every cut), 3 two thirds
// exactly zero, half of them -0.0 (the radix select must go down to the id bits; -0 and +0 tie).
std::vector<float> make_logits(int64_t V, int kind, std::mt19937_64& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> l(static_cast<size_t>(V));
  for (size_t i = 0; i < l.size(); ++i)
    l[i] = kind == 0    ? 1.5f * nd(rng)
           : kind == 1  ? nd(rng)
           : kind == 2  ? std::round(2.f * nd(rng)) * 0.5f
           : i % 3 == 0 ? nd(rng) - 6.f
                        : (i % 2 ? 0.0f : -0.0f);
  if (kind == 0) {
    std::uniform_int_distribution<int64_t> pick(0, V - 1);
    std::uniform_real_distribution<float> high(6.f, 14.f);
    for (int i = 0; i < 20; ++i)
      l[size_t(pick(rng))] = high(rng);
  }
  return l;
}

struct ParamSet {
  const char* name;
  SamplingParams sp;
  bool history;
  int top_logprobs;
};

std::vector<ParamSet> param_sets() {
  auto mk = [](double t, int64_t k, double top_p, double min_p, double rep, double pres) {
    SamplingParams s;
    s.temperature = t;
    s.top_k = k;
    s.top_p = top_p;
    s.min_p = min_p;
    s.repetition_penalty = rep;
    s.presence_penalty = pres;
    return s;
  };
  return {
      {"greedy", mk(0, 40, 0.95, 0.05, 1, 0), false, 20},
      {"k40 p.95 minp.05 T.8", mk(0.8, 40, 0.95, 0.05, 1, 0), false, 5},
      {"k0 p.9 T1", mk(1.0, 0, 0.9, 0, 1, 0), false, 3},
      {"rep1.3 k40 p.95 T.8", mk(0.8, 40, 0.95, 0.05, 1.3, 0), true, 5},
      {"presence.5 k0 p1 T1", mk(1.0, 0, 1.0, 0, 1, 0.5), true, 0},
      {"greedy rep1.3 pres.2", mk(0, 0, 1, 0, 1.3, 0.2), true, 1},
      {"k1024 T1.5", mk(1.5, 1024, 1.0, 0, 1, 0), false, 0},
      {"k200 minp.1 T1", mk(1.0, 200, 1.0, 0.1, 1, 0), false, 20},
      {"k5000 p.95 T.9 (fullsort)", mk(0.9, 5000, 0.95, 0, 1.1, 0.3), true, 2},
  };
}

struct EqStats {
  int draws = 0, same = 0, bad_out = 0;
  double max_dlp = 0;
  int top_bad = 0;
};

void compare(const SampleOut& g, const SampleResult& r, int top_logprobs, int64_t V, EqStats& st,
             const std::string& where) {
  ++st.draws;
  const bool in_range = g.token >= 0 && g.token < V && std::isfinite(g.logprob);
  if (!in_range) {
    if (st.bad_out++ < 3)
      std::printf("  bad output %s: token %d logprob %g\n", where.c_str(), g.token, g.logprob);
    return;
  }
  if (g.token == r.token) {
    ++st.same;
    st.max_dlp = std::max(st.max_dlp, double(std::fabs(g.logprob - r.logprob)));
  } else if (st.draws - st.same <= 3) {
    std::printf("  token differs %s: gpu %d (lp %.6f) cpu %d (lp %.6f)\n", where.c_str(), g.token, g.logprob,
                r.token, r.logprob);
  }
  const int n = int(std::min<int64_t>(top_logprobs, V));
  bool ok = int(r.top.size()) == n;
  for (int i = 0; ok && i < n; ++i) {
    ok = g.top_ids[i] == r.top[size_t(i)].first;
    if (ok) st.max_dlp = std::max(st.max_dlp, double(std::fabs(g.top_logprobs[i] - r.top[size_t(i)].second)));
  }
  for (int i = n; ok && i < kMaxTopLogprobs; ++i)
    ok = g.top_ids[i] == -1;
  if (!ok && st.top_bad++ < 3) std::printf("  top alternatives differ %s\n", where.c_str());
}

void equality_checks() {
  std::mt19937_64 rng(20240607);
  const std::vector<int64_t> vocabs = {151936, 50, 1000, 2048, 2049, 5000};
  const auto sets = param_sets();
  EqStats total;
  for (const auto& ps : sets) {
    EqStats st;
    for (int64_t V : vocabs) {
      Rig rig(V);
      const bool big = V > 100000;
      const int rows_per_kind = big ? 2 : 2, steps = big ? 10 : 10;
      for (int kind = 0; kind < 4; ++kind)
        for (int r = 0; r < rows_per_kind; ++r) {
          auto logits = make_logits(V, kind, rng);
          rig.set_logits(logits);
          std::vector<int32_t> history;
          if (ps.history) {
            std::uniform_int_distribution<int32_t> pick(0, int32_t(V - 1));
            for (int i = 0; i < std::min<int64_t>(300, V / 3); ++i)
              history.push_back(pick(rng));
            // The best tokens are in the history too, so that the penalties change the outcome.
            std::vector<int32_t> order(static_cast<size_t>(V));
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + 4, order.end(),
                              [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
            history.insert(history.end(), order.begin(), order.begin() + 3);
            // The last one reaches the device through enqueue_mark_seen (the decode graph's path).
            upload_seen(rig.c, std::span<const int32_t>(history.data(), history.size() - 1));
            StepParams mark;
            mark.token = history.back();
            rig.set_params(mark);
            enqueue_mark_seen(rig.c);
          } else {
            upload_seen(rig.c, {});
          }
          SamplingParams sp = float_rounded(ps.sp);
          sp.seed = rng();
          const SamplerMode mode = sampler_mode(sp);
          std::vector<uint64_t> step_ids(static_cast<size_t>(steps));
          std::vector<SampleOut> outs(static_cast<size_t>(steps));
          for (int s = 0; s < steps; ++s) {
            step_ids[size_t(s)] = s == 0 ? 0 : rng();
            outs[size_t(s)] = rig.sample(to_step(sp, step_ids[size_t(s)], ps.top_logprobs), mode);
          }
          std::vector<std::future<SampleResult>> cpu;
          for (int s = 0; s < steps; ++s)
            cpu.push_back(std::async(std::launch::async, [&, s] {
              return sample_token(logits, sp, history, step_ids[size_t(s)], ps.top_logprobs);
            }));
          for (int s = 0; s < steps; ++s)
            compare(outs[size_t(s)], cpu[size_t(s)].get(), ps.top_logprobs, V, st,
                    std::string(ps.name) + " V=" + std::to_string(V) + " kind " + std::to_string(kind) +
                        " step " + std::to_string(step_ids[size_t(s)]));
        }
    }
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "%s: %d/%d tokens equal, max |dlogprob| %.2e, top lists bad %d, bad out %d",
                  mode_name(sampler_mode(ps.sp)), st.same, st.draws, st.max_dlp, st.top_bad, st.bad_out);
    row(std::string("equal: ") + ps.name,
        st.bad_out == 0 && st.top_bad == 0 && st.max_dlp <= 1e-5 && st.same >= 0.99 * st.draws, buf);
    total.draws += st.draws;
    total.same += st.same;
    total.bad_out += st.bad_out;
    total.top_bad += st.top_bad;
    total.max_dlp = std::max(total.max_dlp, st.max_dlp);
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%d/%d tokens equal (%.3f%%), max |dlogprob| %.2e", total.same, total.draws,
                100.0 * total.same / total.draws, total.max_dlp);
  row("equal: all draws (>= 99.9%)", total.same >= 0.999 * total.draws && total.bad_out == 0, buf);
}

// Regularised upper incomplete gamma Q(a, x) (Numerical Recipes' gammq): the chi-square p-value is
// Q(dof / 2, stat / 2).
double gamma_q(double a, double x) {
  if (x <= 0) return 1.0;
  const double gln = std::lgamma(a);
  if (x < a + 1) {
    double ap = a, sum = 1.0 / a, del = sum;
    for (int n = 0; n < 10000; ++n) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (std::fabs(del) < std::fabs(sum) * 1e-15) break;
    }
    return 1.0 - sum * std::exp(-x + a * std::log(x) - gln);
  }
  double b = x + 1 - a, c = 1.0 / 1e-300, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (std::fabs(c) < 1e-300) c = 1e-300;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-15) break;
  }
  return std::exp(-x + a * std::log(x) - gln) * h;
}

// The distribution sample_token draws from, in double: candidates best first, tempered softmax, top-k,
// top-p and min-p cuts, renormalised.
std::vector<double> expected_probs(const std::vector<float>& l, const SamplingParams& p) {
  const size_t V = l.size();
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
  size_t keep = p.top_k > 0 ? std::min<size_t>(size_t(p.top_k), V) : V;
  std::vector<double> w(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += w[i] = std::exp((double(l[size_t(order[i])]) - l[size_t(order[0])]) / p.temperature);
  double cum = 0;
  size_t n = keep;
  for (size_t i = 0; i < keep && p.top_p < 1; ++i) {
    cum += w[i] / sum;
    if (cum >= p.top_p) {
      n = i + 1;
      break;
    }
  }
  size_t m = 1;
  while (p.min_p > 0 && m < n && w[m] >= p.min_p * w[0])
    ++m;
  if (p.min_p > 0) n = m;
  double kept = 0;
  for (size_t i = 0; i < n; ++i)
    kept += w[i];
  std::vector<double> prob(V, 0.0);
  for (size_t i = 0; i < n; ++i)
    prob[size_t(order[i])] = w[i] / kept;
  return prob;
}

struct ChiSq {
  double stat = 0, p = 0;
  int dof = 0;
  bool impossible = false;  // a token with probability 0 was drawn
};

ChiSq chi_square(const std::vector<int64_t>& hist, const std::vector<double>& prob, int64_t n) {
  ChiSq r;
  int bins = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    if (prob[i] <= 0) {
      r.impossible |= hist[i] > 0;
      continue;
    }
    const double e = prob[i] * double(n), d = double(hist[i]) - e;
    r.stat += d * d / e;
    ++bins;
  }
  r.dof = bins - 1;
  r.p = gamma_q(r.dof / 2.0, r.stat / 2.0);
  return r;
}

void chi_square_checks() {
  constexpr int64_t V = 50, N = 100000;
  std::vector<float> logits(V);
  for (int64_t i = 0; i < V; ++i)
    logits[size_t(i)] = float(1.5 * std::sin(0.7 * double(i)) + 0.02 * double(i));
  struct Setting {
    const char* name;
    double t;
    int64_t k;
    double top_p;
  };
  const Setting settings[] = {
      {"k0 p1 T1", 1.0, 0, 1.0}, {"k10 p1 T.7", 0.7, 10, 1.0}, {"k0 p.9 T1", 1.0, 0, 0.9}};
  Rig rig(V);
  rig.set_logits(logits);
  upload_seen(rig.c, {});
  StepParams* hp = nullptr;
  int32_t* htok = nullptr;
  CK(cudaMallocHost(&hp, sizeof(StepParams) * N));
  CK(cudaMallocHost(&htok, sizeof(int32_t) * N));
  for (const auto& s : settings) {
    SamplingParams sp;
    sp.temperature = s.t;
    sp.top_k = s.k;
    sp.top_p = s.top_p;
    sp.min_p = 0;
    sp.seed = 0x5EED;
    const SamplerMode mode = sampler_mode(sp);
    const auto prob = expected_probs(logits, sp);
    // Device: N draws, steps 0..N-1, enqueued back to back (each its own parameter copy).
    for (int64_t i = 0; i < N; ++i) {
      hp[i] = to_step(sp, uint64_t(i), 0);
      CK(cudaMemcpyAsync(rig.c.d.params, &hp[i], sizeof(StepParams), cudaMemcpyHostToDevice, rig.c.stream));
      enqueue_sample(rig.c, mode);
      CK(cudaMemcpyAsync(&htok[i], &rig.c.d.sample->token, 4, cudaMemcpyDeviceToHost, rig.c.stream));
    }
    CK(cudaStreamSynchronize(rig.c.stream));
    std::vector<int64_t> gpu_hist(V, 0), cpu_hist(V, 0);
    int64_t bad = 0, same = 0;
    for (int64_t i = 0; i < N; ++i) {
      const int32_t g = htok[i];
      if (g < 0 || g >= V) {
        ++bad;
        continue;
      }
      ++gpu_hist[size_t(g)];
      const int32_t c = sample_token(logits, sp, {}, uint64_t(i), 0).token;
      ++cpu_hist[size_t(c)];
      same += g == c;
    }
    const ChiSq g = chi_square(gpu_hist, prob, N), c = chi_square(cpu_hist, prob, N);
    char buf[220];
    std::snprintf(buf, sizeof buf, "%s: chi2 %.2f dof %d p %.4f%s; same token as cpu %lld/%lld",
                  mode_name(mode), g.stat, g.dof, g.p, g.impossible ? " (drew a 0-probability token)" : "",
                  (long long)same, (long long)N);
    row(std::string("chi2 gpu: ") + s.name, bad == 0 && !g.impossible && g.p > 1e-3, buf);
    std::snprintf(buf, sizeof buf, "chi2 %.2f dof %d p %.4f%s", c.stat, c.dof, c.p,
                  c.impossible ? " (drew a 0-probability token)" : "");
    row(std::string("chi2 cpu: ") + s.name, !c.impossible && c.p > 1e-3, buf);
  }
  cudaFreeHost(hp);
  cudaFreeHost(htok);
}

void timing_checks() {
  constexpr int64_t V = 151936;
  constexpr int kIters = 1000;
  std::mt19937_64 rng(7);
  Rig rig(V);
  struct Case {
    const char* name;
    SamplingParams sp;
    int top_logprobs;
    int kind;
    bool history;
  };
  auto mk = [](double t, int64_t k, double top_p, double min_p, double rep) {
    SamplingParams s;
    s.temperature = t;
    s.top_k = k;
    s.top_p = top_p;
    s.min_p = min_p;
    s.repetition_penalty = rep;
    s.seed = 99;
    return s;
  };
  const Case cases[] = {
      {"greedy", mk(0, 0, 1, 0, 1), 0, 0, false},
      {"greedy top_logprobs 20", mk(0, 0, 1, 0, 1), 20, 0, false},
      {"k40 p.95 minp.05 T.8", mk(0.8, 40, 0.95, 0.05, 1), 0, 0, false},
      {"k40 ... rep1.3 top_logprobs 5", mk(0.8, 40, 0.95, 0.05, 1.3), 5, 0, true},
      {"k40 ... tied logits", mk(0.8, 40, 0.95, 0.05, 1), 0, 2, false},
      {"k40 ... 2/3 zeros (deepest select)", mk(0.8, 40, 0.95, 0.05, 1), 0, 3, false},
      {"k1024 T1", mk(1.0, 1024, 1, 0, 1), 0, 0, false},
      {"k0 p.9 T1 (fullsort)", mk(1.0, 0, 0.9, 0, 1), 0, 0, false},
      {"k0 p1 T1 flat (fullsort)", mk(1.0, 0, 1, 0, 1), 0, 1, false},
  };
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (const auto& cs : cases) {
    auto logits = make_logits(V, cs.kind, rng);
    rig.set_logits(logits);
    std::vector<int32_t> history;
    if (cs.history)
      for (int i = 0; i < 300; ++i)
        history.push_back(int32_t(rng() % uint64_t(V)));
    upload_seen(rig.c, history);
    const SamplerMode mode = sampler_mode(cs.sp);
    rig.set_params(to_step(cs.sp, 1, cs.top_logprobs));
    for (int i = 0; i < 20; ++i)
      enqueue_sample(rig.c, mode);
    CK(cudaEventRecord(e0, rig.c.stream));
    for (int i = 0; i < kIters; ++i)
      enqueue_sample(rig.c, mode);
    CK(cudaEventRecord(e1, rig.c.stream));
    CK(cudaEventSynchronize(e1));
    float ms_stream = 0;
    CK(cudaEventElapsedTime(&ms_stream, e0, e1));
    // The same in a captured graph (as the decode step will run it).
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(rig.c.stream, cudaStreamCaptureModeThreadLocal));
    enqueue_sample(rig.c, mode);
    CK(cudaStreamEndCapture(rig.c.stream, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 20; ++i)
      CK(cudaGraphLaunch(exec, rig.c.stream));
    CK(cudaEventRecord(e0, rig.c.stream));
    for (int i = 0; i < kIters; ++i)
      CK(cudaGraphLaunch(exec, rig.c.stream));
    CK(cudaEventRecord(e1, rig.c.stream));
    CK(cudaEventSynchronize(e1));
    float ms_graph = 0;
    CK(cudaEventElapsedTime(&ms_graph, e0, e1));
    // The graph reads its parameters at run time: new steps and seeds, each checked against the CPU.
    int same = 0, tries = 8;
    for (int t = 0; t < tries; ++t) {
      SamplingParams sp = float_rounded(cs.sp);
      sp.seed = rng();
      const uint64_t step = rng();
      rig.set_params(to_step(sp, step, cs.top_logprobs));
      CK(cudaMemsetAsync(rig.c.d.sample, 0xFF, sizeof(SampleOut), rig.c.stream));
      CK(cudaGraphLaunch(exec, rig.c.stream));
      CK(cudaMemcpyAsync(rig.h_out, rig.c.d.sample, sizeof(SampleOut), cudaMemcpyDeviceToHost, rig.c.stream));
      CK(cudaStreamSynchronize(rig.c.stream));
      const auto r = sample_token(logits, sp, history, step, cs.top_logprobs);
      same += rig.h_out->token == r.token && std::fabs(rig.h_out->logprob - r.logprob) <= 1e-5f;
    }
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(graph));
    // Where the time goes: graphs of the memset and the first s launches (cumulative).
    const int max_stages = mode == SamplerMode::Greedy ? 1 : mode == SamplerMode::TopK ? 7 : 4;
    std::string stages;
    for (int s = 0; s <= max_stages; ++s) {
      CK(cudaStreamBeginCapture(rig.c.stream, cudaStreamCaptureModeThreadLocal));
      sampler_detail::enqueue_sample_stages(rig.c, mode, s);
      CK(cudaStreamEndCapture(rig.c.stream, &graph));
      CK(cudaGraphInstantiate(&exec, graph, 0));
      for (int i = 0; i < 10; ++i)
        CK(cudaGraphLaunch(exec, rig.c.stream));
      CK(cudaEventRecord(e0, rig.c.stream));
      for (int i = 0; i < 300; ++i)
        CK(cudaGraphLaunch(exec, rig.c.stream));
      CK(cudaEventRecord(e1, rig.c.stream));
      CK(cudaEventSynchronize(e1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      char part[32];
      std::snprintf(part, sizeof part, "%s%.1f", s ? " " : "", 1000.0 * ms / 300);
      stages += part;
      CK(cudaGraphExecDestroy(exec));
      CK(cudaGraphDestroy(graph));
    }
    std::printf("    %s cumulative us by launches (memset, +1, +2, ...): %s\n", cs.name, stages.c_str());
    char buf[200];
    std::snprintf(buf, sizeof buf, "%-8s %7.1f us/sample (stream) %7.1f us (graph); graph vs cpu %d/%d",
                  mode_name(mode), 1000.0 * ms_stream / kIters, 1000.0 * ms_graph / kIters, same, tries);
    row(std::string("time: ") + cs.name, same == tries, buf);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}

}  // namespace

int main(int, char**) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("moe-sampler-check: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("moe-sampler-check on %s\n", prop.name);
  try {
    equality_checks();
    chi_square_checks();
    timing_checks();
  } catch (const std::exception& e) {
    row("exception", false, e.what());
  }
  std::printf("moe-sampler-check: %s\n", failures ? "FAILED" : "all ok");
  return failures ? 1 : 0;
}
