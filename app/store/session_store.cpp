// SessionStore: opening (checks, migrations, crash recovery), transactions, sessions, models and settings.
// Messages, routing traces and search are in store_messages.cpp; export and import in store_transcript.cpp.
#include "store/session_store.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QLockFile>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QtEndian>
#include <atomic>

#include "store/schema.h"
#include "store/store_internal.h"

namespace moe::store {

using detail::nowMs;
using detail::text;

namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kSqliteCorrupt = 11, kSqliteNotADb = 26;

QString newConnectionName(const char* what) {
  static std::atomic<int> counter{0};
  return QStringLiteral("moe_store_%1_%2").arg(QLatin1String(what)).arg(counter.fetch_add(1));
}

bool isCorruptionError(const QSqlError& e) {
  bool ok = false;
  const int code = e.nativeErrorCode().toInt(&ok) & 0xff;
  return ok && (code == kSqliteCorrupt || code == kSqliteNotADb);
}

// What a read-only look at an existing file found, before anything is written to it.
struct Probe {
  enum class Kind { Healthy, Newer, Corrupt, Failed } kind = Kind::Healthy;
  int version = 0;
  QString detail;
};

Probe probeWithSqlite(const QString& path) {
  Probe p;
  const QString name = newConnectionName("probe");
  {
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
    db.setDatabaseName(path);
    db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=%1").arg(kBusyTimeoutMs));
    const auto failed = [&](const QSqlError& e) {
      p.kind = isCorruptionError(e) ? Probe::Kind::Corrupt : Probe::Kind::Failed;
      p.detail = e.databaseText().isEmpty() ? e.text() : e.databaseText();
    };
    if (!db.open()) {
      failed(db.lastError());
    } else {
      QSqlQuery q(db);
      if (!q.exec(QStringLiteral("PRAGMA user_version")) || !q.next()) {
        failed(q.lastError());
      } else if ((p.version = q.value(0).toInt()) > schema::currentVersion()) {
        p.kind = Probe::Kind::Newer;
      } else if (!q.exec(QStringLiteral("PRAGMA quick_check(10)"))) {
        failed(q.lastError());
      } else {
        QStringList problems;
        while (q.next())
          for (const QString& line : q.value(0).toString().split(QLatin1Char('\n'), Qt::SkipEmptyParts))
            if (!line.startsWith(QLatin1String("***")))
              problems << line.trimmed();  // "*** in database main ***"
        if (problems != QStringList{QStringLiteral("ok")}) {
          p.kind = Probe::Kind::Corrupt;
          p.detail = QStringList(problems.mid(0, 3)).join(QStringLiteral("; ")) +
                     (problems.size() > 3 ? QStringLiteral("; ...") : QString());
        }
      }
      q.finish();
    }
    db.close();
  }
  QSqlDatabase::removeDatabase(name);
  return p;
}

Probe probe(const QString& path) {
  if (QFileInfo(path).size() > 0) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {Probe::Kind::Failed, 0, f.errorString()};
    const QByteArray head = f.read(100);
    if (head.size() < 100 || !head.startsWith(QByteArray("SQLite format 3\0", 16)))
      return {Probe::Kind::Corrupt, 0, QStringLiteral("not an SQLite database")};
    // Without a pending write-ahead log the header's user_version (big-endian at offset 60) is the truth:
    // a newer database is then refused without SQLite so much as opening it.
    const int version = int(qFromBigEndian<quint32>(head.constData() + 60));
    if (version > schema::currentVersion() && QFileInfo(path + QStringLiteral("-wal")).size() == 0)
      return {Probe::Kind::Newer, version, {}};
  }
  return probeWithSqlite(path);
}

// Renames path (and its -wal, -shm, -journal) to <path>.corrupt-<timestamp>; returns the new name or empty.
QString moveAside(const QString& path, QString* error) {
  const QString base = path + QStringLiteral(".corrupt-") +
                       QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
  QString target = base;
  for (int n = 2; QFileInfo::exists(target); ++n)
    target = base + QStringLiteral("-%1").arg(n);
  QFile db(path);
  if (!db.rename(target)) {
    *error = db.errorString();
    return {};
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const QString side = path + QLatin1String(suffix);
    if (QFileInfo::exists(side)) QFile::rename(side, target + QLatin1String(suffix));
  }
  return target;
}

