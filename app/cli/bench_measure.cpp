// run_bench (see bench_measure.h). Prompts are random ids: at batch 1 the cost of a step does not depend on
// which tokens run, only on how many experts they pick, and the router of random weights spreads them.
#include "bench_measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "moe/error.h"
#include "moe/roofline.h"
#include "moe/sampler.h"

namespace moe::cli {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(vocab - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids)
    id = pick(rng);
  return ids;
}

// A backend that returns NaN or garbage must not report a speed.
void check_logits(const std::vector<float>& logits, const char* what) {
  for (float x : logits)
    if (!std::isfinite(x)) throw Error(std::string("bench: ") + what + " returned a non-finite logit");
}

int32_t first_token(const std::vector<float>& logits, std::span<const int32_t> history) {
  return sample_token(logits, SamplingParams::greedy(), history, 0, 0).token;
}

// `steps` greedy decode_sample steps from the cache's current length, each timed on its own (decode_sample
// returns once the token is on the host, so the wall time is the step's whole latency).
DecodeFigures time_decode(Backend& b, const ModelSpec& spec, std::vector<int32_t>& history, int32_t token,
                          int64_t steps) {
  DecodeFigures d;
  d.position = b.cache_length();
  d.steps = steps;
  std::vector<double> t;
  for (int64_t i = 0; i < steps; ++i) {
    history.push_back(token);
    const auto t0 = Clock::now();
    SampleResult r = b.decode_sample(token, SamplingParams::greedy(), history, uint64_t(i + 1), 0, nullptr);
    t.push_back(since(t0));
    if (r.token < 0 || r.token >= spec.vocab_size)
      throw Error("bench: decode step " + std::to_string(i) + " sampled token " + std::to_string(r.token) +
                  ", outside the vocabulary");
    token = r.token;
  }
  d.step_seconds = median(t);
  for (double x : t)
    d.mean_step_seconds += x / double(t.size());
  d.bytes_per_step = double(decode_step_bytes(spec, d.position + steps / 2).total());
  return d;
}

}  // namespace

int64_t bench_context(const BenchSettings& s) {
  return std::max(s.prompt, s.at) + s.gen + 1;
}

BenchFigures run_bench(Backend& b, const ModelSpec& spec, const BenchSettings& s) {
  if (s.prompt < 1 || s.gen < 1 || s.repeats < 1)
    throw Error("bench: --prompt, --gen and --repeats must be >= 1");
  BenchFigures f;
  const auto ids = random_ids(s.prompt, spec.vocab_size, s.seed);
  std::vector<float> logits;
  b.truncate(0);
  b.forward(ids, LogitsMode::Last, logits,
            nullptr);  // warm-up: first launches, cuBLAS heuristics, page faults
  check_logits(logits, "prefill");
  std::vector<double> prefill, ttft;
  int32_t first = -1;
  for (int r = 0; r < s.repeats; ++r) {
    b.truncate(0);
    const auto t0 = Clock::now();
    b.forward(ids, LogitsMode::Last, logits, nullptr);
    prefill.push_back(since(t0));
    first = first_token(logits, ids);
    ttft.push_back(since(t0));
  }
  check_logits(logits, "prefill");
  f.prefill_seconds = median(prefill);
  f.ttft_seconds = median(ttft);

  std::vector<int32_t> history = ids;
  f.decode = time_decode(b, spec, history, first, s.gen);

  if (s.at > 0) {
    // The cache is filled to `at` by prefill (fast), then decoding there is timed.
    b.truncate(0);
    history = random_ids(s.at, spec.vocab_size, s.seed + 1);
    b.forward(history, LogitsMode::Last, logits, nullptr);
    check_logits(logits, "prefill to --at");
    f.decode_at = time_decode(b, spec, history, first_token(logits, history), s.gen);
  }
  return f;
}

}  // namespace moe::cli
