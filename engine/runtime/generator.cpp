// Generator (see moe/generator.h). Each sampled token is fed back through the model before it is reported,
// so its event carries the routing of its own position and the cache always equals the history.
#include "moe/generator.h"

#include <algorithm>
#include <chrono>

#include "moe/error.h"

namespace moe {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

RoutingRecord record_of(RoutingBatch& r, int64_t row, int64_t position, bool prompt) {
  RoutingRecord rec;
  rec.position = position;
  rec.prompt = prompt;
  const size_t width = size_t(r.n_moe_layers * r.top_k);
  rec.experts.assign(r.experts.begin() + row * width, r.experts.begin() + (row + 1) * width);
  rec.weights.assign(r.weights.begin() + row * width, r.weights.begin() + (row + 1) * width);
  return rec;
}

}  // namespace

std::string stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::MaxTokens:
      return "max_tokens";
    case StopReason::Eos:
      return "eos";
    case StopReason::StopString:
      return "stop_string";
    case StopReason::ContextFull:
      return "context_full";
    case StopReason::Cancelled:
      return "cancelled";
  }
  return "?";
}

Generator::Generator(Backend& backend, const ModelSpec& spec, PieceFn piece)
    : backend_(backend), spec_(spec), piece_(std::move(piece)) {}

void Generator::reset() {
  backend_.truncate(0);
  cached_.clear();
}

GenerationResult Generator::generate(std::span<const int32_t> prompt, const GenerationParams& params,
                                     const TokenSink& on_token, const PromptSink& on_prompt) {
  if (prompt.empty()) throw Error("the prompt holds no tokens");
  if (int64_t(prompt.size()) > backend_.context_length())
    throw Error("the prompt holds " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                std::to_string(backend_.context_length()));
  if (!params.stop_strings.empty() && !piece_) throw Error("stop strings need a tokenizer to decode tokens");
  GenerationResult result;
  result.prompt_tokens = int64_t(prompt.size());

  // Reuse the cached prefix; at least the last prompt token is run again to get its logits.
  size_t common = 0;
  while (common < cached_.size() && common < prompt.size() && cached_[common] == prompt[common])
    ++common;
  common = std::min(common, prompt.size() - 1);
  backend_.truncate(int64_t(common));
  cached_.assign(prompt.begin(), prompt.begin() + int64_t(common));
  result.reused_tokens = int64_t(common);

  std::vector<float> logits;
  RoutingBatch routing;
  auto t0 = Clock::now();
  backend_.forward(prompt.subspan(common), LogitsMode::Last, logits, &routing);
  cached_.insert(cached_.end(), prompt.begin() + int64_t(common), prompt.end());
  result.prefill_seconds = seconds_since(t0);
  if (on_prompt)
    for (int64_t i = 0; i < routing.n_positions; ++i)
      on_prompt(record_of(routing, i, int64_t(common) + i, true));

  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::string text;
  t0 = Clock::now();
  // The first token comes from the prompt's logits; each later one from decode_sample, which feeds the
  // previous token and samples on the backend (on the device for CUDA), with the RNG counter = step.
  SampleResult s = sample_token(logits, params.sampling, history, 0, params.top_logprobs);
  for (int64_t step = 0; step < params.max_tokens; ++step) {
    if (params.cancel && params.cancel->load()) {
      result.reason = StopReason::Cancelled;
      break;
    }
    auto listed = [&](const std::vector<int32_t>& ids) {
      return std::find(ids.begin(), ids.end(), s.token) != ids.end();
    };
    if (!params.ignore_eos && (listed(spec_.eos_token_ids) || listed(params.stop_token_ids))) {
      result.reason = StopReason::Eos;
      break;
    }
    if (backend_.cache_length() >= backend_.context_length()) {
      result.reason = StopReason::ContextFull;
      break;
    }
    const int32_t tok = s.token;
    history.push_back(tok);
    SampleResult next = backend_.decode_sample(tok, params.sampling, history, uint64_t(step + 1),
                                               params.top_logprobs, &routing);
    cached_.push_back(tok);
    result.tokens.push_back(tok);
    result.logprobs.push_back(s.logprob);

    TokenEvent ev;
    ev.id = tok;
    ev.logprob = s.logprob;
    ev.top_logprobs = std::move(s.top);
    ev.routing = record_of(routing, 0, backend_.cache_length() - 1, false);
    if (piece_) ev.piece = piece_(tok);
    text += ev.piece;
    if (on_token) on_token(ev);
    s = std::move(next);
    if (std::any_of(params.stop_strings.begin(), params.stop_strings.end(), [&](const std::string& st) {
          return !st.empty() && text.find(st) != std::string::npos;
        })) {
      result.reason = StopReason::StopString;
      break;
    }
  }
  result.decode_seconds = seconds_since(t0);
  return result;
}

}  // namespace moe
