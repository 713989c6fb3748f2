// Parity with Hugging Face transformers: for every fixture under tests/data/parity (tiny random-weight
// checkpoints written by transformers 5 itself, see tools/parity/), the CPU oracle's logits must match the
// float32 logits transformers computed, its greedy 32-token continuation must be identical, and its routing
// of the prompt must choose the same experts with the same weights.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <set>

#include "moe/backend.h"
#include "moe/generator.h"
#include "moe/model.h"
#include "test_files.h"

using namespace moe;
namespace fs = std::filesystem;

namespace {

// Max |ours - reference| over all logits, relative to the largest |reference| logit: float32 rounding of a
// model this size sits near 1e-6; a wrong formula anywhere shows as 1e-2 or more.
constexpr double kMaxRelativeError = 2e-5;
constexpr double kRoutingWeightTolerance = 1e-5;

std::vector<fs::path> fixtures() {
  std::vector<fs::path> out;
  fs::path root = test::data_dir() / "parity";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "logits.f32")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int32_t> ids_of(const nlohmann::json& j) {
  return j.get<std::vector<int32_t>>();
}

}  // namespace

class ParityTransformers : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY2(fixtures().size() >= 15, "expected the parity fixtures under tests/data/parity");
  }

  void logits_data() {
    QTest::addColumn<QString>("folder");
    for (const auto& f : fixtures())
      QTest::newRow(f.filename().c_str()) << QString::fromStdString(f.string());
  }
  void logits() {
    QFETCH(QString, folder);
    const fs::path dir = folder.toStdString();
    auto model = Model::open(dir);
    auto ids = ids_of(test::read_json(dir / "ids.json"));
    auto ref = test::read_f32(dir / "logits.f32");
    const int64_t V = model->spec().vocab_size;
    QCOMPARE(int64_t(ref.size()), int64_t(ids.size()) * V);
    auto backend = make_cpu_backend(*model, BackendOptions{int64_t(ids.size()) + 8});
    std::vector<float> logits;
    backend->forward(ids, LogitsMode::All, logits, nullptr);
    QCOMPARE(logits.size(), ref.size());
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      max_err = std::max(max_err, double(std::fabs(logits[i] - ref[i])));
      max_ref = std::max(max_ref, double(std::fabs(ref[i])));
    }
    const double rel = max_err / max_ref;
    qInfo("%s: max |logit error| %.3g, relative to max |logit| %.3g: %.3g", dir.filename().c_str(), max_err,
          max_ref, rel);
    QVERIFY2(rel < kMaxRelativeError, qPrintable(QString("relative error %1").arg(rel)));
  }

  void greedy_data() { logits_data(); }
  void greedy() {
    QFETCH(QString, folder);
    const fs::path dir = folder.toStdString();
    auto model = Model::open(dir);
    auto g = test::read_json(dir / "greedy.json");
    auto prompt = ids_of(g["prompt"]);
    auto expected = ids_of(g["continuation"]);
    auto backend = make_cpu_backend(*model, BackendOptions{int64_t(prompt.size() + expected.size()) + 1});
    Generator gen(*backend, model->spec());
    GenerationParams p;
    p.sampling.temperature = 0;
    p.max_tokens = int64_t(expected.size());
    p.ignore_eos = true;
    auto result = gen.generate(prompt, p, {});
    QCOMPARE(result.tokens, expected);
  }

  void routing_data() {
    QTest::addColumn<QString>("folder");
    for (const auto& f : fixtures())
      if (fs::exists(f / "routing.json"))
        QTest::newRow(f.filename().c_str()) << QString::fromStdString(f.string());
  }
  void routing() {
    QFETCH(QString, folder);
    const fs::path dir = folder.toStdString();
    auto model = Model::open(dir);
    const ModelSpec& s = model->spec();
    auto ids = ids_of(test::read_json(dir / "ids.json"));
    auto ref = test::read_json(dir / "routing.json");
    auto backend = make_cpu_backend(*model, BackendOptions{int64_t(ids.size())});
    std::vector<float> logits;
    RoutingBatch r;
    backend->forward(ids, LogitsMode::Last, logits, &r);
    // Map transformers' layer index to our MoE-layer index.
    std::vector<int64_t> moe_index(size_t(s.num_layers), -1);
    for (int64_t l = 0, m = 0; l < s.num_layers; ++l)
      if (s.layers[size_t(l)].moe) moe_index[size_t(l)] = m++;
    QCOMPARE(int64_t(ref["layers"].size()), s.num_moe_layers());
    for (const auto& layer : ref["layers"]) {
      const int64_t m = moe_index[size_t(layer["layer"].get<int64_t>())];
      QVERIFY(m >= 0);
      for (size_t pos = 0; pos < ids.size(); ++pos) {
        auto want_e = layer["experts"][pos].get<std::vector<int32_t>>();
        auto want_w = layer["weights"][pos].get<std::vector<float>>();
        std::vector<std::pair<int32_t, float>> want, got;
        for (size_t i = 0; i < want_e.size(); ++i)
          want.push_back({want_e[i], want_w[i]});
        for (int64_t i = 0; i < s.top_k; ++i)
          got.push_back({r.experts_at(int64_t(pos), m)[i], r.weights_at(int64_t(pos), m)[i]});
        std::sort(want.begin(), want.end());
        std::sort(got.begin(), got.end());
        QCOMPARE(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
          QVERIFY2(got[i].first == want[i].first,
                   qPrintable(QString("layer %1 position %2: expert %3, transformers chose %4")
                                  .arg(layer["layer"].get<int>())
                                  .arg(pos)
                                  .arg(got[i].first)
                                  .arg(want[i].first)));
          QVERIFY(std::fabs(got[i].second - want[i].second) < kRoutingWeightTolerance);
        }
      }
    }
  }

  // config.v4.json (transformers 4 dialect: rope_theta, rope_scaling, no layer_types) must describe the same
  // model as the transformers 5 config.json beside it.
  void config_dialects_data() {
    QTest::addColumn<QString>("folder");
    for (const auto& f : fixtures())
      if (fs::exists(f / "config.v4.json"))
        QTest::newRow(f.filename().c_str()) << QString::fromStdString(f.string());
  }
  void config_dialects() {
    QFETCH(QString, folder);
    const fs::path dir = folder.toStdString();
    ModelSpec a = parse_model_config(test::read_json(dir / "config.json"));
    ModelSpec b = parse_model_config(test::read_json(dir / "config.v4.json"));
    QCOMPARE(a.architecture, b.architecture);
    QCOMPARE(a.rope.theta, b.rope.theta);
    QCOMPARE(int(a.rope.type), int(b.rope.type));
    QCOMPARE(a.rope.factor, b.rope.factor);
    QCOMPARE(a.num_experts, b.num_experts);
    QCOMPARE(a.top_k, b.top_k);
    QCOMPARE(a.head_dim, b.head_dim);
    for (size_t i = 0; i < a.layers.size(); ++i) {
      QCOMPARE(a.layers[i].moe, b.layers[i].moe);
      QCOMPARE(a.layers[i].sliding_window, b.layers[i].sliding_window);
    }
  }
};

QTEST_APPLESS_MAIN(ParityTransformers)
#include "test_parity_transformers.moc"
