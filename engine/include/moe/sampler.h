// Sampling of the next token from a row of logits: repetition and presence penalties, temperature, top-k,
// top-p, min-p, then a draw from a counter-based RNG (Philox-4x32-10): the uniform number of step s under
// seed S is a pure function of (S, s), so every backend that implements the same arithmetic draws the same
// token stream for the same seed.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace moe {

struct SamplingParams {
  double temperature = 0.8;         // 0: greedy
  int64_t top_k = 40;               // 0: off
  double top_p = 0.95;              // 1: off
  double min_p = 0.05;              // 0: off
  double repetition_penalty = 1.0;  // 1: off; as transformers: logit > 0 ? logit / p : logit * p
  double presence_penalty = 0.0;    // subtracted once from every token already present
  uint64_t seed = 0;

  // Arg-max with every filter off (benchmarks and checks that compare tokens).
  static SamplingParams greedy() {
    SamplingParams p;
    p.temperature = 0;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    return p;
  }
};

// Philox-4x32-10 (Salmon et al., SC'11), as in Random123: the four 32-bit outputs of a counter under a key.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);
// A uniform float in [0, 1) from the first Philox output of (seed, step).
float philox_uniform(uint64_t seed, uint64_t step);

struct SampleResult {
  int32_t token = -1;
  float logprob =
      0;  // log-softmax of the raw logits (the model's distribution, before any sampling transform)
  std::vector<std::pair<int32_t, float>> top;  // best alternatives with their logprobs, best first
};

// `history`: the tokens seen so far (prompt and generated), for the penalties. `step`: the RNG counter.
SampleResult sample_token(std::span<const float> logits, const SamplingParams& p,
                          std::span<const int32_t> history, uint64_t step, int top_logprobs);

}  // namespace moe
