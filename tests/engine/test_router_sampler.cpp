// The routers against hand-computed choices (DeepSeek-V3's 0.0 masking of dropped groups included), the
// Philox generator against the Random123 known-answer vectors, and the sampler's transforms.
#include <QtTest>
#include <cmath>
#include <map>

#include "moe/model_spec.h"
#include "moe/router.h"
#include "moe/sampler.h"

using namespace moe;

namespace {

float logit(float p) {
  return std::log(p / (1 - p));
}  // sigmoid^-1

}  // namespace

class RouterSamplerTest : public QObject {
  Q_OBJECT

 private slots:
  void softmax_renormalised() {
    ModelSpec s;
    s.family = Family::Mixtral;
    s.num_experts = 4;
    s.top_k = 2;
    s.norm_topk_prob = true;
    std::vector<float> l = {0.0f, std::log(3.0f), std::log(2.0f), 0.0f};  // probabilities 1/7, 3/7, 2/7, 1/7
    int32_t e[2];
    float w[2];
    route_token(s, l, {}, e, w);
    QCOMPARE(e[0], 1);
    QCOMPARE(e[1], 2);
    QVERIFY(std::fabs(w[0] - 0.6f) < 1e-6 && std::fabs(w[1] - 0.4f) < 1e-6);
    s.norm_topk_prob = false;  // Qwen/OLMoE default: the softmax probabilities themselves
    route_token(s, l, {}, e, w);
    QVERIFY(std::fabs(w[0] - 3.0f / 7) < 1e-6 && std::fabs(w[1] - 2.0f / 7) < 1e-6);
  }

  void deepseek_v2_group_limited() {
    ModelSpec s;
    s.family = Family::DeepseekV2;
    s.num_experts = 6;
    s.top_k = 2;
    s.n_group = 3;
    s.topk_group = 1;
    s.router_grouping = RouterGrouping::GroupMax;
    s.routed_scaling_factor = 2.0;
    // Group maxima: g0 = e1, g1 = e2 (the best expert overall), g2 = e5. Only group 1 survives, so the
    // second choice is e3 even though e1 and e5 score higher.
    std::vector<float> l = {0.1f, 1.0f, 2.0f, 0.2f, 0.3f, 1.5f};
    int32_t e[2];
    float w[2];
    route_token(s, l, {}, e, w);
    QCOMPARE(e[0], 2);
    QCOMPARE(e[1], 3);
    double z = 0;
    for (float x : l)
      z += std::exp(x);
    QVERIFY(std::fabs(w[0] - 2.0 * std::exp(2.0) / z) < 1e-6);
    QVERIFY(std::fabs(w[1] - 2.0 * std::exp(0.2) / z) < 1e-6);
  }

  void deepseek_v3_bias_and_zero_mask() {
    ModelSpec s;
    s.family = Family::DeepseekV3;
    s.num_experts = 8;
    s.top_k = 3;
    s.n_group = 4;
    s.topk_group = 1;
    s.router_score = RouterScore::Sigmoid;
    s.router_grouping = RouterGrouping::GroupTop2Sum;
    s.router_bias = true;
    s.norm_topk_prob = true;
    s.routed_scaling_factor = 2.5;
    // Scores (sigmoid) and biases: corrected = score + bias.
    std::vector<float> p = {0.9f, 0.8f, 0.3f, 0.2f, 0.6f, 0.5f, 0.1f, 0.1f};
    std::vector<float> bias = {-1.0f, -1.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f};
    std::vector<float> l;
    for (float x : p)
      l.push_back(logit(x));
    // corrected: g0 = {-0.1, -0.2} sum -0.3; g1 = {0.8, 0.7} sum 1.5; g2 = {0.6, 0.5} 1.1; g3 = {0.1, 0.1}
    // 0.2. Only g1 is kept; its experts 2, 3 lead; the third choice is among the masked experts, whose choice
    // score is 0.0 (DeepSeek's code), so expert 4 (first of the 0.0 ties: 0 and 1 too, but with a lower index
    // the tie goes to expert 0). With -inf masking it would be impossible to pick a third expert at all.
    int32_t e[3];
    float w[3];
    route_token(s, l, bias, e, w);
    QCOMPARE(e[0], 2);
    QCOMPARE(e[1], 3);
    QCOMPARE(e[2], 0);
    // Weights from the unbiased scores, normalised, times 2.5.
    const float sum = 0.3f + 0.2f + 0.9f;
    QVERIFY(std::fabs(w[0] - 2.5f * 0.3f / sum) < 1e-5);
    QVERIFY(std::fabs(w[2] - 2.5f * 0.9f / sum) < 1e-5);
  }

  void philox_known_answers() {
    // Random123's kat_vectors for philox4x32_10.
    auto a = philox4x32_10({0, 0, 0, 0}, {0, 0});
    QCOMPARE(a, (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
    auto b = philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff});
    QCOMPARE(b, (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
    auto c = philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0});
    QCOMPARE(c, (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
  }

  void greedy_and_logprobs() {
    std::vector<float> l = {1.0f, 3.0f, 2.0f, 3.0f};
    SamplingParams p;
    p.temperature = 0;
    auto r = sample_token(l, p, {}, 0, 2);
    QCOMPARE(r.token, 1);  // ties go to the lower id
    double z = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0);
    QVERIFY(std::fabs(r.logprob - (3.0 - std::log(z))) < 1e-5);
    QCOMPARE(int(r.top.size()), 2);
    QCOMPARE(r.top[1].first, 3);
  }

  void penalties() {
    std::vector<float> l = {2.0f, 1.9f, -1.0f};
    SamplingParams p;
    p.temperature = 0;
    p.repetition_penalty = 1.2;  // token 0: 2.0 / 1.2 = 1.67 < 1.9
    std::vector<int32_t> history = {0};
    QCOMPARE(sample_token(l, p, history, 0, 0).token, 1);
    p.repetition_penalty = 1.0;
    p.presence_penalty = 0.05;  // 1.95 > 1.9
    QCOMPARE(sample_token(l, p, history, 0, 0).token, 0);
  }

  void filters_and_seed() {
    // Distribution over 4 tokens; top-k 2 never yields the others; min-p 0.5 keeps only tokens with at least
    // half the best probability; the same seed and step always give the same token.
    std::vector<float> l = {std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
    SamplingParams p;
    p.temperature = 1.0;
    p.top_p = 1.0;
    p.min_p = 0;
    p.top_k = 2;
    std::map<int32_t, int> counts;
    for (uint64_t step = 0; step < 4000; ++step)
      counts[sample_token(l, p, {}, step, 0).token]++;
    QCOMPARE(int(counts.size()), 2);
    QVERIFY(std::abs(counts[0] - 4000 * 4 / 7) < 150);  // 0.4/0.7 of the draws, within ~5 sigma
    p.top_k = 0;
    p.min_p = 0.5;
    counts.clear();
    for (uint64_t step = 0; step < 2000; ++step)
      counts[sample_token(l, p, {}, step, 0).token]++;
    QCOMPARE(int(counts.size()), 2);
    p.min_p = 0;
    p.top_p = 0.65;  // 0.4 + 0.3 reaches 0.65: tokens 0 and 1
    counts.clear();
    for (uint64_t step = 0; step < 2000; ++step)
      counts[sample_token(l, p, {}, step, 0).token]++;
    QCOMPARE(int(counts.size()), 2);
    p.seed = 42;
    QCOMPARE(sample_token(l, p, {}, 7, 0).token, sample_token(l, p, {}, 7, 0).token);
  }
};

QTEST_APPLESS_MAIN(RouterSamplerTest)
#include "test_router_sampler.moc"
