// The built-in demo model, resources/demo-model (made by tools/demo-model/train.py): its shape is the one the
// model card states and it fits the 16 MB budget; the held-out perplexity our engine computes equals the one
// transformers computed (heldout.json) within 1 %, with moe-cli perplexity's windowing (non-overlapping
// windows of ctx tokens, every token but each window's first scored); and routing has not collapsed: on the
// held-out text every expert of every layer receives at least 2 % of the routed (token, slot) assignments.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "moe/backend.h"
#include "moe/model.h"
#include "test_files.h"

using namespace moe;

namespace {

const std::filesystem::path kDemoDir =
    std::filesystem::path(MOE_TEST_DATA_DIR "/../..") / "resources" / "demo-model";

}  // namespace

class DemoModelTest : public QObject {
  Q_OBJECT
  std::unique_ptr<Model> model_;
  nlohmann::json heldout_;
  double engine_ppl_ = 0;
  int64_t scored_ = 0;
  std::vector<std::vector<int64_t>> counts_;  // [moe layer][expert] routed (token, slot) assignments

 private slots:
  void initTestCase() {
    model_ = Model::open(kDemoDir);
    heldout_ = test::read_json(kDemoDir / "heldout.json");
    const auto ids = heldout_.at("ids").get<std::vector<int32_t>>();
    const int64_t ctx = heldout_.at("ctx").get<int64_t>();
    QVERIFY(ids.size() >= 2 && ctx >= 2);
    const ModelSpec& spec = model_->spec();
    const int64_t V = spec.vocab_size;
    counts_.assign(size_t(spec.num_moe_layers()), std::vector<int64_t>(size_t(spec.num_experts), 0));

    auto backend = make_cpu_backend(*model_, {ctx});
    std::vector<float> logits;
    RoutingBatch routing;
    double nll = 0;
    for (size_t start = 0; start + 1 < ids.size(); start += size_t(ctx)) {
      const size_t len = std::min(size_t(ctx), ids.size() - start);
      if (len < 2) break;
      backend->truncate(0);
      backend->forward(std::span<const int32_t>(ids.data() + start, len), LogitsMode::All, logits, &routing);
      for (size_t i = 1; i < len; ++i) {
        const float* row = logits.data() + (i - 1) * size_t(V);
        const float mx = *std::max_element(row, row + V);
        double z = 0;
        for (int64_t v = 0; v < V; ++v)
          z += std::exp(double(row[v]) - mx);
        nll += std::log(z) + mx - row[ids[start + i]];
        ++scored_;
      }
      QCOMPARE(routing.n_positions, int64_t(len));
      for (int64_t p = 0; p < routing.n_positions; ++p)
        for (int64_t l = 0; l < routing.n_moe_layers; ++l)
          for (int64_t s = 0; s < routing.top_k; ++s) {
            const int32_t e = routing.experts_at(p, l)[s];
            QVERIFY(e >= 0 && e < spec.num_experts);
            ++counts_[size_t(l)][size_t(e)];
          }
    }
    engine_ppl_ = std::exp(nll / double(scored_));
  }

  void shape_and_size() {
    const ModelSpec& s = model_->spec();
    QCOMPARE(QString::fromStdString(s.architecture), QString("Qwen3MoeForCausalLM"));
    QCOMPARE(s.num_experts, int64_t(8));
    QCOMPARE(s.top_k, int64_t(2));
    QVERIFY(s.norm_topk_prob);
    QVERIFY(s.tie_word_embeddings);
    QCOMPARE(s.num_moe_layers(), s.num_layers);
    QVERIFY2(s.total_parameters() <= 8'500'000, qPrintable(QString::number(s.total_parameters())));
    QCOMPARE(model_->main_dtype(), DType::BF16);
    uintmax_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(kDemoDir))
      if (e.is_regular_file()) bytes += e.file_size();
    qInfo("demo model: %lld parameters, folder %.2f MB", static_cast<long long>(s.total_parameters()),
          double(bytes) / 1e6);
    QVERIFY2(bytes <= 16'000'000, qPrintable(QString::number(bytes)));
  }

  void heldout_perplexity_matches_transformers() {
    const double reference = heldout_.at("transformers_perplexity").get<double>();
    QCOMPARE(scored_, heldout_.at("tokens_scored").get<int64_t>());
    const double rel = std::fabs(engine_ppl_ - reference) / reference;
    qInfo("held-out perplexity over %lld tokens: engine %.6f, transformers %.6f (relative difference %.2e)",
          static_cast<long long>(scored_), engine_ppl_, reference, rel);
    QVERIFY2(rel < 0.01, qPrintable(QString("engine %1 vs transformers %2").arg(engine_ppl_).arg(reference)));
  }

  void routing_not_collapsed() {
    QVERIFY(!counts_.empty());
    double worst = 1.0;
    for (size_t l = 0; l < counts_.size(); ++l) {
      int64_t total = 0;
      for (int64_t c : counts_[l])
        total += c;
      QVERIFY(total > 0);
      const auto mn = *std::min_element(counts_[l].begin(), counts_[l].end());
      const auto mx = *std::max_element(counts_[l].begin(), counts_[l].end());
      const double share = double(mn) / double(total);
      qInfo("layer %zu: minimum expert share %.4f, maximum %.4f (uniform %.4f)", l, share,
            double(mx) / double(total), 1.0 / double(counts_[l].size()));
      worst = std::min(worst, share);
    }
    QVERIFY2(worst >= 0.02, qPrintable(QString("an expert gets only %1 of the assignments").arg(worst)));
  }
};

QTEST_GUILESS_MAIN(DemoModelTest)
#include "test_demo_model.moc"
