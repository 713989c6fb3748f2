// EngineWorker (see engine_worker.h).
#include "studio/engine_worker.h"

#include <QElapsedTimer>
#include <algorithm>
#include <chrono>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "moe/backend.h"
#include "moe/chat_format.h"
#include "moe/device.h"
#include "moe/error.h"
#include "moe/generator.h"
#include "moe/model.h"
#include "moe/tokenizer.h"

namespace moe::studio {
namespace {

constexpr qint64 kFrameMs = 16;

QString q(const std::string& s) {
  return QString::fromStdString(s);
}

// The CPU engine runs OpenMP teams from this thread. A team as large as the machine (OpenMP's default)
// leaves the GUI thread no core of its own: its threads spin between parallel regions and the GUI waits
// for a time slice, tens of ms on a 2-core machine. One core stays with the GUI unless OMP_NUM_THREADS
// says otherwise. (The setting belongs to the calling thread, so it is made on the worker thread.)
void leave_a_core_to_the_gui() {
#ifdef _OPENMP
  static thread_local bool done = false;
  if (done || qEnvironmentVariableIsSet("OMP_NUM_THREADS")) return;
  done = true;
  omp_set_num_threads(std::max(1, int(std::thread::hardware_concurrency()) - 1));
#endif
}

}  // namespace

void register_engine_types() {
  qRegisterMetaType<GenerationBatch>();
  qRegisterMetaType<GenerationRequest>();
  qRegisterMetaType<GenerationSummary>();
  qRegisterMetaType<LoadedModelFacts>();
}

EngineWorker::EngineWorker() = default;
EngineWorker::~EngineWorker() = default;

void EngineWorker::unload() {
  generator_.reset();
  backend_.reset();
  tokenizer_.reset();
  model_.reset();
}

void EngineWorker::load(const QString& path, qint64 context_length, const QString& device) {
  leave_a_core_to_the_gui();
  cancel_load_.store(false);
  unload();
  auto cancelled = [&] {
    if (!cancel_load_.load()) return false;
    unload();
    emit loadFailed(tr("Loading was cancelled."));
    return true;
  };
  try {
    emit loadProgress(tr("Reading config.json and mapping the weights"), 10);
    auto model = Model::open(path.toStdString());
    if (cancelled()) return;
    emit loadProgress(tr("Loading the tokenizer"), 40);
    auto tokenizer = Tokenizer::load(path.toStdString());
    if (cancelled()) return;
    const GpuProbe gpus = probe_gpus();
    const bool to_gpu = device == "cuda" || (device == "auto" && !gpus.gpus.empty());
    emit loadProgress(to_gpu ? tr("Uploading the weights to the GPU and allocating the KV cache")
                             : tr("Allocating the KV cache"),
                      60);
    BackendOptions options;
    options.context_length = context_length;
    auto backend = make_backend(*model, device.toStdString(), options);
    if (cancelled()) return;
    ModelSpec spec = model->spec();
    emit loadProgress(tr("Ready"), 100);
    model_ = std::move(model);
    tokenizer_ = std::move(tokenizer);
    backend_ = std::move(backend);
    generator_ = std::make_unique<Generator>(*backend_, model_->spec());

    const ModelSpec& s = model_->spec();
    ChatFormatter format(*tokenizer_);
    LoadedModelFacts f;
    f.path = path;
    f.architecture = q(s.architecture);
    f.backend = q(backend_->name());
    f.requested_device = device;
    if (f.backend == "cuda" && size_t(options.cuda_device) < gpus.gpus.size()) {
      const GpuInfo& gpu = gpus.gpus[size_t(options.cuda_device)];
      f.gpu_name = q(gpu.name);
      f.gpu_memory_bytes = int64_t(gpu.total_memory);
      f.device = tr("GPU %1: %2").arg(gpu.index).arg(f.gpu_name);
    } else if (f.backend == "cuda") {
      f.device = tr("GPU");
    } else {
      f.device_note = gpus.gpus.empty() ? tr("no GPU: %1").arg(q(gpus.why_none))
                                        : tr("the CPU was chosen (GPU %1 unused)").arg(q(gpus.gpus[0].name));
      f.device = tr("CPU, %1").arg(f.device_note);
    }
    const MemoryPlan plan = backend_->memory_plan();
    f.vram_weights = int64_t(plan.weights);
    f.vram_kv_cache = int64_t(plan.kv_cache);
    f.vram_workspace = int64_t(plan.workspace);
    f.dtype = q(std::string(dtype_name(model_->main_dtype())));
    f.template_name = q(format.template_name());
    f.default_template = format.is_default();
    f.layers = s.num_layers;
    f.moe_layers = s.num_moe_layers();
    f.experts = s.num_experts;
    f.top_k = s.top_k;
    f.total_parameters = s.total_parameters();
    f.active_parameters = s.active_parameters();
    f.weight_bytes = int64_t(model_->weight_bytes());
    f.context_length = backend_->context_length();
    f.max_context = s.max_position_embeddings;
    f.kv_cache_bytes = int64_t(backend_->kv_cache_bytes());
    emit loaded(f);
  } catch (const std::exception& e) {
    unload();
    emit loadFailed(q(e.what()));
  }
}

std::vector<int32_t> EngineWorker::prompt_ids(const GenerationRequest& r, int* dropped_turns) {
  *dropped_turns = 0;
  if (!r.raw_prompt.isEmpty()) return tokenizer_->encode(r.raw_prompt.toStdString(), true);
  ChatFormatter format(*tokenizer_, r.template_override.toStdString());
  // Context policy: when the conversation does not fit (leaving room for the answer), the oldest turns are
  // dropped, the system prompt kept; the summary reports how many were dropped.
  const int64_t reserve = std::min<int64_t>(r.params.max_tokens, backend_->context_length() / 4);
  const int64_t budget = backend_->context_length() - reserve;
  nlohmann::json messages = r.messages;
  while (true) {
    auto ids = tokenizer_->encode(format.render(messages, true, r.template_vars), false);
    if (int64_t(ids.size()) <= budget) return ids;
    size_t first = messages.size() > 0 && messages[0].value("role", "") == "system" ? 1 : 0;
    if (messages.size() <= first + 1) return ids;  // only the last message is left: the Generator reports it
    messages.erase(messages.begin() + int64_t(first));
    ++*dropped_turns;
  }
}

void EngineWorker::generate(const GenerationRequest& r) {
  leave_a_core_to_the_gui();
  stop_.store(false);
  if (!generator_) {
    emit failed(r.request, tr("No model is loaded."));
    return;
  }
  try {
    GenerationSummary summary;
    summary.request = r.request;
    auto ids = prompt_ids(r, &summary.dropped_turns);
    ModelSpec spec = model_->spec();
    GenerationParams params = r.params;
    params.cancel = &stop_;
    if (params.top_logprobs < 5) params.top_logprobs = 5;
    // The tokenizer's own end-of-turn token stops chat even where config.json names another EOS.
    std::vector<int32_t> extra_eos;
    if (auto eos = tokenizer_->eos_token())
      if (auto id = tokenizer_->token_to_id(*eos)) extra_eos.push_back(*id);
    if (auto id = tokenizer_->token_to_id("<|im_end|>")) extra_eos.push_back(*id);

    StreamingDecoder stream(*tokenizer_, true);
    GenerationBatch batch;
    batch.request = r.request;
    QElapsedTimer since_emit;
    since_emit.start();
    auto flush = [&] {
      if (batch.tokens.empty() && batch.prompt_routing.empty()) return;
      emit tokensReady(batch);
      batch.tokens.clear();
      batch.prompt_routing.clear();
      since_emit.restart();
    };
    std::string text;
    Generator::TokenSink on_token = [&](const TokenEvent& ev) {
      StreamedToken t;
      t.id = ev.id;
      std::string piece = stream.push(ev.id);
      text += piece;
      t.piece = q(piece);
      t.logprob = ev.logprob;
      for (auto [id, lp] : ev.top_logprobs)
        t.alternatives.push_back({q(tokenizer_->decode({id})), lp});
      t.routing = ev.routing;
      batch.tokens.push_back(std::move(t));
      if (since_emit.elapsed() >= kFrameMs) flush();
    };
    // Stop at the chat EOS ids too: wrap by checking in the sink is too late, so extend the spec's list.
    for (int32_t id : extra_eos)
      params.stop_token_ids.push_back(id);
    auto result = generator_->generate(
        ids, params, on_token, [&](const RoutingRecord& rec) { batch.prompt_routing.push_back(rec); });
    std::string rest = stream.flush();
    text += rest;
    if (!rest.empty() && !batch.tokens.empty()) batch.tokens.back().piece += q(rest);
    flush();
    summary.text = q(text);
    summary.prompt_tokens = result.prompt_tokens;
    summary.reused_tokens = result.reused_tokens;
    summary.generated_tokens = int64_t(result.tokens.size());
    summary.context_used = backend_->cache_length();
    summary.context_length = backend_->context_length();
    summary.prefill_tokens_per_second =
        double(result.prompt_tokens - result.reused_tokens) / std::max(result.prefill_seconds, 1e-9);
    summary.decode_tokens_per_second = double(result.tokens.size()) / std::max(result.decode_seconds, 1e-9);
    summary.stop_reason = q(stop_reason_name(result.reason));
    emit finished(summary);
  } catch (const std::exception& e) {
    emit failed(r.request, q(e.what()));
  }
}

}  // namespace moe::studio
