// decode_step_bytes against byte counts worked out by hand for two tiny shapes (one with a dense layer, a
// gated shared expert, biases and a sliding window; one MLA), tied and untied embeddings.
#include <QtTest>

#include "moe/roofline.h"

using namespace moe;

namespace {

// Qwen2-MoE-like: V 16, H 8, 2 heads of 4, 1 kv head (v 4), layer 0 dense (12), layer 1 MoE with 4 experts
// of 6, top-2, a gated shared expert of 5, q/k/v biases; layer 1 has a sliding window of 3.
ModelSpec small_standard() {
  ModelSpec s;
  s.family = Family::Qwen2Moe;
  s.vocab_size = 16;
  s.hidden_size = 8;
  s.num_layers = 2;
  s.num_heads = 2;
  s.num_kv_heads = 1;
  s.head_dim = 4;
  s.v_head_dim = 4;
  s.intermediate_size = 12;
  s.max_position_embeddings = 64;
  s.attention_bias = true;
  s.num_experts = 4;
  s.top_k = 2;
  s.moe_intermediate_size = 6;
  s.shared_expert_intermediate_size = 5;
  s.shared_expert_gate = true;
  s.layers = {{false, 0}, {true, 3}};
  return s;
}

}  // namespace

class RooflineTest : public QObject {
  Q_OBJECT

 private slots:
  void standard_attention() {
    const ModelSpec s = small_standard();
    // embedding row 8*2 = 16
    // per layer: 2 norms 2*8*4 = 64; q 8x8, k 4x8, v 4x8, o 8x8 = 192 bf16 = 384; biases 8+4+4 fp32 = 64
    // layer 0 MLP: 3*12*8 bf16 = 576
    // layer 1: router 4x8 bf16 = 64; 2 of 4 experts 2*3*6*8 bf16 = 576; shared 3*5*8 bf16 = 240;
    //          shared gate 1x8 bf16 = 16
    // final norm 8*4 = 32; lm_head 16x8 bf16 = 256
    const uint64_t weights = 16 + 2 * (64 + 384 + 64) + 576 + (64 + 576 + 240 + 16) + 32 + 256;
    QCOMPARE(weights, uint64_t(2800));
    // KV at position 5, width 1*(4+4) = 8 bf16 per position: layer 0 sees 6 positions (96 bytes), layer 1's
    // window only 3 (48 bytes).
    DecodeBytes b = decode_step_bytes(s, 5);
    QCOMPARE(b.weights, weights);
    QCOMPARE(b.kv_cache, uint64_t(96 + 48));
    QCOMPARE(b.total(), weights + 144);
    // Position 0 reads one position in both layers.
    QCOMPARE(decode_step_bytes(s, 0).kv_cache, uint64_t(2 * 16));
  }

  void tied_embeddings_read_the_table_once_as_lm_head() {
    ModelSpec s = small_standard();
    s.tie_word_embeddings = true;
    // No lm_head tensor, but the embedding table is read whole by the output projection: same bytes.
    QCOMPARE(decode_step_bytes(s, 5).weights, uint64_t(2800));
  }

  void mla_latent_cache() {
    ModelSpec s;
    s.family = Family::DeepseekV2;
    s.attention = AttentionKind::MLA;
    s.vocab_size = 16;
    s.hidden_size = 8;
    s.num_layers = 1;
    s.num_heads = 2;
    s.num_kv_heads = 2;
    s.kv_lora_rank = 4;
    s.qk_nope_head_dim = 2;
    s.qk_rope_head_dim = 2;
    s.head_dim = 4;
    s.v_head_dim = 3;
    s.max_position_embeddings = 64;
    s.num_experts = 4;
    s.top_k = 1;
    s.moe_intermediate_size = 6;
    s.shared_expert_intermediate_size = 6;
    s.layers = {{true, 0}};
    // embedding row 16; norms 2*32 = 64
    // q 8x8 (64), kv_a 6x8 (48), kv_b 10x4 (40), o 8x6 (48): 200 bf16 = 400; kv_a_layernorm 4 fp32 = 16
    // router 4x8 bf16 = 64; 1 expert 3*6*8 bf16 = 288; shared experts 3*6*8 bf16 = 288
    // final norm 32; lm_head 256
    const uint64_t weights = 16 + 64 + 400 + 16 + 64 + 288 + 288 + 32 + 256;
    QCOMPARE(weights, uint64_t(1424));
    DecodeBytes b = decode_step_bytes(s, 9);
    QCOMPARE(b.weights, weights);
    // 10 positions of the latent (4) and rope key (2), bf16.
    QCOMPARE(b.kv_cache, uint64_t(10 * 6 * 2));
  }
};

QTEST_GUILESS_MAIN(RooflineTest)
#include "test_roofline.moc"
