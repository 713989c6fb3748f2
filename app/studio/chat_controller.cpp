// ChatController (see chat_controller.h).
#include "studio/chat_controller.h"

#include <QApplication>
#include <QClipboard>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <cmath>

#include "moe/chat_format.h"
#include "studio/engine_worker.h"
#include "widgets/chat_view.h"

namespace moe::studio {
namespace {

constexpr qint64 kWriteEveryMs = 250;  // a crash loses at most this much of an answer

widgets::ChatRole role_of(const QString& role) {
  if (role == "user") return widgets::ChatRole::User;
  if (role == "assistant") return widgets::ChatRole::Assistant;
  return widgets::ChatRole::System;
}

}  // namespace

ChatController::ChatController(store::SessionStore& store, EngineWorker& worker, widgets::ChatView& view,
                               widgets::RoutingData& routing, QObject* parent)
    : QObject(parent), store_(store), worker_(worker), view_(view), routing_(routing) {
  connect(&worker_, &EngineWorker::tokensReady, this, &ChatController::onTokens);
  connect(&worker_, &EngineWorker::finished, this, &ChatController::onFinished);
  connect(&worker_, &EngineWorker::failed, this, &ChatController::onFailed);
}

void ChatController::setModel(const LoadedModelFacts& facts, const widgets::RoutingShape& shape) {
  model_ = facts;
  routing_.reset(shape);
  if (session_) openSession(session_);
}

widgets::TokenRouting ChatController::toWidget(const RoutingRecord& r, bool prompt,
                                               const QString& piece) const {
  widgets::TokenRouting t;
  t.answer = answer_turn_;
  t.position = r.position;
  t.prompt = prompt;
  t.piece = piece;
  t.experts = r.experts;
  t.weights = r.weights;
  return t;
}

void ChatController::openSession(qint64 sessionId) {
  session_ = sessionId;
  path_ = sessionId ? store_.activePath(sessionId) : std::vector<store::MessageRow>{};
  reloadView();
  emit sessionChanged(sessionId);
}

widgets::SamplingSettings ChatController::sessionSettings() const {
  auto info = session_ ? store_.session(session_) : std::nullopt;
  if (!info) return settings_;
  auto s = widgets::SamplingSettings::fromJson(QJsonDocument::fromJson(info->samplingJson.toUtf8()).object());
  s.systemPrompt = info->systemPrompt;
  s.templateName = info->templateName;
  return s;
}

void ChatController::reloadView() {
  view_.clear();
  routing_.clear();
  answer_turn_ = 0;
  for (const auto& m : path_) {
    int index = view_.addMessage(role_of(m.role), m.content);
    if (m.status == store::MessageStatus::Interrupted) view_.setInterrupted(index);
    auto siblings = store_.siblings(m.id);
    if (siblings.size() > 1) {
      int at = 0;
      for (size_t i = 0; i < siblings.size(); ++i)
        if (siblings[i].id == m.id) at = int(i);
      view_.setBranchInfo(index, at + 1, int(siblings.size()));
    }
    if (m.role != "assistant") continue;
    // Replay the stored routing trace of this answer into the heatmaps.
    std::vector<widgets::TokenRouting> replay;
    for (const auto& r : store_.routingTrace(m.id)) {
      if (r.nMoeLayers != routing_.nLayers() || r.topK != routing_.topK()) break;  // another model's trace
      widgets::TokenRouting t;
      t.answer = answer_turn_;
      t.position = r.position;
      t.prompt = r.prompt;
      t.experts.assign(r.experts.begin(), r.experts.end());
      t.weights = r.weights;
      replay.push_back(std::move(t));
    }
    routing_.append(replay);
    ++answer_turn_;
  }
}

nlohmann::json ChatController::conversation() const {
  nlohmann::json messages = nlohmann::json::array();
  if (!settings_.systemPrompt.isEmpty())
    messages.push_back({{"role", "system"}, {"content", settings_.systemPrompt.toStdString()}});
  for (const auto& m : path_)
    if (m.role == "user" || m.role == "assistant")
      messages.push_back({{"role", m.role.toStdString()}, {"content", m.content.toStdString()}});
  return messages;
}

void ChatController::send(const QString& text) {
  if (text.trimmed().isEmpty() || isGenerating() || model_.path.isEmpty()) return;
  if (!session_) {
    session_ = store_.createSession(
        text.left(60).simplified(), model_.path, settings_.systemPrompt,
        QString::fromUtf8(QJsonDocument(settings_.toJson()).toJson(QJsonDocument::Compact)),
        settings_.templateName);
    emit sessionChanged(session_);
  }
  const qint64 parent = path_.empty() ? store::SessionStore::kNoParent : path_.back().id;
  const qint64 id = store_.appendMessage(session_, parent, "user", text);
  path_.push_back(*store_.message(id));
  view_.addMessage(widgets::ChatRole::User, text);
  startAnswer(id);
}

void ChatController::startAnswer(qint64 parentId) {
  answer_id_ = store_.appendMessage(session_, parentId, "assistant", {}, store::MessageStatus::Streaming);
  answer_text_.clear();
  pending_routing_.clear();
  answer_view_index_ = view_.beginAssistant();
  since_write_.start();

  GenerationRequest r;
  r.request = request_ = next_request_++;
  r.messages = conversation();
  if (settings_.rawCompletion && !path_.empty())
    r.raw_prompt = path_.back().content;  // continue the text as is
  r.template_vars = {{"enable_thinking", settings_.enableThinking}};
  // The template picker: a named built-in replaces the model's template (for models that have none, or a
  // wrong one); empty keeps the model's own.
  if (settings_.templateName == kChatMlName) r.template_override = QString::fromUtf8(kDefaultChatMlTemplate);
  GenerationParams& p = r.params;
  p.sampling.temperature = settings_.temperature;
  p.sampling.top_k = settings_.topK;
  p.sampling.top_p = settings_.topP;
  p.sampling.min_p = settings_.minP;
  p.sampling.repetition_penalty = settings_.repetitionPenalty;
  p.sampling.seed =
      settings_.randomSeed ? QRandomGenerator::global()->generate64() : uint64_t(settings_.seed);
  p.max_tokens = settings_.maxTokens;
  p.ignore_eos = ignore_eos_;
  emit generatingChanged(true);
  QMetaObject::invokeMethod(&worker_, "generate", Qt::QueuedConnection,
                            Q_ARG(moe::studio::GenerationRequest, r));
}

void ChatController::onTokens(const GenerationBatch& batch) {
  if (batch.request != request_) return;
  std::vector<widgets::TokenRouting> records;
  for (const auto& r : batch.prompt_routing) {
    records.push_back(toWidget(r, true, {}));
    pending_routing_.push_back({r.position, true, int(routing_.nLayers()), int(routing_.topK()),
                                std::vector<int>(r.experts.begin(), r.experts.end()), r.weights});
  }
  for (const auto& t : batch.tokens) {
    QVector<widgets::TokenAlternative> alts;
    for (const auto& [text, lp] : t.alternatives)
      alts.push_back({text, lp});
    view_.appendToken(t.piece, t.logprob, alts);
    answer_text_ += t.piece;
    records.push_back(toWidget(t.routing, false, t.piece));
    pending_routing_.push_back({t.routing.position, false, int(routing_.nLayers()), int(routing_.topK()),
                                std::vector<int>(t.routing.experts.begin(), t.routing.experts.end()),
                                t.routing.weights});
  }
  routing_.append(records);
  if (since_write_.elapsed() >= kWriteEveryMs) flushToStore(false);
}

void ChatController::flushToStore(bool final) {
  if (!answer_id_) return;
  store_.runInTransaction([&] {
    if (!pending_routing_.empty()) store_.appendRoutingChunk(answer_id_, pending_routing_);
    if (!final) store_.updateMessageText(answer_id_, answer_text_, store::MessageStatus::Streaming);
  });
  pending_routing_.clear();
  since_write_.restart();
}

void ChatController::onFinished(const GenerationSummary& s) {
  if (s.request != request_) return;
  flushToStore(true);
  store::MessageStats stats;
  stats.status =
      s.stop_reason == "cancelled" ? store::MessageStatus::Interrupted : store::MessageStatus::Complete;
  stats.content = s.text;
  stats.tokenCount = s.generated_tokens;
  stats.tokensPerSecond = s.decode_tokens_per_second;
  stats.stopReason = s.stop_reason;
  store_.finishMessage(answer_id_, stats);
  // The streamed pieces already make the text; replacing it would drop their probabilities (token hover).
  if (view_.messageText(answer_view_index_) != s.text) view_.setMessageText(answer_view_index_, s.text);
  view_.finishAssistant(
      tr("%1 tokens · %2 tok/s").arg(s.generated_tokens).arg(s.decode_tokens_per_second, 0, 'f', 1));
  if (stats.status == store::MessageStatus::Interrupted) view_.setInterrupted(answer_view_index_);
  if (s.dropped_turns > 0)
    emit notice(
        tr("The conversation is longer than the context: the %1 oldest message(s) were left out of the "
           "prompt (the system prompt is kept).")
            .arg(s.dropped_turns));
  path_.push_back(*store_.message(answer_id_));
  ++answer_turn_;
  answer_id_ = 0;
  request_ = 0;
  emit statsChanged(s);
  emit generatingChanged(false);
}

void ChatController::onFailed(qint64 request, const QString& message) {
  if (request != request_) return;
  store::MessageStats stats;
  stats.status = store::MessageStatus::Error;
  stats.content = answer_text_;
  stats.stopReason = message;
  store_.finishMessage(answer_id_, stats);
  view_.finishAssistant();
  view_.setInterrupted(answer_view_index_);
  answer_id_ = 0;
  request_ = 0;
  emit notice(tr("Generation failed: %1").arg(message));
  emit generatingChanged(false);
}

void ChatController::stop() {
  if (isGenerating()) worker_.requestStop();
}

void ChatController::regenerate(int viewIndex) {
  if (isGenerating() || viewIndex < 0 || viewIndex >= int(path_.size())) return;
  // The answer is replaced by a sibling under the same user message.
  path_.resize(size_t(viewIndex));
  reloadView();
  startAnswer(path_.empty() ? store::SessionStore::kNoParent : path_.back().id);
}

void ChatController::edit(int viewIndex, const QString& text) {
  if (isGenerating() || viewIndex < 0 || viewIndex >= int(path_.size())) return;
  const qint64 parent = path_[size_t(viewIndex)].parentId;
  path_.resize(size_t(viewIndex));
  const qint64 id = store_.appendMessage(session_, parent, "user", text);
  path_.push_back(*store_.message(id));
  reloadView();
  startAnswer(id);
}

void ChatController::navigateBranch(int viewIndex, int delta) {
  if (isGenerating() || viewIndex < 0 || viewIndex >= int(path_.size())) return;
  auto siblings = store_.siblings(path_[size_t(viewIndex)].id);
  int at = 0;
  for (size_t i = 0; i < siblings.size(); ++i)
    if (siblings[i].id == path_[size_t(viewIndex)].id) at = int(i);
  const int next = at + delta;
  if (next < 0 || next >= int(siblings.size())) return;
  path_ = store_.activePath(session_, store_.lastLeafUnder(siblings[size_t(next)].id));
  reloadView();
}

void ChatController::copy(int viewIndex) {
  if (viewIndex >= 0 && viewIndex < view_.messageCount())
    QApplication::clipboard()->setText(view_.messageText(viewIndex));
}

}  // namespace moe::studio
