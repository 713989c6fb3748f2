// Generator: the prefill/decode loop over a Backend. It keeps the tokens whose keys and values are in the
// backend's cache, so a follow-up prompt that shares a prefix only prefills what is new; it samples, stops
// on EOS ids, stop strings or max tokens, and reports every token with its logprobs and routing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "moe/backend.h"
#include "moe/sampler.h"

namespace moe {

struct GenerationParams {
  SamplingParams sampling;
  int64_t max_tokens = 256;
  std::vector<std::string> stop_strings;  // need a `piece` function (the detokenizer)
  std::vector<int32_t> stop_token_ids;    // end-of-sequence ids besides the model's (e.g. a chat end-of-turn)
  bool ignore_eos = false;
  int top_logprobs = 0;
  const std::atomic<bool>* cancel = nullptr;  // checked before each decode step
};

// Routing of one position: for each MoE layer, top_k experts and their weights.
struct RoutingRecord {
  int64_t position = 0;
  bool prompt = false;           // a prompt position (prefill) rather than a generated one
  std::vector<int32_t> experts;  // [n_moe_layers * top_k]
  std::vector<float> weights;
};

struct TokenEvent {
  int32_t id = -1;
  std::string piece;  // text of the token (empty without a detokenizer)
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top_logprobs;
  RoutingRecord routing;
};

enum class StopReason { MaxTokens, Eos, StopString, ContextFull, Cancelled };
std::string stop_reason_name(StopReason r);

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (the EOS id, when it stopped there, is not included)
  std::vector<float> logprobs;
  StopReason reason = StopReason::MaxTokens;
  int64_t prompt_tokens = 0;
  int64_t reused_tokens = 0;  // prompt positions whose cache was reused
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

class Generator {
 public:
  using PieceFn = std::function<std::string(int32_t)>;
  Generator(Backend& backend, const ModelSpec& spec, PieceFn piece = {});

  // Called for every prompt position (routing only, prompt = true) and every generated token.
  using PromptSink = std::function<void(const RoutingRecord&)>;
  using TokenSink = std::function<void(const TokenEvent&)>;
  GenerationResult generate(std::span<const int32_t> prompt, const GenerationParams& params,
                            const TokenSink& on_token, const PromptSink& on_prompt = {});
  // Drops the cache (next call prefills everything).
  void reset();

 private:
  Backend& backend_;
  const ModelSpec& spec_;
  PieceFn piece_;
  std::vector<int32_t> cached_;  // tokens whose K/V are in the backend's cache
};

}  // namespace moe
