// SessionStore: the message tree, streaming writes, routing traces and full-text search.
#include <QSqlError>
#include <QSqlQuery>

#include "store/routing_codec.h"
#include "store/session_store.h"
#include "store/store_internal.h"

namespace moe::store {

using detail::nowMs;
using detail::text;
using detail::textOrNull;

MessageRow detail::readMessage(const QSqlQuery& q) {
  MessageRow m;
  m.id = q.value(0).toLongLong();
  m.sessionId = q.value(1).toLongLong();
  m.parentId = q.value(2).isNull() ? SessionStore::kNoParent : q.value(2).toLongLong();
  m.role = q.value(3).toString();
  m.content = q.value(4).toString();
  m.status = statusFromName(q.value(5).toString()).value_or(MessageStatus::Error);
  m.createdAt = fromMs(q.value(6));
  if (!q.value(7).isNull()) m.tokenCount = q.value(7).toLongLong();
  if (!q.value(8).isNull()) m.tokensPerSecond = q.value(8).toDouble();
  m.stopReason = q.value(9).toString();
  m.metadataJson = q.value(10).toString();
  return m;
}

void detail::checkRole(const QString& role) {
  static const QStringList roles = {QStringLiteral("system"), QStringLiteral("user"),
                                    QStringLiteral("assistant"), QStringLiteral("tool")};
  if (!roles.contains(role))
    throw StoreError(
        QStringLiteral("unknown message role \"%1\" (system, user, assistant or tool)").arg(role));
}

std::vector<MessageRow> SessionStore::messageRows(const char* sql, std::initializer_list<QVariant> args) {
  std::vector<MessageRow> out;
  QSqlQuery q = exec(QByteArray(sql).replace("$COLUMNS", detail::kMessageColumns).constData(), args);
  while (q.next())
    out.push_back(detail::readMessage(q));
  return out;
}

qint64 SessionStore::appendMessage(qint64 sessionId, qint64 parentId, const QString& role,
                                   const QString& content, MessageStatus status) {
  detail::checkRole(role);
  Transaction tx(*this);
  requireLiveSession(sessionId);
  if (parentId != kNoParent) {
    QSqlQuery q = exec("SELECT session_id FROM messages WHERE id = ?", {parentId});
    if (!q.next() || q.value(0).toLongLong() != sessionId)
      throw StoreError(QStringLiteral("message %1 is not in session %2").arg(parentId).arg(sessionId));
  }
  const qint64 id = exec(
                        "INSERT INTO messages (session_id, parent_id, role, content, status, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        {sessionId, parentId == kNoParent ? QVariant() : QVariant(parentId), role,
                         text(content), statusName(status), nowMs()})
                        .lastInsertId()
                        .toLongLong();
  touchSession(sessionId);
  tx.commit();
  return id;
}

void SessionStore::updateMessageText(qint64 messageId, const QString& content, MessageStatus status) {
  // One statement: its own small transaction (or part of the caller's, see runInTransaction()).
  if (exec("UPDATE messages SET content = ?, status = ? WHERE id = ?",
           {text(content), statusName(status), messageId})
          .numRowsAffected() != 1)
    throw StoreError(QStringLiteral("there is no message %1").arg(messageId));
}

void SessionStore::finishMessage(qint64 messageId, const MessageStats& stats) {
  Transaction tx(*this);
  QSqlQuery q = exec("SELECT session_id FROM messages WHERE id = ?", {messageId});
  if (!q.next()) throw StoreError(QStringLiteral("there is no message %1").arg(messageId));
  const qint64 sessionId = q.value(0).toLongLong();
  q.finish();
  exec(
      "UPDATE messages SET content = coalesce(?, content), status = ?, token_count = ?, tokens_per_second = "
      "?, "
      "stop_reason = ?, metadata = ? WHERE id = ?",
      {stats.content ? text(*stats.content) : QVariant(), statusName(stats.status),
       stats.tokenCount ? QVariant(*stats.tokenCount) : QVariant(),
       stats.tokensPerSecond ? QVariant(*stats.tokensPerSecond) : QVariant(), textOrNull(stats.stopReason),
       textOrNull(stats.metadataJson), messageId});
  touchSession(sessionId);
  tx.commit();
}

