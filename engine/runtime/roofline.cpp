// decode_step_bytes (see moe/roofline.h), counted from the checkpoint's tensor list so that the floor
// follows the shapes the loader knows rather than any backend's layout.
#include "moe/roofline.h"

#include <algorithm>

#include "moe/random_checkpoint.h"

namespace moe {

DecodeBytes decode_step_bytes(const ModelSpec& s, int64_t position) {
  DecodeBytes b;
  const uint64_t H = uint64_t(s.hidden_size);
  for (const TensorShape& t : expected_tensors(s)) {
    uint64_t n = 1;
    for (int64_t d : t.shape)
      n *= uint64_t(d);
    const uint64_t bytes = n * (t.shape.size() == 1 ? 4 : 2);
    if (t.name == "model.embed_tokens.weight") {
      b.weights += H * 2;                                        // the one row of the token being decoded
      if (s.tie_word_embeddings) b.weights += bytes;             // and the whole table again as the lm_head
    } else if (t.name.find(".experts.") == std::string::npos) {  // routed experts are counted below
      b.weights += bytes;
    }
  }
  // top_k routed experts per MoE layer, each a gate, an up and a down projection.
  const uint64_t expert = 3 * uint64_t(s.moe_intermediate_size) * H * 2;
  b.weights += uint64_t(s.num_moe_layers()) * uint64_t(s.top_k) * expert;

  const int64_t width = s.attention == AttentionKind::MLA ? s.kv_lora_rank + s.qk_rope_head_dim
                                                          : s.num_kv_heads * (s.head_dim + s.v_head_dim);
  for (const LayerSpec& l : s.layers) {
    int64_t seen = position + 1;  // the new token attends to itself too
    if (l.sliding_window > 0) seen = std::min<int64_t>(seen, l.sliding_window);
    b.kv_cache += uint64_t(seen * width) * 2;
  }
  return b;
}

}  // namespace moe
