// libFuzzer target: config.json text -> ModelSpec, then the quantities derived from a spec (parameter counts,
// attention scale, RoPE frequencies). Only moe::Error may escape parse_model_config; nothing may crash, hang
// or trip the sanitizers.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "moe/error.h"
#include "moe/model_spec.h"
#include "moe/rope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    moe::ModelSpec s = moe::parse_model_config(j, "config.json");
    (void)s.total_parameters();
    (void)s.active_parameters();
    (void)s.attention_scale();
    const int64_t rot = s.attention == moe::AttentionKind::MLA ? s.qk_rope_head_dim : s.head_dim;
    if (rot >= 2 && rot <= 4096) (void)moe::rope_frequencies(s, rot, 1024);
  } catch (const moe::Error&) {
  }
  return 0;
}