QString newerSchemaMessage(const QString& path, int version) {
  return QStringLiteral(
             "%1 was written by a newer MoE Studio (schema %2; this version knows %3); it is left "
             "untouched. Update MoE Studio, or start it with --db to use another database.")
      .arg(QDir::toNativeSeparators(path))
      .arg(version)
      .arg(schema::currentVersion());
}

QString checkedJson(const QString& json, const QString& what) {
  if (json.trimmed().isEmpty()) return QStringLiteral("{}");
  QJsonParseError err;
  QJsonDocument::fromJson(json.toUtf8(), &err);
  if (err.error != QJsonParseError::NoError)
    throw StoreError(QStringLiteral("%1 are not valid JSON: %2 at offset %3")
                         .arg(what, err.errorString())
                         .arg(err.offset));
  return json;
}

SessionInfo readSession(const QSqlQuery& q) {
  SessionInfo s;
  s.id = q.value(0).toLongLong();
  s.title = q.value(1).toString();
  s.modelPath = q.value(2).toString();
  s.systemPrompt = q.value(3).toString();
  s.samplingJson = q.value(4).toString();
  s.templateName = q.value(5).toString();
  s.createdAt = detail::fromMs(q.value(6));
  s.updatedAt = detail::fromMs(q.value(7));
  s.messageCount = q.value(8).toInt();
  return s;
}

constexpr const char* kSessionSelect =
    "SELECT s.id, s.title, s.model_path, s.system_prompt, s.sampling, s.template_name, s.created_at, "
    "s.updated_at, (SELECT count(*) FROM messages m WHERE m.session_id = s.id) FROM sessions s ";

// updated_at moves strictly forward across sessions, so "most recent first" holds within one millisecond.
constexpr const char* kNextActivityTime = "max(?, (SELECT coalesce(max(updated_at), 0) + 1 FROM sessions))";

}  // namespace

QString statusName(MessageStatus status) {
  switch (status) {
    case MessageStatus::Complete:
      return QStringLiteral("complete");
    case MessageStatus::Streaming:
      return QStringLiteral("streaming");
    case MessageStatus::Interrupted:
      return QStringLiteral("interrupted");
    case MessageStatus::Error:
      return QStringLiteral("error");
  }
  return {};
}

std::optional<MessageStatus> statusFromName(const QString& s) {
  for (MessageStatus m :
       {MessageStatus::Complete, MessageStatus::Streaming, MessageStatus::Interrupted, MessageStatus::Error})
    if (statusName(m) == s) return m;
  return std::nullopt;
}

SessionStore::SessionStore(QString path)
    : path_(path.isEmpty() ? defaultPath() : std::move(path)), connection_(newConnectionName("db")) {}

SessionStore::~SessionStore() {
  close();
}

QString SessionStore::defaultPath() {
  const QString env = qEnvironmentVariable("MOE_STUDIO_DB");
  if (!env.isEmpty()) return env;
  QString dir = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
  if (dir.isEmpty()) dir = QDir::homePath() + QStringLiteral("/.local/share");
  // The folder is named for the product, not for whichever executable (studio, cli, test) asks.
  return dir + QStringLiteral("/moe-studio/studio.db");
}

int SessionStore::schemaVersion() {
  return schema::currentVersion();
}

bool SessionStore::isOpen() const {
  return db_.isOpen();
}

void SessionStore::close() {
  if (db_.isValid()) {
    db_.close();
    db_ = QSqlDatabase();
    QSqlDatabase::removeDatabase(connection_);
  }
  lock_.reset();
  txDepth_ = 0;
}

OpenResult SessionStore::open(OnCorrupt onCorrupt) {
  close();
  try {
    return openChecked(onCorrupt);
  } catch (const StoreError& e) {
    close();
    OpenResult r;
    r.status = OpenResult::Status::Failed;
    r.message =
        QStringLiteral("%1 could not be opened: %2").arg(QDir::toNativeSeparators(path_), e.message());
    return r;
  }
}