std::optional<MessageRow> SessionStore::message(qint64 messageId) {
  auto rows = messageRows("SELECT $COLUMNS FROM messages m WHERE m.id = ?", {messageId});
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::vector<MessageRow> SessionStore::messages(qint64 sessionId) {
  return messageRows("SELECT $COLUMNS FROM messages m WHERE m.session_id = ? ORDER BY m.id", {sessionId});
}

std::vector<MessageRow> SessionStore::roots(qint64 sessionId) {
  return messageRows(
      "SELECT $COLUMNS FROM messages m WHERE m.session_id = ? AND m.parent_id IS NULL ORDER BY m.id",
      {sessionId});
}

std::vector<MessageRow> SessionStore::children(qint64 parentId) {
  return messageRows("SELECT $COLUMNS FROM messages m WHERE m.parent_id = ? ORDER BY m.id", {parentId});
}

std::vector<MessageRow> SessionStore::siblings(qint64 messageId) {
  const auto self = message(messageId);
  if (!self) throw StoreError(QStringLiteral("there is no message %1").arg(messageId));
  return self->parentId == kNoParent ? roots(self->sessionId) : children(self->parentId);
}

qint64 SessionStore::lastLeaf(qint64 sessionId) {
  // A message's children are newer than it, so the newest message of a session has none.
  QSqlQuery q = exec("SELECT max(id) FROM messages WHERE session_id = ?", {sessionId});
  return q.next() ? q.value(0).toLongLong() : 0;
}

qint64 SessionStore::lastLeafUnder(qint64 messageId) {
  QSqlQuery q = exec(
      "WITH RECURSIVE subtree(id) AS (SELECT id FROM messages WHERE id = ? "
      "UNION ALL SELECT m.id FROM messages m JOIN subtree ON m.parent_id = subtree.id) "
      "SELECT max(id) FROM subtree",
      {messageId});
  return q.next() ? q.value(0).toLongLong() : 0;
}

std::vector<MessageRow> SessionStore::activePath(qint64 sessionId, qint64 leafId) {
  if (leafId == 0) leafId = lastLeaf(sessionId);
  if (leafId == 0) return {};
  auto path = messageRows(
      "WITH RECURSIVE path(id, depth) AS (SELECT id, 0 FROM messages WHERE id = ? AND "
      "session_id = ? UNION ALL SELECT m.parent_id, path.depth + 1 FROM messages m "
      "JOIN path ON m.id = path.id WHERE m.parent_id IS NOT NULL) "
      "SELECT $COLUMNS FROM path JOIN messages m ON m.id = path.id ORDER BY path.depth DESC",
      {leafId, sessionId});
  if (path.empty())
    throw StoreError(QStringLiteral("message %1 is not in session %2").arg(leafId).arg(sessionId));
  return path;
}

// --- routing traces ---

void SessionStore::appendRoutingChunk(qint64 messageId, std::span<const RoutingRecordRow> records) {
  const QByteArray data = routing_codec::encode(records);
  const RoutingRecordRow& first = records.front();
  Transaction tx(*this);
  QSqlQuery last = exec(
      "SELECT chunk_index, first_position + n_positions, n_moe_layers, top_k "
      "FROM routing_traces WHERE message_id = ? ORDER BY chunk_index DESC LIMIT 1",
      {messageId});
  qint64 index = 0;
  if (last.next()) {
    index = last.value(0).toLongLong() + 1;
    const qint64 end = last.value(1).toLongLong();
    if (first.position < end)
      throw StoreError(QStringLiteral("routing chunk for message %1 starts at position %2, before the end of "
                                      "what is stored (%3): traces are appended, never rewritten")
                           .arg(messageId)
                           .arg(first.position)
                           .arg(end));
    if (last.value(2).toInt() != first.nMoeLayers || last.value(3).toInt() != first.topK)
      throw StoreError(
          QStringLiteral("routing chunk for message %1 has another shape than its earlier chunks")
              .arg(messageId));
  }
  last.finish();
  if (!exec("SELECT 1 FROM messages WHERE id = ?", {messageId}).next())
    throw StoreError(QStringLiteral("there is no message %1").arg(messageId));
  exec(
      "INSERT INTO routing_traces (message_id, chunk_index, first_position, n_positions, n_moe_layers, "
      "top_k, "
      "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
      {messageId, index, first.position, qint64(records.size()), first.nMoeLayers, first.topK, data});
  tx.commit();
}

std::vector<RoutingRecordRow> SessionStore::routingTrace(qint64 messageId) {
  std::vector<RoutingRecordRow> out;
  QSqlQuery q = exec(
      "SELECT first_position, n_positions, n_moe_layers, top_k, data FROM routing_traces "
      "WHERE message_id = ? ORDER BY chunk_index",
      {messageId});
  while (q.next()) {
    auto chunk = routing_codec::decode(q.value(4).toByteArray(), q.value(0).toLongLong(), q.value(1).toInt(),
                                       q.value(2).toInt(), q.value(3).toInt());
    out.insert(out.end(), std::make_move_iterator(chunk.begin()), std::make_move_iterator(chunk.end()));
  }
  return out;
}

// --- search ---

QString SessionStore::ftsQueryFromUserText(const QString& text) {
  // Split into words and "quoted phrases"; quote each as an FTS5 string so that nothing the user types is
  // read as an operator (AND, OR, NOT, NEAR, *, ^, :, -, parentheses). Pieces without a letter or digit would
  // tokenize to nothing and are dropped. Juxtaposed strings mean AND.
  QStringList pieces;
  QString current;
  bool quoted = false;
  const auto flush = [&] {
    if (std::any_of(current.begin(), current.end(), [](QChar c) { return c.isLetterOrNumber(); }))
      pieces << QLatin1Char('"') + current + QLatin1Char('"');
    current.clear();
  };
  for (const QChar c : text) {
    if (c == QLatin1Char('"')) {
      flush();
      quoted = !quoted;
    } else if (!quoted && c.isSpace()) {
      flush();
    } else {
      current += c;
    }
  }
  flush();
  return pieces.join(QLatin1Char(' '));
}

SearchResult SessionStore::searchMessages(const QString& userText, const SearchOptions& options) {
  SearchResult result;
  const QString query = options.rawQuery ? userText : ftsQueryFromUserText(userText);
  if (query.trimmed().isEmpty()) return result;
  QSqlQuery q(db());
  q.setForwardOnly(true);
  q.prepare(QStringLiteral(
      "SELECT m.session_id, m.id, s.title, m.role, snippet(messages_fts, 0, ?, ?, '…', 16) "
      "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN sessions s ON s.id = m.session_id "
      "WHERE messages_fts MATCH ? AND s.deleted_at IS NULL ORDER BY bm25(messages_fts), m.id DESC LIMIT ?"));
  q.addBindValue(text(options.markStart));
  q.addBindValue(text(options.markEnd));
  q.addBindValue(query);
  q.addBindValue(options.limit);
  if (!q.exec()) {
    // FTS5 reports a bad query ("fts5: syntax error near ...") when the statement runs.
    const QString why = q.lastError().databaseText();
    result.error =
        QStringLiteral("the search could not be run: %1").arg(why.isEmpty() ? q.lastError().text() : why);
    return result;
  }
  while (q.next())
    result.hits.push_back({q.value(0).toLongLong(), q.value(1).toLongLong(), q.value(2).toString(),
                           q.value(3).toString(), q.value(4).toString()});
  if (q.lastError().isValid()) {
    result.hits.clear();
    result.error = QStringLiteral("the search could not be run: %1").arg(q.lastError().databaseText());
  }
  return result;
}

}  // namespace moe::store
