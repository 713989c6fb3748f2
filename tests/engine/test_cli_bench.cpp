// moe-cli's device choice and benchmark on a machine without a GPU (CI): --device cpu and auto run on the
// CPU, --device cuda and --random-like fail with a clear error and a non-zero exit, an unknown device is
// refused, `info` prints the VRAM plan the CUDA backend would need, and `bench --device cpu` reports
// consistent figures (achieved GB/s = decode_step_bytes / step time, a stated roofline gives a share).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_run.h"
#include "moe/device.h"
#include "moe/model_spec.h"
#include "moe/roofline.h"
#include "test_files.h"

using nlohmann::json;

namespace {

using Run = moe::test::CliRun;

Run cli(const QStringList& args) {
  return moe::test::run_cli(args);
}

}  // namespace

class CliBenchTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString model_;
  bool gpu_ = false;

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    model_ = tmp_.filePath("qwen");
    Run r = cli({"random", model_, "--like", "tiny-qwen3-moe", "--seed", "2"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    gpu_ = !moe::probe_gpus().gpus.empty();
  }

  void info_prints_the_vram_plan() {
    Run r = cli({"info", model_, "--ctx", "1024", "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    json j = json::parse(r.out.toStdString());
    const json& v = j["vram"];
    QCOMPARE(v["context"].get<int64_t>(), int64_t(1024));
    // tiny-qwen3-moe: 4 layers, 2 kv heads of 32 (k and v), bf16.
    QCOMPARE(v["kv_cache_bytes"].get<uint64_t>(), uint64_t(4 * 1024 * 2 * (32 + 32) * 2));
    QVERIFY(v["weights_bytes"].get<uint64_t>() >= j["weight_bytes"].get<uint64_t>());
    QCOMPARE(v["total_bytes"].get<uint64_t>(), v["weights_bytes"].get<uint64_t>() +
                                                   v["kv_cache_bytes"].get<uint64_t>() +
                                                   v["workspace_bytes"].get<uint64_t>());
    QCOMPARE(j["plan"]["backend"].get<std::string>(), std::string(gpu_ ? "cuda" : "cpu"));
    r = cli({"info", model_});
    QVERIFY2(r.code == 0 && r.out.contains("vram plan"), qPrintable(r.out));
  }

  void device_choice() {
    const QString ids = tmp_.filePath("ids.json");
    moe::test::write_text(ids.toStdString(), "[257, 72, 101, 108, 108, 111]");
    Run r = cli({"generate", model_, "--ids", ids, "--max-tokens", "3", "--device", "cpu", "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    r = cli({"generate", model_, "--ids", ids, "--max-tokens", "3", "--device", "tpu"});
    QVERIFY(r.code != 0);
    QVERIFY2(r.err.contains("--device") && r.err.contains("cpu"), qPrintable(r.err));
    if (gpu_) QSKIP("this machine has a GPU: the no-GPU errors are not reachable");
    r = cli({"generate", model_, "--ids", ids, "--max-tokens", "3", "--device", "cuda"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--device cuda: no GPU"), qPrintable(r.err));
    r = cli({"bench", "--random-like", "qwen1.5-moe-a2.7b"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--random-like"), qPrintable(r.err));
  }

  void bench_on_the_cpu() {
    Run r = cli({"bench", model_, "--device", "cpu", "--prompt", "32", "--gen", "8", "--at", "100",
                 "--roofline-gbps", "50", "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    json j = json::parse(r.out.toStdString());
    QCOMPARE(j["device"].get<std::string>(), std::string("cpu"));
    QVERIFY(j["prefill_tokens_per_second"].get<double>() > 0);
    QVERIFY(j["ttft_seconds"].get<double>() >= j["prefill_seconds"].get<double>());
    const moe::ModelSpec spec = moe::load_model_spec(model_.toStdString());
    for (const char* key : {"decode", "decode_at"}) {
      const json& d = j[key];
      const int64_t pos = d["position"].get<int64_t>();
      QCOMPARE(pos, int64_t(std::string(key) == "decode" ? 32 : 100));
      QCOMPARE(d["steps"].get<int64_t>(), int64_t(8));
      QCOMPARE(d["bytes_per_step"].get<double>(), double(moe::decode_step_bytes(spec, pos + 4).total()));
      const double bps = d["bytes_per_step"].get<double>() / d["median_step_seconds"].get<double>();
      QVERIFY(std::fabs(d["achieved_bytes_per_second"].get<double>() / bps - 1) < 1e-9);
      QVERIFY(std::fabs(d["roofline_share"].get<double>() / (bps / 50e9) - 1) < 1e-9);
    }
    r = cli({"bench", model_, "--device", "cpu", "--prompt", "16", "--gen", "4", "--row"});
    QVERIFY2(r.code == 0 && r.out.startsWith("| qwen | cpu | 16 |"), qPrintable(r.out));
  }
};

QTEST_GUILESS_MAIN(CliBenchTest)
#include "test_cli_bench.moc"
