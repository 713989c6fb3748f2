// EngineWorker: owns the model, its backend, tokenizer and Generator on a worker thread. The GUI posts
// requests through queued slots; tokens come back batched, one signal per UI frame (~16 ms), never one per
// token per layer. The KV cache of the conversation stays between turns (the Generator reuses the prefix).
#pragma once

#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "studio/engine_types.h"

namespace moe {
class Model;
class Backend;
class Tokenizer;
class Generator;
}  // namespace moe

namespace moe::studio {

class EngineWorker : public QObject {
  Q_OBJECT

 public:
  EngineWorker();
  ~EngineWorker() override;

  // Thread-safe: stop the generation in flight within one decode step / cancel a load between its steps.
  void requestStop() { stop_.store(true); }
  void requestCancelLoad() { cancel_load_.store(true); }

 public slots:
  // device: "auto" (CUDA when a GPU is present, else the CPU), "cpu" or "cuda".
  void load(const QString& path, qint64 context_length, const QString& device = QStringLiteral("auto"));
  void generate(const moe::studio::GenerationRequest& request);
  void unload();

 signals:
  void loadProgress(const QString& step, int percent);
  void loaded(const moe::studio::LoadedModelFacts& facts);
  void loadFailed(const QString& message);
  void tokensReady(const moe::studio::GenerationBatch& batch);
  void finished(const moe::studio::GenerationSummary& summary);
  void failed(qint64 request, const QString& message);

 private:
  std::vector<int32_t> prompt_ids(const GenerationRequest& r, int* dropped_turns);

  std::unique_ptr<Model> model_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Generator> generator_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cancel_load_{false};
};

// Registers the queued-signal types once.
void register_engine_types();

}  // namespace moe::studio