OpenResult SessionStore::openChecked(OnCorrupt onCorrupt) {
  OpenResult r;
  const QString shown = QDir::toNativeSeparators(path_);
  const QFileInfo info(path_);
  bool fresh = !info.exists() || info.size() == 0;
  if (info.exists() && !info.isFile()) {
    r.message = QStringLiteral("%1 is not a file").arg(shown);
    return r;
  }
  if (!fresh) {
    const Probe p = probe(path_);
    r.schemaVersion = p.version;
    switch (p.kind) {
      case Probe::Kind::Healthy:
        break;
      case Probe::Kind::Newer:
        r.status = OpenResult::Status::NewerSchema;
        r.message = newerSchemaMessage(path_, p.version);
        return r;
      case Probe::Kind::Failed:
        r.message = QStringLiteral("%1 could not be read: %2").arg(shown, p.detail);
        return r;
      case Probe::Kind::Corrupt: {
        QString error;
        r.movedAsideTo = moveAside(path_, &error);
        if (r.movedAsideTo.isEmpty()) {
          r.message = QStringLiteral("%1 is damaged (%2) and could not be moved aside: %3")
                          .arg(shown, p.detail, error);
          return r;
        }
        r.message = QStringLiteral("%1 is damaged (%2); it was moved aside to %3")
                        .arg(shown, p.detail, QDir::toNativeSeparators(r.movedAsideTo));
        if (onCorrupt == OnCorrupt::Report) {
          r.status = OpenResult::Status::Corrupt;
          r.message += QLatin1Char('.');
          return r;
        }
        r.message += QStringLiteral(" and a new, empty database was started.");
        fresh = true;
        r.schemaVersion = 0;
        break;
      }
    }
  }
  if (!QDir().mkpath(QFileInfo(path_).absolutePath())) {
    r.message = QStringLiteral("the folder of %1 could not be created").arg(shown);
    return r;
  }

  db_ = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection_);
  db_.setDatabaseName(path_);
  db_.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(kBusyTimeoutMs));
  if (!db_.open()) {
    r.message = QStringLiteral("%1 could not be opened: %2").arg(shown, db_.lastError().text());
    close();
    return r;
  }
  // Read before the first write (journal_mode is one), in case the file changed since the probe.
  {
    QSqlQuery q = exec("PRAGMA user_version");
    q.next();
    r.schemaVersion = q.value(0).toInt();
  }
  if (r.schemaVersion > schema::currentVersion()) {
    close();
    r.status = OpenResult::Status::NewerSchema;
    r.message = newerSchemaMessage(path_, r.schemaVersion);
    return r;
  }
  {
    QSqlQuery q = exec("PRAGMA journal_mode = WAL");
    if (!q.next() || q.value(0).toString().compare(QLatin1String("wal"), Qt::CaseInsensitive) != 0)
      throw StoreError(QStringLiteral("the write-ahead log could not be enabled"));
  }
  // With WAL, NORMAL loses nothing committed when the program crashes; a power cut may lose the last
  // transactions, never consistency.
  exec("PRAGMA synchronous = NORMAL");
  exec("PRAGMA foreign_keys = ON");
  exec(QByteArray("PRAGMA busy_timeout = " + QByteArray::number(kBusyTimeoutMs)).constData());

  const auto migrations = schema::migrations();
  for (int v = r.schemaVersion; v < int(migrations.size()); ++v) {
    Transaction tx(*this);
    QSqlQuery q = exec("PRAGMA user_version");  // another process may have migrated meanwhile
    q.next();
    const int now = q.value(0).toInt();
    q.finish();
    if (now > v) {
      v = now - 1;
      continue;
    }
    migrations[size_t(v)](db_);
    exec(QByteArray("PRAGMA user_version = " + QByteArray::number(v + 1)).constData());
    tx.commit();
  }
  r.status = fresh ? OpenResult::Status::Created : OpenResult::Status::Opened;

  // Only the first live store on this file (in any process) may decide that 'streaming' means 'crashed'.
  lock_ = std::make_unique<QLockFile>(path_ + QStringLiteral(".lock"));
  lock_->setStaleLockTime(0);  // a lock is stale when its process is gone, however old it is
  if (lock_->tryLock(0)) {
    r.interruptedMessages =
        exec("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'").numRowsAffected();
  } else {
    lock_.reset();
  }
  return r;
}

QSqlDatabase& SessionStore::db() {
  if (!db_.isOpen()) throw StoreError(QStringLiteral("the session store is not open"));
  return db_;
}

