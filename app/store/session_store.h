// SessionStore: the studio's one SQLite database (sessions, their message trees, routing traces, models,
// settings, a full-text index). The only class in the project that speaks SQL.
//
// One SessionStore owns one named Qt SQL connection and must be used from the thread that opened it; a worker
// thread makes its own SessionStore on the same file (WAL lets readers run beside one writer; busy_timeout
// waits out the writer). Every write is one transaction. Failures are thrown as StoreError, except those a
// user causes by what they type or pick (search syntax, a bad import file), which come back as values.
#pragma once

#include <QByteArray>
#include <QSqlDatabase>
#include <QString>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "store/store_types.h"

class QLockFile;
class QSqlQuery;

namespace moe::store {

class SessionStore {
 public:
  enum class OnCorrupt {
    Report,       // move the damaged file aside and return Corrupt (open() again starts a fresh one)
    CreateFresh,  // move it aside and create a fresh database at once (status Created, movedAsideTo set)
  };

  // path: an explicit database file (the studio's --db); empty: defaultPath().
  explicit SessionStore(QString path = {});
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // $MOE_STUDIO_DB when set, else <XDG data home>/moe-studio/studio.db (~/.local/share/moe-studio/studio.db):
  // the studio's AppDataLocation, but the same folder for every program that asks (cli, tests).
  static QString defaultPath();
  // The schema version this build writes (PRAGMA user_version).
  static int schemaVersion();

  const QString& path() const { return path_; }

  // Opens (creating the file and its folder if needed) and migrates. Before writing anything it checks,
  // read-only, that the file is a healthy database of a schema this build knows: a newer one is refused
  // untouched, a corrupt one moved aside to <path>.corrupt-<yyyyMMdd-HHmmss> with its -wal and -shm. The
  // first store to open a file (it takes <path>.lock) marks messages left 'streaming' by a crash as
  // 'interrupted'.
  OpenResult open(OnCorrupt onCorrupt = OnCorrupt::Report);
  bool isOpen() const;
  void close();

  // PRAGMA integrity_check plus the full-text index's own check: "ok" or the problems found.
  QString integrityCheck();

  // Runs body in one transaction (the store's own calls inside join it): all of it is written, or none.
  void runInTransaction(const std::function<void()>& body);

  // --- sessions ---
  qint64 createSession(const QString& title, const QString& modelPath = {}, const QString& systemPrompt = {},
                       const QString& samplingJson = {}, const QString& templateName = {});
  std::optional<SessionInfo> session(qint64 sessionId);
  std::vector<SessionInfo> listSessions();  // not deleted, most recent activity first
  void renameSession(qint64 sessionId, const QString& title);
  // Writes title, modelPath, systemPrompt, samplingJson and templateName of info.id.
  void updateSession(const SessionInfo& info);
  UndoToken deleteSession(qint64 sessionId);  // soft delete: hidden from lists and search until purged
  bool undoDelete(const UndoToken& token);    // false when already purged or restored
  int purgeDeleted(const QDateTime& deletedBefore = {});  // invalid: purge every deleted session
  // A new session "<title> (copy)" with the same settings and copies of the messages (the path from the root
  // to leafId, lastLeaf() when 0; or the whole tree) and their routing traces.
  qint64 cloneSession(qint64 sessionId, CloneScope scope = CloneScope::ActiveBranch, qint64 leafId = 0);

  // --- messages (a tree per session) ---
  static constexpr qint64 kNoParent = 0;
  qint64 appendMessage(qint64 sessionId, qint64 parentId, const QString& role, const QString& content,
                       MessageStatus status = MessageStatus::Complete);
  // The streaming write, called every few tokens or ~250 ms while a message is generated.
  void updateMessageText(qint64 messageId, const QString& content,
                         MessageStatus status = MessageStatus::Streaming);
  void finishMessage(qint64 messageId, const MessageStats& stats);
  std::optional<MessageRow> message(qint64 messageId);
  std::vector<MessageRow> messages(qint64 sessionId);  // the whole tree, oldest first
  std::vector<MessageRow> roots(qint64 sessionId);
  std::vector<MessageRow> children(qint64 parentId);
  std::vector<MessageRow> siblings(qint64 messageId);  // same parent (roots: same session), itself included
  std::vector<MessageRow> activePath(qint64 sessionId, qint64 leafId = 0);  // root .. leaf; 0: lastLeaf()
  qint64 lastLeaf(qint64 sessionId);       // the newest message (always a leaf); 0 when none
  qint64 lastLeafUnder(qint64 messageId);  // the newest message in the subtree of messageId

  // --- routing traces ---
  // Appends the records (consecutive positions after those stored so far, one shape) as the next chunk.
  void appendRoutingChunk(qint64 messageId, std::span<const RoutingRecordRow> records);
  std::vector<RoutingRecordRow> routingTrace(qint64 messageId);  // every chunk, decoded, in position order

  // --- search, export, import ---
  // Plain words by default: each word, or each "quoted phrase", must occur (the text is escaped, so quotes,
  // operators and punctuation cannot make a syntax error). Deleted sessions are not searched.
  SearchResult searchMessages(const QString& text, const SearchOptions& options = {});
  static QString ftsQueryFromUserText(const QString& text);  // the escaping used above

  QString exportMarkdown(qint64 sessionId, qint64 leafId = 0);
  // One line {"messages":[{"role":..,"content":..},...]} + "\n" for the path to leafId (lastLeaf() when 0),
  // the system prompt first when there is one: the fine-tuning dataset format.
  QByteArray exportJsonl(qint64 sessionId, qint64 leafId = 0);
  // Every non-blank line becomes a session (leading system messages become its system prompt). All or
  // nothing.
  ImportResult importJsonl(const QString& filePath);

  // --- models and settings ---
  void noteModelOpened(const QString& path, const QString& name, const QString& architecture);
  std::vector<ModelInfo> recentModels(int limit = 10);
  QString setting(const QString& key, const QString& fallback = {});
  void setSetting(const QString& key, const QString& value);
  void removeSetting(const QString& key);

 private:
  class Transaction;
  friend class Transaction;

  QSqlDatabase& db();
  QSqlQuery exec(const char* sql, std::initializer_list<QVariant> args = {});
  std::vector<MessageRow> messageRows(const char* sql, std::initializer_list<QVariant> args);
  void touchSession(qint64 sessionId);
  qint64 requireLiveSession(qint64 sessionId);
  OpenResult openChecked(OnCorrupt onCorrupt);

  QString path_;
  QString connection_;
  QSqlDatabase db_;
  std::unique_ptr<QLockFile> lock_;
  int txDepth_ = 0;
};

}  // namespace moe::store
