// config.json -> ModelSpec: every family's fields, both dialects' RoPE, and bad configs rejected with the
// field named (unknown architecture, zero experts, top-k > experts, absurd dimensions, wrong types).
#include <QtTest>

#include "moe/error.h"
#include "moe/model_spec.h"
#include "moe/random_checkpoint.h"

using namespace moe;
using nlohmann::json;

namespace {

json mixtral() {
  return {{"architectures", {"MixtralForCausalLM"}},
          {"vocab_size", 300},
          {"hidden_size", 64},
          {"intermediate_size", 96},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"num_local_experts", 4},
          {"num_experts_per_tok", 2}};
}

// Runs parse_model_config and returns the error message ("" when it parsed).
QString error_of(const json& config) {
  try {
    parse_model_config(config, "config.json");
  } catch (const Error& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

}  // namespace

class ModelConfigTest : public QObject {
  Q_OBJECT

 private slots:
  void mixtral_defaults() {
    ModelSpec s = parse_model_config(mixtral());
    QCOMPARE(s.family, Family::Mixtral);
    QCOMPARE(s.num_experts, 4);
    QCOMPARE(s.top_k, 2);
    QCOMPARE(s.moe_intermediate_size, 96);
    QCOMPARE(s.head_dim, 16);
    QCOMPARE(s.rope.theta, 1e6);  // Mixtral's default
    QVERIFY(s.norm_topk_prob);
    QCOMPARE(s.num_moe_layers(), 2);
  }

  void rope_dialects() {
    json v4 = mixtral();
    v4["rope_theta"] = 5000.0;
    v4["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
    json v5 = mixtral();
    v5["rope_parameters"] = {{"rope_type", "linear"}, {"rope_theta", 5000.0}, {"factor", 2.0}};
    for (const json& c : {v4, v5}) {
      ModelSpec s = parse_model_config(c);
      QCOMPARE(s.rope.theta, 5000.0);
      QCOMPARE(s.rope.type, RopeType::Linear);
      QCOMPARE(s.rope.factor, 2.0);
    }
  }

  void qwen2_moe_layers_and_windows() {
    json c = {{"architectures", {"Qwen2MoeForCausalLM"}},
              {"vocab_size", 300},
              {"hidden_size", 64},
              {"intermediate_size", 96},
              {"moe_intermediate_size", 32},
              {"num_hidden_layers", 4},
              {"num_attention_heads", 4},
              {"num_experts", 6},
              {"num_experts_per_tok", 2},
              {"mlp_only_layers", {1}},
              {"decoder_sparse_step", 1},
              {"shared_expert_intermediate_size", 48},
              {"use_sliding_window", true},
              {"sliding_window", 8},
              {"max_window_layers", 3}};
    ModelSpec s = parse_model_config(c);
    QCOMPARE(s.layers[0].moe, true);
    QCOMPARE(s.layers[1].moe, false);
    QVERIFY(s.shared_expert_gate);
    QVERIFY(s.attention_bias);
    // transformers' Qwen2-MoE rule without layer_types: odd-numbered (1-based) layers below
    // max_window_layers.
    QCOMPARE(s.layers[0].sliding_window, 8);
    QCOMPARE(s.layers[1].sliding_window, 0);
    QCOMPARE(s.layers[2].sliding_window, 8);
    QCOMPARE(s.layers[3].sliding_window, 0);
    c["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "full_attention"};
    s = parse_model_config(c);
    QCOMPARE(s.layers[0].sliding_window, 0);
    QCOMPARE(s.layers[1].sliding_window, 8);
  }

  void deepseek_v3_fields() {
    ModelSpec s = parse_model_config(preset_config("tiny-deepseek-v3"));
    QCOMPARE(s.attention, AttentionKind::MLA);
    QCOMPARE(s.head_dim, 48);  // qk_nope + qk_rope, whatever head_dim says
    QCOMPARE(s.router_score, RouterScore::Sigmoid);
    QCOMPARE(s.router_grouping, RouterGrouping::GroupTop2Sum);
    QVERIFY(s.rope.interleaved);
    QCOMPARE(s.layers[0].moe, false);
    QCOMPARE(s.layers[1].moe, true);
    QCOMPARE(s.shared_expert_intermediate_size, 64);
  }

  void yarn_softmax_scale() {
    // DeepSeek-V2-Lite: softmax scale = (192)^-0.5 * mscale(40, 0.707)^2.
    ModelSpec s = parse_model_config(preset_config("deepseek-v2-lite"));
    const double m = 0.1 * 0.707 * std::log(40.0) + 1.0;
    QVERIFY(std::fabs(s.attention_scale() - m * m / std::sqrt(192.0)) < 1e-12);
  }

  void parameter_counts() {
    // Mixtral-8x7B: 46.7 B total, 12.9 B active (Mistral AI's figures, which count the whole input embedding
    // table; our active count reads one row of it, as a decode step does).
    ModelSpec s = parse_model_config(preset_config("mixtral-8x7b"));
    QVERIFY(std::fabs(double(s.total_parameters()) / 1e9 - 46.70) < 0.01);
    const double table = double(s.vocab_size - 1) * double(s.hidden_size);
    QVERIFY(std::fabs((double(s.active_parameters()) + table) / 1e9 - 12.88) < 0.02);
  }

  void bad_configs_data() {
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected");
    QTest::newRow("unknown architecture") << "architectures"
                                          << R"(["GPT2LMHeadModel"])"
                                          << "unsupported architecture";
    QTest::newRow("zero experts") << "num_local_experts"
                                  << "0"
                                  << "num_local_experts";
    QTest::newRow("top-k > experts") << "num_experts_per_tok"
                                     << "5"
                                     << "num_experts_per_tok";
    QTest::newRow("absurd hidden") << "hidden_size"
                                   << "1000000000"
                                   << "hidden_size";
    QTest::newRow("negative layers") << "num_hidden_layers"
                                     << "-1"
                                     << "num_hidden_layers";
    QTest::newRow("float beyond int64") << "hidden_size"
                                        << "1.2e91"
                                        << "hidden_size";  // found by the fuzzer
    QTest::newRow("string vocab") << "vocab_size"
                                  << R"("many")"
                                  << "vocab_size";
    QTest::newRow("kv heads not dividing") << "num_key_value_heads"
                                           << "3"
                                           << "num_key_value_heads";
    QTest::newRow("missing hidden") << "hidden_size"
                                    << "null"
                                    << "hidden_size is missing";
    QTest::newRow("bad rope type") << "rope_scaling"
                                   << R"({"type": "longrope", "factor": 2})"
                                   << "rope type";
    QTest::newRow("eos outside vocab") << "eos_token_id"
                                       << "[2, 999999]"
                                       << "eos_token_id";
    QTest::newRow("activation") << "hidden_act"
                                << R"("gelu")"
                                << "hidden_act";
  }
  void bad_configs() {
    QFETCH(QString, field);
    QFETCH(QString, value);
    QFETCH(QString, expected);
    json c = mixtral();
    c[field.toStdString()] = json::parse(value.toStdString());
    QString err = error_of(c);
    QVERIFY2(err.contains(expected), qPrintable("got: " + err));
    QVERIFY2(err.startsWith("config.json"), qPrintable("got: " + err));
  }

  void not_an_object() { QVERIFY(error_of(json::array()).contains("not a JSON object")); }
};

QTEST_APPLESS_MAIN(ModelConfigTest)
#include "test_model_config.moc"
