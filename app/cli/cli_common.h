// Pieces shared by the moe-cli commands: reading an ids file, opening a model with its backend, printing.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/backend.h"
#include "moe/generator.h"
#include "moe/model.h"

namespace moe::cli {

// A JSON file holding an array of token ids (or an object with an "ids" array).
std::vector<int32_t> read_ids(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);
// The built-in demo model: $MOE_DEMO_MODEL, else <prefix>/share/moe-studio/demo-model beside the installed
// binary, else resources/demo-model of the source tree this binary was built from.
std::string find_demo_model();
// Sampling flags shared by generate and chat.
void add_sampling_options(CLI::App& command, GenerationParams& params);

// --device cpu|cuda|auto (default auto: the GPU when there is one) on a command that runs a model.
void add_device_option(CLI::App& command, std::string& device);

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Backend> backend;
};
// Opens the folder and makes its backend on `device` (see make_backend); out of GPU memory is the backend's
// moe::Error saying what did not fit and by how much.
LoadedModel load(const std::filesystem::path& folder, int64_t context_length, const std::string& device);

// Each command registers itself on the app and runs when chosen.
void add_info(CLI::App& app);
void add_generate(CLI::App& app);
void add_logits(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_random(CLI::App& app);
void add_text_commands(CLI::App& app);  // tokenize, detokenize, template
void add_chat(CLI::App& app);
void add_bench(CLI::App& app);

std::string human_count(double n);  // 1.23 B
std::string human_bytes(double n);  // 4.5 GiB

}  // namespace moe::cli
