// moe-cli entry point: subcommands info, generate, logits, perplexity, random, text commands, chat, bench.
// Errors go to stderr with a non-zero exit status; `--json` output is one JSON document on stdout.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "moe/error.h"

int main(int argc, char** argv) {
  CLI::App app{"moe-cli: run Mixture-of-Experts models from the command line"};
  app.require_subcommand(1);
  moe::cli::add_info(app);
  moe::cli::add_generate(app);
  moe::cli::add_logits(app);
  moe::cli::add_perplexity(app);
  moe::cli::add_random(app);
  moe::cli::add_text_commands(app);
  moe::cli::add_chat(app);
  moe::cli::add_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const moe::Error& e) {
    std::fprintf(stderr, "moe-cli: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "moe-cli: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moe-cli: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
