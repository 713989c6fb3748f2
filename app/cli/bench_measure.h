// The measurements of `moe-cli bench` on a ready backend: prefill, time to first token and batch-1 decode,
// each a median of repeated runs so one slow outlier (a page fault, a graph capture) does not set the figure.
#pragma once

#include <cstdint>

#include "moe/backend.h"
#include "moe/model_spec.h"

namespace moe::cli {

struct BenchSettings {
  int64_t prompt = 512;  // prefill length, and the position decoding starts at
  int64_t gen = 128;     // decode steps timed
  int64_t at = 0;        // > 0: also decode at this position (the cache filled to it by prefill)
  int repeats = 3;       // prefill runs after the warm-up
  uint64_t seed = 0;     // random prompt ids
};

struct DecodeFigures {
  int64_t position = 0;  // where the timed steps started
  int64_t steps = 0;
  double step_seconds = 0;  // median
  double mean_step_seconds = 0;
  double bytes_per_step = 0;  // decode_step_bytes at the middle step
  double tokens_per_second() const { return step_seconds > 0 ? 1.0 / step_seconds : 0; }
  double bytes_per_second() const { return step_seconds > 0 ? bytes_per_step / step_seconds : 0; }
};

struct BenchFigures {
  double prefill_seconds = 0;  // median over `repeats`, forward(prompt, Last)
  double ttft_seconds = 0;     // median prefill plus sampling the first token on the host
  DecodeFigures decode;        // at `prompt`
  DecodeFigures decode_at;     // at `at` (steps 0 when not asked for)
  double prefill_tokens_per_second(int64_t n) const { return prefill_seconds > 0 ? n / prefill_seconds : 0; }
};

// The context a run with these settings needs.
int64_t bench_context(const BenchSettings& s);

// Runs the whole measurement; the backend's cache is left holding the last decode's positions.
BenchFigures run_bench(Backend& backend, const ModelSpec& spec, const BenchSettings& s);

}  // namespace moe::cli
