// The generation loop on the CPU oracle: KV-cache reuse of a shared prefix gives the same tokens as a fresh
// prefill; batched prefill equals token-by-token decoding; stop strings, EOS, max tokens, cancellation and a
// full context stop generation with the right reason; routing arrives for every position.
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "moe/generator.h"
#include "moe/model.h"
#include "moe/random_checkpoint.h"

using namespace moe;

class GeneratorTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::unique_ptr<Model> model_;
  const std::vector<int32_t> prompt_ = {257, 10, 20, 30, 40, 50, 60, 70};

  GenerationParams greedy(int64_t n) {
    GenerationParams p;
    p.sampling.temperature = 0;
    p.max_tokens = n;
    p.ignore_eos = true;
    return p;
  }

 private slots:
  void initTestCase() {
    write_random_checkpoint(tmp_.filePath("m").toStdString(), preset_config("tiny-qwen3-moe"), 7, DType::F32);
    model_ = Model::open(tmp_.filePath("m").toStdString());
  }

  void prefill_equals_decode() {
    auto a = make_cpu_backend(*model_, {64}), b = make_cpu_backend(*model_, {64});
    std::vector<float> batched, step;
    a->forward(prompt_, LogitsMode::All, batched, nullptr);
    const int64_t V = model_->spec().vocab_size;
    double max_err = 0;
    for (size_t i = 0; i < prompt_.size(); ++i) {
      b->forward(std::span<const int32_t>(&prompt_[i], 1), LogitsMode::Last, step, nullptr);
      for (int64_t v = 0; v < V; ++v)
        max_err = std::max(max_err, double(std::fabs(step[v] - batched[i * V + v])));
    }
    QVERIFY2(max_err < 1e-4, qPrintable(QString::number(max_err)));
  }

  void prefix_reuse() {
    auto backend = make_cpu_backend(*model_, {128});
    Generator gen(*backend, model_->spec());
    auto first = gen.generate(prompt_, greedy(6), {});
    // A follow-up that extends the conversation reuses everything cached so far.
    std::vector<int32_t> follow = prompt_;
    follow.insert(follow.end(), first.tokens.begin(), first.tokens.end());
    follow.push_back(99);
    auto second = gen.generate(follow, greedy(6), {});
    QCOMPARE(second.reused_tokens, int64_t(prompt_.size() + first.tokens.size()));
    auto fresh_backend = make_cpu_backend(*model_, {128});
    Generator fresh(*fresh_backend, model_->spec());
    auto expected = fresh.generate(follow, greedy(6), {});
    QCOMPARE(expected.reused_tokens, int64_t(0));
    QCOMPARE(second.tokens, expected.tokens);
    // An edited earlier message: only the common prefix is reused.
    std::vector<int32_t> edited = prompt_;
    edited[3] = 33;
    auto third = gen.generate(edited, greedy(4), {});
    QCOMPARE(third.reused_tokens, int64_t(3));
  }

  void routing_for_every_position() {
    auto backend = make_cpu_backend(*model_, {64});
    Generator gen(*backend, model_->spec());
    std::vector<RoutingRecord> prompt_routing;
    std::vector<TokenEvent> events;
    auto r = gen.generate(
        prompt_, greedy(5), [&](const TokenEvent& e) { events.push_back(e); },
        [&](const RoutingRecord& rec) { prompt_routing.push_back(rec); });
    QCOMPARE(prompt_routing.size(), prompt_.size());
    QCOMPARE(events.size(), size_t(5));
    const size_t width = size_t(model_->spec().num_moe_layers() * model_->spec().top_k);
    for (size_t i = 0; i < prompt_routing.size(); ++i) {
      QVERIFY(prompt_routing[i].prompt);
      QCOMPARE(prompt_routing[i].position, int64_t(i));
      QCOMPARE(prompt_routing[i].experts.size(), width);
    }
    for (size_t i = 0; i < events.size(); ++i) {
      QVERIFY(!events[i].routing.prompt);
      QCOMPARE(events[i].routing.position, int64_t(prompt_.size() + i));
      for (int32_t e : events[i].routing.experts)
        QVERIFY(e >= 0 && e < model_->spec().num_experts);
      // Qwen3-MoE with norm_topk_prob: each layer's weights sum to 1.
      for (size_t l = 0; l < width; l += 2)
        QVERIFY(std::fabs(events[i].routing.weights[l] + events[i].routing.weights[l + 1] - 1.0f) < 1e-5);
    }
    QCOMPARE(r.tokens.size(), size_t(5));
  }

  void stop_conditions() {
    auto backend = make_cpu_backend(*model_, {64});
    // A "detokenizer" that spells token ids, so a stop string can name the third generated token.
    Generator gen(*backend, model_->spec(), [](int32_t id) { return "<" + std::to_string(id) + ">"; });
    auto all = gen.generate(prompt_, greedy(8), {});
    GenerationParams p = greedy(8);
    p.stop_strings = {"<" + std::to_string(all.tokens[2]) + ">"};
    auto stopped = gen.generate(prompt_, p, {});
    QCOMPARE(stopped.reason, StopReason::StopString);
    QVERIFY(stopped.tokens.size() <= 3);
    // EOS: declare the first greedy token an end-of-sequence id.
    ModelSpec spec = model_->spec();
    spec.eos_token_ids = {all.tokens[0]};
    Generator eos_gen(*backend, spec);
    GenerationParams q = greedy(8);
    q.ignore_eos = false;
    auto eos = eos_gen.generate(prompt_, q, {});
    QCOMPARE(eos.reason, StopReason::Eos);
    QCOMPARE(eos.tokens.size(), size_t(0));
    // An extra stop id given with the request (a chat end-of-turn token) stops the same way.
    GenerationParams extra = greedy(8);
    extra.ignore_eos = false;
    const int32_t stop_id = all.tokens[3];
    const size_t first_at =
        size_t(std::find(all.tokens.begin(), all.tokens.end(), stop_id) - all.tokens.begin());
    extra.stop_token_ids = {stop_id};
    auto by_extra = gen.generate(prompt_, extra, {});
    QCOMPARE(by_extra.reason, StopReason::Eos);
    QCOMPARE(by_extra.tokens.size(), first_at);
    // Cancellation before the first step.
    std::atomic<bool> cancel{true};
    GenerationParams c = greedy(8);
    c.cancel = &cancel;
    QCOMPARE(gen.generate(prompt_, c, {}).reason, StopReason::Cancelled);
    // A context of 12 positions holds the 8 prompt tokens and 4 generated ones.
    auto small = make_cpu_backend(*model_, {12});
    Generator g2(*small, model_->spec());
    auto full = g2.generate(prompt_, greedy(100), {});
    QCOMPARE(full.reason, StopReason::ContextFull);
    QCOMPARE(full.tokens.size(), size_t(4));
  }

  void seeded_sampling_is_reproducible() {
    auto backend = make_cpu_backend(*model_, {64});
    Generator gen(*backend, model_->spec());
    GenerationParams p;
    p.sampling.temperature = 1.0;
    p.sampling.seed = 1234;
    p.max_tokens = 10;
    p.ignore_eos = true;
    auto a = gen.generate(prompt_, p, {});
    gen.reset();
    auto b = gen.generate(prompt_, p, {});
    QCOMPARE(a.tokens, b.tokens);
    p.sampling.seed = 99;
    gen.reset();
    QVERIFY(gen.generate(prompt_, p, {}).tokens != a.tokens);
  }
};

QTEST_APPLESS_MAIN(GeneratorTest)
#include "test_generator.moc"
