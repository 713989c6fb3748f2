// Tokenizer throughput: encodes ≥ 1 MB of English text (the licence texts and copyright files on this
// machine) and a mixed multilingual document with each real tokenizer, one thread, and prints MB/s. A
// program, not a test: `tokenizer_bench [NPM_CACHE]` (default build/npm-cache, filled by
// tools/fetch-tokenizers.sh).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "moe/error.h"
#include "moe/tokenizer.h"

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// English prose: the common licences, then copyright files, until there is at least `bytes`.
std::string english_text(size_t bytes) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/share/common-licenses", ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<fs::path> more;
  for (const auto& e : fs::directory_iterator("/usr/share/doc", ec)) {
    const fs::path c = e.path() / "copyright";
    if (fs::is_regular_file(c, ec)) more.push_back(c);
  }
  std::sort(more.begin(), more.end());
  files.insert(files.end(), more.begin(), more.end());
  std::string text;
  for (const auto& f : files) {
    if (text.size() >= bytes) break;
    text += read(f);
    text += '\n';
  }
  while (!text.empty() && text.size() < bytes)
    text += text;
  return text;
}

std::string mixed_text(size_t bytes) {
  const std::string parts[] = {
      "The quick brown fox jumps over the lazy dog. ",
      "def f(x):\n    return x * 2  # double\n",
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81",  // 你好，世界！
      "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF ",             // こんにちは
      "\xEC\x95\x88\xEB\x85\x95\xED\x95\x98\xEC\x84\xB8\xEC\x9A\x94 ",             // 안녕하세요
      "caf\xC3\xA9 na\xC3\xAFve ",
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD ",
      "12345678901234567890 ",
      "\r\n\t  ",
  };
  std::string text;
  size_t i = 0;
  while (text.size() < bytes)
    text += parts[(i++ * 7) % std::size(parts)];
  return text;
}

double encode_mb_per_s(const moe::Tokenizer& tok, const std::string& text, size_t& tokens) {
  // Best of three runs; every run starts from a fresh tokenizer state only as far as the word cache allows.
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    tokens = tok.encode(text).size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(text.size()) / 1e6 / s);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path cache = argc > 1 ? fs::path(argv[1]) : fs::path("build/npm-cache");
  const std::string english = english_text(size_t(2) << 20);
  const std::string mixed = mixed_text(size_t(1) << 20);
  std::printf("english text: %.2f MB, mixed text: %.2f MB, one thread\n", english.size() / 1e6,
              mixed.size() / 1e6);
  std::printf("%-22s %12s %12s %12s %14s\n", "tokenizer", "load s", "english MB/s", "mixed MB/s",
              "english tokens");
  int missing = 0;
  for (const char* name :
       {"tokenizer-qwen3", "tokenizer-deepseek_v3", "tokenizer-llama3_1", "tokenizer-llama2"}) {
    const fs::path dir = cache / name / "models";
    try {
      const auto t0 = std::chrono::steady_clock::now();
      const auto tok = moe::Tokenizer::load(dir);
      const double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      size_t n_english = 0, n_mixed = 0;
      const double e = encode_mb_per_s(*tok, english, n_english);
      const double m = encode_mb_per_s(*tok, mixed, n_mixed);
      std::printf("%-22s %12.2f %12.2f %12.2f %14zu\n", name, load, e, m, n_english);
    } catch (const moe::Error& e) {
      std::printf("%-22s %s\n", name, e.what());
      ++missing;
    }
  }
  if (missing) std::printf("(fetch the tokenizers with tools/fetch-tokenizers.sh)\n");
  return missing ? 1 : 0;
}
