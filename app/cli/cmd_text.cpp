// moe-cli text commands: tokenize, detokenize and template. PATH may hold only tokenizer files.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "moe/chat_format.h"
#include "moe/error.h"
#include "moe/tokenizer.h"

namespace moe::cli {
namespace {

// NAME=JSON pairs (a value that is not JSON is taken as a string).
nlohmann::json parse_template_vars(const std::vector<std::string>& pairs) {
  nlohmann::json vars = nlohmann::json::object();
  for (const auto& p : pairs) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("--set expects NAME=VALUE, got \"" + p + "\"");
    const std::string value = p.substr(eq + 1);
    auto parsed = nlohmann::json::parse(value, nullptr, false);
    vars[p.substr(0, eq)] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
  }
  return vars;
}

struct TokenizeArgs {
  std::string path, text, file;
  bool special = false, have_text = false;
};

void tokenize(const TokenizeArgs& a) {
  if (a.have_text == !a.file.empty()) throw Error("give exactly one of --text S or --file F");
  auto tok = Tokenizer::load(a.path);
  auto ids = tok->encode(a.have_text ? a.text : read_text_file(a.file), a.special);
  std::cout << nlohmann::json(ids).dump() << "\n";
}

struct DetokenizeArgs {
  std::string path, ids;
  bool skip_special = false;
};

void detokenize(const DetokenizeArgs& a) {
  auto tok = Tokenizer::load(a.path);
  std::cout << tok->decode(read_ids(a.ids), a.skip_special);
}

struct TemplateArgs {
  std::string path, messages;
  bool generation_prompt = false;
  std::vector<std::string> kwargs;
};

void render_template(const TemplateArgs& a) {
  auto tok = Tokenizer::load(a.path);
  nlohmann::json messages;
  try {
    messages = nlohmann::json::parse(read_text_file(a.messages));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(a.messages + ": invalid JSON: " + e.what());
  }
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  ChatFormatter format(*tok);
  if (format.is_default())
    std::cerr << "moe-cli: " << a.path << " has no chat_template; using " << format.template_name() << "\n";
  std::cout << format.render(messages, a.generation_prompt, parse_template_vars(a.kwargs));
}

}  // namespace

void add_text_commands(CLI::App& app) {
  auto t = std::make_shared<TokenizeArgs>();
  auto* c = app.add_subcommand("tokenize", "token ids of a text, as a JSON array");
  c->add_option("path", t->path, "model or tokenizer folder")->required();
  c->add_option("--text", t->text, "the text")->each([t](const std::string&) { t->have_text = true; });
  c->add_option("--file", t->file, "a file holding the text");
  c->add_flag("--special", t->special, "add what the post-processor adds (BOS/EOS)");
  c->callback([t] { tokenize(*t); });

  auto d = std::make_shared<DetokenizeArgs>();
  c = app.add_subcommand("detokenize", "text of token ids");
  c->add_option("path", d->path, "model or tokenizer folder")->required();
  c->add_option("--ids", d->ids, "JSON file with token ids")->required();
  c->add_flag("--skip-special", d->skip_special, "leave special tokens out");
  c->callback([d] { detokenize(*d); });

  auto m = std::make_shared<TemplateArgs>();
  c = app.add_subcommand("template", "render the model's chat template for a conversation");
  c->add_option("path", m->path, "model or tokenizer folder")->required();
  c->add_option("--messages", m->messages, "JSON file: [{role, content}, ...]")->required();
  c->add_flag("--generation-prompt", m->generation_prompt, "end with the assistant's turn opening");
  c->add_option("--set", m->kwargs, "template variable NAME=JSON (e.g. enable_thinking=false)");
  c->callback([m] { render_template(*m); });
}

}  // namespace moe::cli
