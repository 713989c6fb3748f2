// Plain structs that come out of (and go into) the SessionStore. No SQL, no engine types: the studio converts
// between these and the engine's own records.
#pragma once

#include <QDateTime>
#include <QString>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <vector>

namespace moe::store {

// Every unexpected failure of the database (disk full, I/O error, a broken invariant) and every misuse (an id
// that does not exist, a parent from another session) is thrown as a StoreError whose text a user can act on.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const QString& message)
      : std::runtime_error(message.toStdString()), message_(message) {}
  const QString& message() const { return message_; }

 private:
  QString message_;
};

// What open() found. ok() means the store can be used.
struct OpenResult {
  enum class Status {
    Opened,       // an existing database, migrated to the current schema if it was older
    Created,      // a new, empty database (possibly after a corrupt one was moved aside: see movedAsideTo)
    NewerSchema,  // written by a newer MoE Studio: refused and left untouched
    Corrupt,      // damaged: moved aside to movedAsideTo; open() again to start a fresh one
    Failed,       // could not be opened (permissions, a directory in the way, ...): see message
  };
  Status status = Status::Failed;
  QString message;              // one or two sentences for the user (empty when nothing noteworthy happened)
  QString movedAsideTo;         // where a corrupt database (and its -wal/-shm) went
  int schemaVersion = 0;        // the user_version found (for NewerSchema: the newer version)
  int interruptedMessages = 0;  // 'streaming' messages left by a crash, now marked 'interrupted'
  bool ok() const { return status == Status::Opened || status == Status::Created; }
};

enum class MessageStatus { Complete, Streaming, Interrupted, Error };
QString statusName(MessageStatus status);  // "complete", "streaming", "interrupted", "error"
std::optional<MessageStatus> statusFromName(const QString& name);

struct SessionInfo {
  qint64 id = 0;
  QString title;
  QString modelPath;
  QString systemPrompt;
  QString samplingJson = QStringLiteral("{}");  // the sampling settings as a JSON object, stored as given
  QString templateName;                         // chat template override; empty: the model's own
  QDateTime createdAt;
  QDateTime updatedAt;  // last activity: creation, a message appended or finished, a settings change
  int messageCount = 0;
};

// One node of a session's message tree. parentId 0: a root (the first message of a branch).
struct MessageRow {
  qint64 id = 0;
  qint64 sessionId = 0;
  qint64 parentId = 0;
  QString role;  // "system", "user", "assistant" or "tool"
  QString content;
  MessageStatus status = MessageStatus::Complete;
  QDateTime createdAt;
  std::optional<qint64> tokenCount;
  std::optional<double> tokensPerSecond;
  QString stopReason;
  QString metadataJson;  // empty or a JSON value
};

// What finishMessage() writes when generation ends.
struct MessageStats {
  MessageStatus status = MessageStatus::Complete;
  std::optional<QString> content;  // the final text, written in the same transaction; unset keeps the text
  std::optional<qint64> tokenCount;
  std::optional<double> tokensPerSecond;
  QString stopReason;
  QString metadataJson;
};

// The routing of one token position: for every MoE layer (layer-major) the top_k chosen experts and their
// gate weights. Mirrors the engine's RoutingRecord without depending on it. Weights come back as float16
// (relative error at most 2^-11, absolute at most 2^-25 below 2^-14).
struct RoutingRecordRow {
  qint64 position = 0;
  bool prompt = false;  // a prompt (prefill) position rather than a generated one
  int nMoeLayers = 0;
  int topK = 0;
  std::vector<int> experts;    // [nMoeLayers * topK], each in [0, 65535]
  std::vector<float> weights;  // [nMoeLayers * topK]
};

struct ModelInfo {
  qint64 id = 0;
  QString path;
  QString name;
  QString architecture;
  QDateTime lastOpened;
};

// Returned by deleteSession(); give it back to undoDelete() to restore the session.
struct UndoToken {
  qint64 sessionId = 0;
  qint64 deletedAtMs = 0;
};

enum class CloneScope {
  ActiveBranch,  // the path from the root to one leaf
  WholeTree,     // every branch
};

struct SearchOptions {
  int limit = 50;
  bool rawQuery = false;  // pass the text to FTS5 as a query (operators, prefixes); default: plain words
  QString markStart = QStringLiteral("[");  // around each match in the snippet
  QString markEnd = QStringLiteral("]");
};

struct SearchHit {
  qint64 sessionId = 0;
  qint64 messageId = 0;
  QString sessionTitle;
  QString role;
  QString snippet;
};

struct SearchResult {
  std::vector<SearchHit> hits;  // best match first
  QString error;                // e.g. a syntax error of a raw query
  bool ok() const { return error.isEmpty(); }
};

struct ImportResult {
  std::vector<qint64> sessionIds;  // the sessions created, in file order; empty on error
  QString error;                   // "<file>:<line>: <what is wrong>"; nothing was imported
  int errorLine = 0;               // 1-based line of the error, 0 when it is not about one line
  bool ok() const { return error.isEmpty(); }
};

}  // namespace moe::store