QSqlQuery SessionStore::exec(const char* sql, std::initializer_list<QVariant> args) {
  QSqlQuery q(db());
  q.setForwardOnly(true);
  const QString text = QString::fromUtf8(sql);
  const auto fail = [&] {
    throw StoreError(
        QStringLiteral("database error: %1 (in: %2)").arg(q.lastError().text(), text.simplified().left(80)));
  };
  if (args.size() == 0) {
    if (!q.exec(text)) fail();
    return q;
  }
  if (!q.prepare(text)) fail();
  for (const QVariant& a : args)
    q.addBindValue(a);
  if (!q.exec()) fail();
  return q;
}

void SessionStore::runInTransaction(const std::function<void()>& body) {
  Transaction tx(*this);
  body();
  tx.commit();
}

QString SessionStore::integrityCheck() {
  QStringList problems;
  QSqlQuery q = exec("PRAGMA integrity_check");
  while (q.next())
    problems << q.value(0).toString();
  q.finish();
  if (problems == QStringList{QStringLiteral("ok")}) problems.clear();
  QSqlQuery fts(db());
  if (!fts.exec(QStringLiteral("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")))
    problems << QStringLiteral("full-text index: %1").arg(fts.lastError().databaseText());
  return problems.isEmpty() ? QStringLiteral("ok") : problems.join(QStringLiteral("; "));
}

// --- sessions ---

void SessionStore::touchSession(qint64 sessionId) {
  exec((QByteArray("UPDATE sessions SET updated_at = ") + kNextActivityTime + " WHERE id = ?").constData(),
       {nowMs(), sessionId});
}

qint64 SessionStore::requireLiveSession(qint64 sessionId) {
  QSqlQuery q = exec("SELECT deleted_at FROM sessions WHERE id = ?", {sessionId});
  if (!q.next()) throw StoreError(QStringLiteral("there is no session %1").arg(sessionId));
  if (!q.value(0).isNull()) throw StoreError(QStringLiteral("session %1 has been deleted").arg(sessionId));
  return sessionId;
}

qint64 SessionStore::createSession(const QString& title, const QString& modelPath,
                                   const QString& systemPrompt, const QString& samplingJson,
                                   const QString& templateName) {
  const QString sampling = checkedJson(samplingJson, QStringLiteral("the sampling settings"));
  Transaction tx(*this);
  const qint64 now = nowMs();
  QSqlQuery q =
      exec((QByteArray("INSERT INTO sessions (title, model_path, system_prompt, sampling, "
                       "template_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ") +
            kNextActivityTime + ")")
               .constData(),
           {text(title), text(modelPath), text(systemPrompt), sampling, text(templateName), now, now});
  const qint64 id = q.lastInsertId().toLongLong();
  tx.commit();
  return id;
}

std::optional<SessionInfo> SessionStore::session(qint64 sessionId) {
  QSqlQuery q =
      exec((QByteArray(kSessionSelect) + "WHERE s.id = ? AND s.deleted_at IS NULL").constData(), {sessionId});
  if (!q.next()) return std::nullopt;
  return readSession(q);
}

std::vector<SessionInfo> SessionStore::listSessions() {
  std::vector<SessionInfo> out;
  QSqlQuery q =
      exec((QByteArray(kSessionSelect) + "WHERE s.deleted_at IS NULL ORDER BY s.updated_at DESC, s.id DESC")
               .constData());
  while (q.next())
    out.push_back(readSession(q));
  return out;
}

void SessionStore::renameSession(qint64 sessionId, const QString& title) {
  if (exec("UPDATE sessions SET title = ? WHERE id = ? AND deleted_at IS NULL", {text(title), sessionId})
          .numRowsAffected() != 1)
    throw StoreError(QStringLiteral("there is no session %1").arg(sessionId));
}

void SessionStore::updateSession(const SessionInfo& info) {
  const QString sampling = checkedJson(info.samplingJson, QStringLiteral("the sampling settings"));
  Transaction tx(*this);
  if (exec(
          "UPDATE sessions SET title = ?, model_path = ?, system_prompt = ?, sampling = ?, template_name = ? "
          "WHERE id = ? AND deleted_at IS NULL",
          {text(info.title), text(info.modelPath), text(info.systemPrompt), sampling, text(info.templateName),
           info.id})
          .numRowsAffected() != 1)
    throw StoreError(QStringLiteral("there is no session %1").arg(info.id));
  touchSession(info.id);
  tx.commit();
}

UndoToken SessionStore::deleteSession(qint64 sessionId) {
  Transaction tx(*this);
  requireLiveSession(sessionId);
  const qint64 now = nowMs();
  exec("UPDATE sessions SET deleted_at = ? WHERE id = ?", {now, sessionId});
  tx.commit();
  return {sessionId, now};
}

