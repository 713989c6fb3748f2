// ChatController: the business logic of a chat session between the views, the store and the EngineWorker.
// It writes the user's message in one transaction, renders nothing itself (the worker applies the template),
// streams the answer into the ChatView and the routing views, writes the answer incrementally (every 250 ms)
// with its routing trace in chunks, and handles Stop, Regenerate, Edit (a branch) and branch navigation.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <vector>

#include "store/session_store.h"
#include "studio/engine_types.h"
#include "widgets/routing_data.h"
#include "widgets/sampling_panel.h"

namespace moe::widgets {
class ChatView;
}

namespace moe::studio {

class EngineWorker;

class ChatController : public QObject {
  Q_OBJECT

 public:
  // The built-in templates the picker offers besides the model's own.
  static constexpr const char* kChatMlName = "ChatML";

  ChatController(store::SessionStore& store, EngineWorker& worker, widgets::ChatView& view,
                 widgets::RoutingData& routing, QObject* parent = nullptr);

  // The model the next answers come from; its routing shape sizes the routing views.
  void setModel(const LoadedModelFacts& facts, const widgets::RoutingShape& shape);
  void setSettings(const widgets::SamplingSettings& settings) { settings_ = settings; }
  // Answers run to max tokens, past the model's end-of-sequence tokens (benchmarks, long-run tests).
  void setIgnoreEos(bool ignore) { ignore_eos_ = ignore; }
  // Opens a stored session (0: none) and replays its active branch and routing traces.
  void openSession(qint64 sessionId);
  qint64 sessionId() const { return session_; }
  // The sampling settings stored with the open session (defaults when none).
  widgets::SamplingSettings sessionSettings() const;
  bool isGenerating() const { return request_ != 0; }

 public slots:
  void send(const QString& text);
  void stop();
  void regenerate(int viewIndex);
  void edit(int viewIndex, const QString& text);
  void navigateBranch(int viewIndex, int delta);
  void copy(int viewIndex);

 signals:
  void sessionChanged(qint64 sessionId);  // a session was created or opened
  void generatingChanged(bool generating);
  void statsChanged(const moe::studio::GenerationSummary& summary);
  void notice(const QString& text);

 private slots:
  void onTokens(const moe::studio::GenerationBatch& batch);
  void onFinished(const moe::studio::GenerationSummary& summary);
  void onFailed(qint64 request, const QString& message);

 private:
  void startAnswer(qint64 parentId);
  void reloadView();
  void flushToStore(bool final);
  nlohmann::json conversation() const;
  widgets::TokenRouting toWidget(const RoutingRecord& r, bool prompt, const QString& piece) const;

  store::SessionStore& store_;
  EngineWorker& worker_;
  widgets::ChatView& view_;
  widgets::RoutingData& routing_;
  widgets::SamplingSettings settings_;
  bool ignore_eos_ = false;
  LoadedModelFacts model_;

  qint64 session_ = 0;
  std::vector<store::MessageRow> path_;  // the active branch, root first
  qint64 request_ = 0;                   // the generation in flight (0: none)
  qint64 next_request_ = 1;
  qint64 answer_id_ = 0;  // the assistant message being written
  int answer_view_index_ = -1;
  int answer_turn_ = 0;
  QString answer_text_;
  std::vector<store::RoutingRecordRow> pending_routing_;
  QElapsedTimer since_write_;
};

}  // namespace moe::studio
