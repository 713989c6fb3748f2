// moe-cli logits PATH --ids FILE.json --out FILE.f32: the logits of every position of one prompt, float32,
// row-major [n_ids, vocab].
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli_common.h"
#include "moe/error.h"

namespace moe::cli {
namespace {

struct LogitsArgs {
  std::string path, ids, out, device = "auto";
};

void run(const LogitsArgs& a) {
  auto ids = read_ids(a.ids);
  if (ids.empty()) throw Error(a.ids + ": no token ids");
  auto m = load(a.path, int64_t(ids.size()), a.device);
  std::vector<float> logits;
  m.backend->forward(ids, LogitsMode::All, logits, nullptr);
  const std::string tmp = a.out + ".partial";
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(reinterpret_cast<const char*>(logits.data()), std::streamsize(logits.size() * sizeof(float)));
    if (!f) throw Error(a.out + ": cannot be written");
  }
  std::filesystem::rename(tmp, a.out);
  std::cerr << "wrote " << ids.size() << " x " << m.model->spec().vocab_size << " logits to " << a.out
            << "\n";
}

}  // namespace

void add_logits(CLI::App& app) {
  auto a = std::make_shared<LogitsArgs>();
  auto* c = app.add_subcommand("logits", "write the logits of every position of a prompt (float32)");
  c->add_option("path", a->path, "model folder")->required();
  c->add_option("--ids", a->ids, "JSON file with token ids")->required();
  c->add_option("--out", a->out, "output file, float32 row-major [n_ids, vocab]")->required();
  add_device_option(*c, a->device);
  c->callback([a] { run(*a); });
}

}  // namespace moe::cli
