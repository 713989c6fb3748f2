// Plain data that crosses the thread boundary between the EngineWorker and the GUI (queued signals).
#pragma once

#include <QMetaType>
#include <QString>
#include <QVector>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/generator.h"

namespace moe::studio {

// One generated token as the GUI sees it.
struct StreamedToken {
  int32_t id = -1;
  QString piece;  // text the token completes (may be empty while a UTF-8 character is incomplete)
  float logprob = 0;
  std::vector<std::pair<QString, float>> alternatives;  // top alternatives: text and logprob
  RoutingRecord routing;
};

// Events of one generation, batched per UI frame.
struct GenerationBatch {
  qint64 request = 0;
  std::vector<RoutingRecord> prompt_routing;  // prefill positions (the first batch of a request)
  std::vector<StreamedToken> tokens;
};

struct GenerationRequest {
  qint64 request = 0;
  nlohmann::json messages;    // [{role, content}] for chat; ignored in raw mode
  QString raw_prompt;         // raw-completion mode when non-empty
  QString template_override;  // a Jinja template replacing the model's; empty: the model's own
  nlohmann::json template_vars = nlohmann::json::object();  // e.g. {"enable_thinking": false}
  GenerationParams params;
  int64_t keep_context = 0;  // 0: the whole context may be used
};

struct GenerationSummary {
  qint64 request = 0;
  QString text;
  int64_t prompt_tokens = 0;
  int64_t reused_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t context_used = 0;
  int64_t context_length = 0;
  int dropped_turns = 0;  // turns left out by the context policy
  double prefill_tokens_per_second = 0;
  double decode_tokens_per_second = 0;
  QString stop_reason;
};

struct LoadedModelFacts {
  QString path, architecture, template_name, dtype;
  QString backend;           // the backend's name: "cpu" or "cuda"
  QString requested_device;  // what the user asked for: "auto", "cpu" or "cuda"
  QString device;            // one line for the status bar: the GPU, or the CPU and why
  QString gpu_name;          // the GPU the backend runs on; empty on the CPU
  QString device_note;       // on the CPU: why (no GPU found: the probe's reason, or the CPU was asked for)
  int64_t gpu_memory_bytes = 0;                                     // the GPU's total memory
  int64_t vram_weights = 0, vram_kv_cache = 0, vram_workspace = 0;  // the backend's device memory plan
  int64_t layers = 0, moe_layers = 0, experts = 0, top_k = 0;
  int64_t total_parameters = 0, active_parameters = 0, weight_bytes = 0;
  int64_t context_length = 0, max_context = 0, kv_cache_bytes = 0;
  bool default_template = false;
};

}  // namespace moe::studio

Q_DECLARE_METATYPE(moe::studio::GenerationBatch)
Q_DECLARE_METATYPE(moe::studio::GenerationRequest)
Q_DECLARE_METATYPE(moe::studio::GenerationSummary)
Q_DECLARE_METATYPE(moe::studio::LoadedModelFacts)
