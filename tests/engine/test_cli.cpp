// moe-cli as a user runs it: random checkpoints of several families, then info, generate, logits and
// perplexity on them (JSON output checked), and bad input: damaged model folders give a clear error on
// stderr naming the file and tensor, with a non-zero exit and no crash.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "cli_run.h"
#include "test_files.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Run = moe::test::CliRun;

Run cli(const QStringList& args) {
  return moe::test::run_cli(args);
}

}  // namespace

class CliTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString qwen_, deepseek_, ids_;

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    qwen_ = tmp_.filePath("qwen");
    deepseek_ = tmp_.filePath("deepseek");
    ids_ = tmp_.filePath("ids.json");
    moe::test::write_text(ids_.toStdString(),
                          "[257, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100]");
    Run r = cli({"random", qwen_, "--like", "tiny-qwen3-moe", "--seed", "1"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = cli({"random", deepseek_, "--like", "tiny-deepseek-v3", "--dtype", "f32"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY(fs::exists(fs::path(qwen_.toStdString()) / "tokenizer.json"));
  }

  void info_json() {
    Run r = cli({"info", qwen_, "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    json j = json::parse(r.out.toStdString());
    QCOMPARE(j["architecture"].get<std::string>(), std::string("Qwen3MoeForCausalLM"));
    QCOMPARE(j["experts"].get<int>(), 8);
    QCOMPARE(j["top_k"].get<int>(), 2);
    QVERIFY(j["active_parameters"].get<int64_t>() < j["total_parameters"].get<int64_t>());
    QCOMPARE(j["weight_bytes"].get<int64_t>(), 2 * j["total_parameters"].get<int64_t>());  // bf16
  }

  void generate_json() {
    for (const QString& m : {qwen_, deepseek_}) {
      Run r = cli({"generate", m, "--ids", ids_, "--max-tokens", "8", "--seed", "5", "--top-logprobs", "3",
                   "--ignore-eos", "--json"});
      QVERIFY2(r.code == 0, qPrintable(r.err));
      json j = json::parse(r.out.toStdString());
      QCOMPARE(j["ids"].size(), size_t(8));
      QCOMPARE(j["logprobs"].size(), size_t(8));
      QCOMPARE(j["top_logprobs"][0].size(), size_t(3));
      // Routing for the 13 prompt positions (flagged) and the 8 generated ones.
      const auto& pos = j["routing"]["positions"];
      QCOMPARE(pos.size(), size_t(13 + 8));
      QVERIFY(pos[0]["prompt"].get<bool>());
      QVERIFY(!pos[20]["prompt"].get<bool>());
      const size_t width = j["routing"]["moe_layers"].get<size_t>() * j["routing"]["top_k"].get<size_t>();
      QCOMPARE(pos[20]["experts"].size(), width);
      // The same seed gives the same tokens.
      Run again =
          cli({"generate", m, "--ids", ids_, "--max-tokens", "8", "--seed", "5", "--ignore-eos", "--json"});
      QCOMPARE(json::parse(again.out.toStdString())["ids"], j["ids"]);
    }
  }

  void logits_and_perplexity() {
    const QString out = tmp_.filePath("logits.f32");
    Run r = cli({"logits", qwen_, "--ids", ids_, "--out", out});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    auto logits = moe::test::read_f32(out.toStdString());
    QCOMPARE(logits.size(), size_t(13 * 512));
    // Perplexity from those logits by hand must equal moe-cli perplexity over one window.
    auto ids = moe::test::read_json(ids_.toStdString()).get<std::vector<int>>();
    double nll = 0;
    for (size_t i = 1; i < ids.size(); ++i) {
      const float* row = logits.data() + (i - 1) * 512;
      double z = 0;
      for (int v = 0; v < 512; ++v)
        z += std::exp(double(row[v]));
      nll += std::log(z) - row[ids[i]];
    }
    const double expected = std::exp(nll / double(ids.size() - 1));
    r = cli({"perplexity", qwen_, "--ids", ids_, "--ctx", "64", "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    json j = json::parse(r.out.toStdString());
    QCOMPARE(j["tokens_scored"].get<int>(), 12);
    QVERIFY(std::fabs(j["perplexity"].get<double>() - expected) < 1e-3 * expected);
    // Windows of 5: 13 ids -> windows of 5, 5, 3 -> 4 + 4 + 2 scored.
    r = cli({"perplexity", qwen_, "--ids", ids_, "--ctx", "5", "--json"});
    QCOMPARE(json::parse(r.out.toStdString())["tokens_scored"].get<int>(), 10);
  }

  void bad_model_folders_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<QString>("expected");
    QTest::newRow("truncated weights") << "truncate"
                                       << "model.safetensors";
    QTest::newRow("missing tensor") << "drop-tensor"
                                    << "model.layers.1.mlp.gate.weight";
    QTest::newRow("mis-shaped tensor") << "reshape-tensor"
                                       << "model.layers.0.self_attn.k_proj.weight";
    QTest::newRow("unknown architecture") << "architecture"
                                          << "unsupported architecture";
    QTest::newRow("no config") << "no-config"
                               << "config.json";
    QTest::newRow("top-k > experts") << "top-k"
                                     << "num_experts_per_tok";
  }
  void bad_model_folders() {
    QFETCH(QString, damage);
    QFETCH(QString, expected);
    const fs::path src = qwen_.toStdString();
    const fs::path dir = tmp_.filePath("damaged-" + damage).toStdString();
    fs::remove_all(dir);
    fs::copy(src, dir);
    json config = moe::test::read_json(dir / "config.json");
    if (damage == "truncate") {
      fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") - 1000);
    } else if (damage == "drop-tensor" || damage == "reshape-tensor") {
      // Rewrite the header: drop one tensor, or lie about one tensor's shape while keeping its byte size.
      std::ifstream in(dir / "model.safetensors", std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      uint64_t n = 0;
      std::memcpy(&n, bytes.data(), 8);
      json header = json::parse(bytes.substr(8, n));
      std::string data = bytes.substr(8 + n);
      if (damage == "drop-tensor") {
        // Keep offsets contiguous: rename instead of removing so the file stays a valid safetensors file.
        header["model.layers.1.mlp.gate.weight.renamed"] = header["model.layers.1.mlp.gate.weight"];
        header.erase("model.layers.1.mlp.gate.weight");
      } else {
        auto& shape = header["model.layers.0.self_attn.k_proj.weight"]["shape"];
        shape = {shape[1], shape[0]};
      }
      std::string h = header.dump();
      while (h.size() % 8)
        h += ' ';
      uint64_t hn = h.size();
      std::ofstream out(dir / "model.safetensors", std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(&hn), 8);
      out << h << data;
    } else if (damage == "architecture") {
      config["architectures"] = {"BertModel"};
      moe::test::write_text(dir / "config.json", config.dump());
    } else if (damage == "no-config") {
      fs::remove(dir / "config.json");
    } else if (damage == "top-k") {
      config["num_experts_per_tok"] = 9;
      moe::test::write_text(dir / "config.json", config.dump());
    }
    for (const QString& cmd : {QString("info"), QString("generate")}) {
      QStringList args = {cmd, QString::fromStdString(dir.string())};
      if (cmd == "generate") args << "--ids" << ids_;
      Run r = cli(args);
      QCOMPARE(r.code, 1);
      QVERIFY2(r.err.contains("error") && r.err.contains(expected), qPrintable(r.err));
    }
  }

  void bad_ids() {
    const QString bad = tmp_.filePath("bad.json");
    moe::test::write_text(bad.toStdString(), "[1, 2, 99999]");
    Run r = cli({"generate", qwen_, "--ids", bad});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("99999") && r.err.contains("vocabulary"), qPrintable(r.err));
    moe::test::write_text(bad.toStdString(), "[1, \"two\"]");
    r = cli({"generate", qwen_, "--ids", bad});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("element 1"), qPrintable(r.err));
  }
};

QTEST_GUILESS_MAIN(CliTest)
#include "test_cli.moc"