bool SessionStore::undoDelete(const UndoToken& token) {
  return exec("UPDATE sessions SET deleted_at = NULL WHERE id = ? AND deleted_at = ?",
              {token.sessionId, token.deletedAtMs})
             .numRowsAffected() == 1;
}

int SessionStore::purgeDeleted(const QDateTime& deletedBefore) {
  const qint64 cutoff =
      deletedBefore.isValid() ? deletedBefore.toMSecsSinceEpoch() : std::numeric_limits<qint64>::max();
  Transaction tx(*this);
  // Messages, their routing traces and full-text entries go with the session (ON DELETE CASCADE, triggers).
  const int n = exec("DELETE FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at < ?", {cutoff})
                    .numRowsAffected();
  tx.commit();
  return n;
}

qint64 SessionStore::cloneSession(qint64 sessionId, CloneScope scope, qint64 leafId) {
  Transaction tx(*this);
  requireLiveSession(sessionId);
  std::vector<MessageRow> rows =
      scope == CloneScope::WholeTree ? messages(sessionId) : activePath(sessionId, leafId);
  const qint64 now = nowMs();
  const qint64 copy =
      exec((QByteArray(
                "INSERT INTO sessions (title, model_path, system_prompt, sampling, template_name, "
                "created_at, updated_at) SELECT title || ' (copy)', model_path, system_prompt, sampling, "
                "template_name, ?, ") +
            kNextActivityTime + " FROM sessions WHERE id = ?")
               .constData(),
           {now, now, sessionId})
          .lastInsertId()
          .toLongLong();
  // Parents have smaller ids than their children, so copying in id order always finds the parent's copy. A
  // message still being written is copied as it stands now: 'interrupted'.
  std::sort(rows.begin(), rows.end(), [](const MessageRow& a, const MessageRow& b) { return a.id < b.id; });
  QHash<qint64, qint64> newId;
  for (const MessageRow& m : rows) {
    const QVariant parent = m.parentId == kNoParent ? QVariant() : QVariant(newId.value(m.parentId));
    const qint64 id =
        exec(
            "INSERT INTO messages (session_id, parent_id, role, content, status, created_at, "
            "token_count, tokens_per_second, stop_reason, metadata) "
            "SELECT ?, ?, role, content, CASE status WHEN 'streaming' THEN 'interrupted' ELSE status END, "
            "created_at, token_count, tokens_per_second, stop_reason, metadata FROM messages WHERE id = ?",
            {copy, parent, m.id})
            .lastInsertId()
            .toLongLong();
    newId.insert(m.id, id);
    exec(
        "INSERT INTO routing_traces (message_id, chunk_index, first_position, n_positions, n_moe_layers, "
        "top_k, data) SELECT ?, chunk_index, first_position, n_positions, n_moe_layers, top_k, data "
        "FROM routing_traces WHERE message_id = ?",
        {id, m.id});
  }
  tx.commit();
  return copy;
}

// --- models and settings ---

void SessionStore::noteModelOpened(const QString& path, const QString& name, const QString& architecture) {
  exec(
      "INSERT INTO models (path, name, architecture, last_opened) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (path) DO UPDATE SET name = excluded.name, architecture = excluded.architecture, "
      "last_opened = excluded.last_opened",
      {text(path), text(name), text(architecture), nowMs()});
}

std::vector<ModelInfo> SessionStore::recentModels(int limit) {
  std::vector<ModelInfo> out;
  QSqlQuery q = exec(
      "SELECT id, path, name, architecture, last_opened FROM models "
      "ORDER BY last_opened DESC, id DESC LIMIT ?",
      {limit});
  while (q.next())
    out.push_back({q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toString(),
                   q.value(3).toString(), detail::fromMs(q.value(4))});
  return out;
}

QString SessionStore::setting(const QString& key, const QString& fallback) {
  QSqlQuery q = exec("SELECT value FROM settings WHERE key = ?", {text(key)});
  return q.next() ? q.value(0).toString() : fallback;
}

void SessionStore::setSetting(const QString& key, const QString& value) {
  exec(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
      "excluded.value",
      {text(key), text(value)});
}

void SessionStore::removeSetting(const QString& key) {
  exec("DELETE FROM settings WHERE key = ?", {text(key)});
}

}  // namespace moe::store
