// The SQLite session store: migrations and reopening; a newer schema refused without a byte changed; corrupt
// files moved aside; full-text search; rename, delete/undo/purge, clone; message trees; Markdown and JSONL
// export and import; routing-trace chunks; and crash consistency against a writer process killed with
// SIGKILL.
#include <QCryptographicHash>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtEndian>
#include <QtTest>
#include <cmath>
#include <set>

#include "store/session_store.h"
#include "store_writer/store_writer_protocol.h"

using namespace moe::store;

namespace moe::store {
// Lets QCOMPARE print a MessageStatus (QTest finds toString by argument-dependent lookup).
char* toString(MessageStatus s) {
  return qstrdup(statusName(s).toUtf8().constData());
}
}  // namespace moe::store

namespace {

QByteArray sha256(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256);
}

void writeFile(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  QCOMPARE(f.write(bytes), bytes.size());
}

QByteArray randomBytes(qsizetype n, quint32 seed) {
  QRandomGenerator rng(seed);
  QByteArray b(n, Qt::Uninitialized);
  for (auto& c : b)
    c = char(rng.bounded(256));
  return b;
}

std::vector<qint64> ids(const std::vector<MessageRow>& rows) {
  std::vector<qint64> out;
  for (const auto& m : rows)
    out.push_back(m.id);
  return out;
}

std::vector<qint64> sessionIds(const std::vector<SessionInfo>& rows) {
  std::vector<qint64> out;
  for (const auto& s : rows)
    out.push_back(s.id);
  return out;
}

// The float16 error bound stated in store_types.h.
bool closeAsFloat16(float stored, float original) {
  return std::fabs(stored - original) <= std::max(std::fabs(original) * 0x1p-11f, 0x1p-25f);
}

}  // namespace

class StoreTest : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  int counter_ = 0;

  QString freshPath() { return tmp_.filePath(QStringLiteral("db%1/studio.db").arg(++counter_)); }

  // A database with some content, closed.
  QString populated(int messages = 4) {
    const QString path = freshPath();
    SessionStore store(path);
    if (!store.open().ok()) return {};
    const qint64 s = store.createSession(QStringLiteral("populated"));
    qint64 parent = SessionStore::kNoParent;
    for (int i = 0; i < messages; ++i)
      parent = store.appendMessage(s, parent, i % 2 ? QStringLiteral("assistant") : QStringLiteral("user"),
                                   QStringLiteral("message %1 ").arg(i).repeated(40));
    return path;
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void migrations_from_empty_and_reopen() {
    const QString path = freshPath();  // its folder does not exist yet
    qint64 session = 0, message = 0;
    {
      SessionStore store(path);
      const OpenResult r = store.open();
      QVERIFY2(r.ok(), qPrintable(r.message));
      QCOMPARE(r.status, OpenResult::Status::Created);
      QCOMPARE(SessionStore::schemaVersion(), 1);
      session = store.createSession(QStringLiteral("first"), QStringLiteral("/models/m"),
                                    QStringLiteral("be brief"), QStringLiteral("{\"temperature\":0.7}"));
      message =
          store.appendMessage(session, SessionStore::kNoParent, QStringLiteral("user"), QStringLiteral("hi"));
      store.setSetting(QStringLiteral("theme"), QStringLiteral("dark"));
      store.noteModelOpened(QStringLiteral("/models/m"), QStringLiteral("m"),
                            QStringLiteral("Qwen3MoeForCausalLM"));
      QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
    }
    SessionStore store(path);
    const OpenResult r = store.open();
    QCOMPARE(r.status, OpenResult::Status::Opened);
    QCOMPARE(r.schemaVersion, 1);
    const auto s = store.session(session);
    QVERIFY(s);
    QCOMPARE(s->title, QStringLiteral("first"));
    QCOMPARE(s->modelPath, QStringLiteral("/models/m"));
    QCOMPARE(s->systemPrompt, QStringLiteral("be brief"));
    QCOMPARE(s->samplingJson, QStringLiteral("{\"temperature\":0.7}"));
    QCOMPARE(s->messageCount, 1);
    QCOMPARE(store.message(message)->content, QStringLiteral("hi"));
    QCOMPARE(store.setting(QStringLiteral("theme")), QStringLiteral("dark"));
    QCOMPARE(store.setting(QStringLiteral("missing"), QStringLiteral("x")), QStringLiteral("x"));
    SessionInfo edited = *s;
    edited.systemPrompt = QStringLiteral("be thorough");
    edited.templateName = QStringLiteral("chatml");
    edited.samplingJson = QStringLiteral("{\"temperature\":0}");
    store.updateSession(edited);
    QCOMPARE(store.session(session)->systemPrompt, QStringLiteral("be thorough"));
    QCOMPARE(store.session(session)->templateName, QStringLiteral("chatml"));
    QCOMPARE(store.recentModels().size(), size_t(1));
    QCOMPARE(store.recentModels().front().architecture, QStringLiteral("Qwen3MoeForCausalLM"));
    QVERIFY_THROWS_EXCEPTION(StoreError,
                             store.createSession(QStringLiteral("x"), {}, {}, QStringLiteral("{oops")));
  }

  void empty_file_is_a_new_database() {
    const QString path = tmp_.filePath(QStringLiteral("empty.db"));
    writeFile(path, {});
    SessionStore store(path);
    QCOMPARE(store.open().status, OpenResult::Status::Created);
    QVERIFY(store.listSessions().empty());
  }

  void default_path_env_then_xdg() {
    const QByteArray oldDb = qgetenv("MOE_STUDIO_DB"), oldXdg = qgetenv("XDG_DATA_HOME");
    qputenv("MOE_STUDIO_DB", "/somewhere/else.db");
    QCOMPARE(SessionStore::defaultPath(), QStringLiteral("/somewhere/else.db"));
    QCOMPARE(SessionStore().path(), QStringLiteral("/somewhere/else.db"));
    QCOMPARE(SessionStore(QStringLiteral("/explicit.db")).path(), QStringLiteral("/explicit.db"));
    qunsetenv("MOE_STUDIO_DB");
    qputenv("XDG_DATA_HOME", tmp_.filePath(QStringLiteral("xdg")).toUtf8());
    QCOMPARE(SessionStore::defaultPath(), tmp_.filePath(QStringLiteral("xdg/moe-studio/studio.db")));
    if (oldDb.isNull())
      qunsetenv("MOE_STUDIO_DB");
    else
      qputenv("MOE_STUDIO_DB", oldDb);
    if (oldXdg.isNull())
      qunsetenv("XDG_DATA_HOME");
    else
      qputenv("XDG_DATA_HOME", oldXdg);
  }

  void newer_schema_is_refused_and_untouched() {
    const QString path = populated();
    QVERIFY(!path.isEmpty());
    {  // user_version is the big-endian word at offset 60 of the header
      QFile f(path);
      QVERIFY(f.open(QIODevice::ReadWrite));
      QVERIFY(f.seek(60));
      uchar v[4];
      qToBigEndian<quint32>(99, v);
      QCOMPARE(f.write(reinterpret_cast<const char*>(v), 4), qint64(4));
    }
    const QByteArray before = sha256(path);
    const auto filesBefore = QDir(QFileInfo(path).path()).entryList(QDir::Files);
    SessionStore store(path);
    const OpenResult r = store.open(SessionStore::OnCorrupt::CreateFresh);
    QCOMPARE(r.status, OpenResult::Status::NewerSchema);
    QVERIFY(!r.ok());
    QCOMPARE(r.schemaVersion, 99);
    qInfo("%s", qPrintable(r.message));
    QVERIFY2(r.message.contains(
                 QStringLiteral("was written by a newer MoE Studio (schema 99; this version knows 1); "
                                "it is left untouched")),
             qPrintable(r.message));
    QVERIFY(!store.isOpen());
    QVERIFY_THROWS_EXCEPTION(StoreError, store.listSessions());
    QCOMPARE(sha256(path), before);
    QCOMPARE(QDir(QFileInfo(path).path()).entryList(QDir::Files), filesBefore);  // no -wal, -shm, lock, copy
  }

  void newer_schema_in_the_write_ahead_log_is_refused_and_untouched() {
    // The newer version lives only in a -wal another connection keeps open: the header alone cannot tell.
    const QString path = populated();
    const QString forge = QStringLiteral("forge");
    {
      QSqlDatabase raw = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), forge);
      raw.setDatabaseName(path);
      QVERIFY(raw.open());
      QSqlQuery q(raw);
      QVERIFY(q.exec(QStringLiteral("PRAGMA wal_autocheckpoint = 0")));
      QVERIFY(q.exec(QStringLiteral("PRAGMA user_version = 7")));
      QVERIFY(QFileInfo(path + QStringLiteral("-wal")).size() > 0);
      const QByteArray before = sha256(path), walBefore = sha256(path + QStringLiteral("-wal"));
      SessionStore store(path);
      const OpenResult r = store.open();
      QCOMPARE(r.status, OpenResult::Status::NewerSchema);
      QCOMPARE(r.schemaVersion, 7);
      QVERIFY(r.message.contains(QStringLiteral("(schema 7; this version knows 1)")));
      QCOMPARE(sha256(path), before);
      QCOMPARE(sha256(path + QStringLiteral("-wal")), walBefore);
      raw.close();
    }
    QSqlDatabase::removeDatabase(forge);
  }

  void corrupt_random_bytes_moved_aside() {
    const QString path = freshPath();
    QDir().mkpath(QFileInfo(path).path());
    const QByteArray garbage = randomBytes(64 * 1024, 1);
    writeFile(path, garbage);
    writeFile(path + QStringLiteral("-wal"), randomBytes(4096, 2));
    writeFile(path + QStringLiteral("-shm"), randomBytes(4096, 3));
    SessionStore store(path);
    OpenResult r = store.open();
    QCOMPARE(r.status, OpenResult::Status::Corrupt);
    QVERIFY(!r.ok());
    QVERIFY(!store.isOpen());
    QVERIFY(r.movedAsideTo.startsWith(path + QStringLiteral(".corrupt-")));
    qInfo("%s", qPrintable(r.message));
    QVERIFY2(r.message.contains(QStringLiteral("moved aside to ") + r.movedAsideTo), qPrintable(r.message));
    QVERIFY(!QFileInfo::exists(path));
    QVERIFY(!QFileInfo::exists(path + QStringLiteral("-wal")));
    QVERIFY(!QFileInfo::exists(path + QStringLiteral("-shm")));
    QCOMPARE(sha256(r.movedAsideTo), QCryptographicHash::hash(garbage, QCryptographicHash::Sha256));
    QVERIFY(QFileInfo::exists(r.movedAsideTo + QStringLiteral("-wal")));
    QVERIFY(QFileInfo::exists(r.movedAsideTo + QStringLiteral("-shm")));
    // Opening again starts a fresh database that works.
    r = store.open();
    QCOMPARE(r.status, OpenResult::Status::Created);
    const qint64 s = store.createSession(QStringLiteral("after"));
    store.appendMessage(s, SessionStore::kNoParent, QStringLiteral("user"), QStringLiteral("works"));
    QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
  }

  void corrupt_pages_behind_a_valid_header() {
    const QString path = populated(300);
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadWrite));
    const qint64 size = f.size();
    QVERIFY(size > 64 * 1024);
    QVERIFY(f.seek(4096));  // keep the 4 KiB first page (header and schema); wreck the rest
    f.write(randomBytes(size - 4096, 4));
    f.close();
    SessionStore store(path);
    const OpenResult r = store.open();
    QCOMPARE(r.status, OpenResult::Status::Corrupt);
    QVERIFY(QFileInfo::exists(r.movedAsideTo));
    qInfo("%s", qPrintable(r.message));
  }

  void corrupt_truncated_database_create_fresh() {
    const QString path = populated(300);
    QFile f(path);
    const qint64 size = f.size();
    QVERIFY(size > 64 * 1024);
    QVERIFY(f.resize(size / 2));
    const QByteArray truncated = sha256(path);
    SessionStore store(path);
    const OpenResult r = store.open(SessionStore::OnCorrupt::CreateFresh);
    QCOMPARE(r.status, OpenResult::Status::Created);
    QVERIFY(r.ok());
    QVERIFY(!r.movedAsideTo.isEmpty());
    QVERIFY2(r.message.contains(QStringLiteral("moved aside")), qPrintable(r.message));
    QCOMPARE(sha256(r.movedAsideTo), truncated);
    qInfo("%s", qPrintable(r.message));
    QVERIFY(store.listSessions().empty());
    store.createSession(QStringLiteral("fresh"));
    QCOMPARE(store.listSessions().size(), size_t(1));
  }

  void search_across_sessions() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 a = store.createSession(QStringLiteral("Alpha"));
    const qint64 b = store.createSession(QStringLiteral("Beta"));
    const qint64 c = store.createSession(QStringLiteral("Gamma"));
    const qint64 a1 =
        store.appendMessage(a, 0, QStringLiteral("user"), QStringLiteral("The quick brown fox jumps"));
    const qint64 a2 =
        store.appendMessage(a, a1, QStringLiteral("assistant"), QStringLiteral("over the lazy dog"));
    const qint64 b1 =
        store.appendMessage(b, 0, QStringLiteral("user"), QStringLiteral("a brown café, it's \"quoted\""));
    store.appendMessage(c, 0, QStringLiteral("user"), QStringLiteral("brown bread in a deleted chat"));
    store.deleteSession(c);

    SearchResult r = store.searchMessages(QStringLiteral("brown"));
    QVERIFY(r.ok());
    std::set<qint64> found;
    for (const auto& h : r.hits)
      found.insert(h.messageId);
    QCOMPARE(found, (std::set<qint64>{a1, b1}));  // not the deleted session's message
    for (const auto& h : r.hits) {
      QVERIFY2(h.snippet.contains(QStringLiteral("[brown]")), qPrintable(h.snippet));
      QCOMPARE(h.sessionId, h.messageId == a1 ? a : b);
      QCOMPARE(h.sessionTitle, h.messageId == a1 ? QStringLiteral("Alpha") : QStringLiteral("Beta"));
    }
    r = store.searchMessages(QStringLiteral("lazy DOG"));  // all words, any case
    QCOMPARE(r.hits.size(), size_t(1));
    QCOMPARE(r.hits[0].messageId, a2);
    QCOMPARE(r.hits[0].role, QStringLiteral("assistant"));
    QCOMPARE(store.searchMessages(QStringLiteral("cafe")).hits.size(), size_t(1));  // diacritics folded
    QCOMPARE(store.searchMessages(QStringLiteral("\"quick brown\"")).hits.size(), size_t(1));
    QCOMPARE(store.searchMessages(QStringLiteral("\"brown quick\"")).hits.size(), size_t(0));
    QCOMPARE(store.searchMessages(QStringLiteral("fox dog")).hits.size(), size_t(0));  // two messages
    // Quotes and FTS5 operators in user text are words, never syntax errors.
    for (const char* text : {"\"unbalanced brown", "brown AND (", "NEAR(brown fox", "content:brown", "-brown",
                             "brow*", "it's", "\"\"", "^brown", "OR", "( ) * :", "brown \"quoted\""}) {
      const SearchResult s = store.searchMessages(QString::fromUtf8(text));
      QVERIFY2(s.ok(), qPrintable(QStringLiteral("%1: %2").arg(QString::fromUtf8(text), s.error)));
    }
    QCOMPARE(store.searchMessages(QStringLiteral("it's")).hits.size(), size_t(1));
    QCOMPARE(store.searchMessages(QStringLiteral("brown \"quoted\"")).hits.size(), size_t(1));
    QCOMPARE(SessionStore::ftsQueryFromUserText(QStringLiteral("a \"b c\" d*")),
             QStringLiteral("\"a\" \"b c\" \"d*\""));
    // Raw FTS5 queries: operators work, and a syntax error comes back as text.
    SearchOptions raw;
    raw.rawQuery = true;
    QCOMPARE(store.searchMessages(QStringLiteral("bro*"), raw).hits.size(), size_t(2));
    QCOMPARE(store.searchMessages(QStringLiteral("brown NOT fox"), raw).hits.size(), size_t(1));
    r = store.searchMessages(QStringLiteral("brown AND ("), raw);
    QVERIFY(!r.ok());
    QVERIFY2(r.error.contains(QStringLiteral("syntax error")), qPrintable(r.error));
    // Editing text re-indexes it.
    store.updateMessageText(a2, QStringLiteral("over the sleepy dog"), MessageStatus::Complete);
    QCOMPARE(store.searchMessages(QStringLiteral("lazy")).hits.size(), size_t(0));
    QCOMPARE(store.searchMessages(QStringLiteral("sleepy")).hits.size(), size_t(1));
    QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
  }

  void rename_delete_undo_purge_and_order() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 a = store.createSession(QStringLiteral("A"));
    const qint64 b = store.createSession(QStringLiteral("B"));
    const qint64 c = store.createSession(QStringLiteral("C"));
    QCOMPARE(sessionIds(store.listSessions()), (std::vector<qint64>{c, b, a}));
    const qint64 m = store.appendMessage(a, 0, QStringLiteral("user"), QStringLiteral("searchable words"));
    QCOMPARE(sessionIds(store.listSessions()), (std::vector<qint64>{a, c, b}));  // activity moves A up

    store.renameSession(b, QStringLiteral("B renamed"));
    QCOMPARE(store.session(b)->title, QStringLiteral("B renamed"));
    QVERIFY_THROWS_EXCEPTION(StoreError, store.renameSession(12345, QStringLiteral("x")));

    const UndoToken token = store.deleteSession(a);
    QCOMPARE(sessionIds(store.listSessions()), (std::vector<qint64>{c, b}));
    QVERIFY(!store.session(a));
    QVERIFY(store.searchMessages(QStringLiteral("searchable")).hits.empty());
    QVERIFY_THROWS_EXCEPTION(StoreError,
                             store.appendMessage(a, m, QStringLiteral("user"), QStringLiteral("x")));
    QVERIFY(store.undoDelete(token));
    QVERIFY(!store.undoDelete(token));  // already restored
    QCOMPARE(sessionIds(store.listSessions()), (std::vector<qint64>{a, c, b}));
    QCOMPARE(store.searchMessages(QStringLiteral("searchable")).hits.size(), size_t(1));

    const UndoToken again = store.deleteSession(a);
    store.deleteSession(c);
    QCOMPARE(store.purgeDeleted(QDateTime::fromMSecsSinceEpoch(0)), 0);  // none deleted that long ago
    QCOMPARE(store.purgeDeleted(), 2);
    QVERIFY(!store.undoDelete(again));  // purged
    QVERIFY(!store.message(m));         // its messages went with it
    QCOMPARE(sessionIds(store.listSessions()), (std::vector<qint64>{b}));
    QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));  // the full-text index followed the purge
  }

  void tree_branches() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 s = store.createSession(QStringLiteral("tree"));
    const QString user = QStringLiteral("user"), assistant = QStringLiteral("assistant");
    const qint64 u1 = store.appendMessage(s, 0, user, QStringLiteral("u1"));
    const qint64 a1 = store.appendMessage(s, u1, assistant, QStringLiteral("a1"));
    const qint64 u2 = store.appendMessage(s, a1, user, QStringLiteral("u2"));
    const qint64 a2 = store.appendMessage(s, u2, assistant, QStringLiteral("a2"));
    // Editing u2 makes a sibling branch; regenerating its answer makes a sibling of that answer.
    const qint64 u2b = store.appendMessage(s, a1, user, QStringLiteral("u2 edited"));
    const qint64 a2b = store.appendMessage(s, u2b, assistant, QStringLiteral("a2 for the edit"));
    const qint64 a2c = store.appendMessage(s, u2b, assistant, QStringLiteral("a2 regenerated"));
    // A new first message is a sibling root.
    const qint64 u1b = store.appendMessage(s, 0, user, QStringLiteral("u1 again"));

    QCOMPARE(ids(store.siblings(u2)), (std::vector<qint64>{u2, u2b}));
    QCOMPARE(ids(store.siblings(a2b)), (std::vector<qint64>{a2b, a2c}));
    QCOMPARE(ids(store.siblings(u1)), (std::vector<qint64>{u1, u1b}));
    QCOMPARE(ids(store.roots(s)), (std::vector<qint64>{u1, u1b}));
    QCOMPARE(ids(store.children(a1)), (std::vector<qint64>{u2, u2b}));
    QCOMPARE(ids(store.activePath(s, a2)), (std::vector<qint64>{u1, a1, u2, a2}));
    QCOMPARE(ids(store.activePath(s, a2c)), (std::vector<qint64>{u1, a1, u2b, a2c}));
    QCOMPARE(store.lastLeaf(s), u1b);
    QCOMPARE(ids(store.activePath(s)), (std::vector<qint64>{u1b}));
    QCOMPARE(store.lastLeafUnder(u2), a2);
    QCOMPARE(store.lastLeafUnder(u1), a2c);
    QCOMPARE(store.message(a2b)->parentId, u2b);
    QCOMPARE(store.message(u1)->parentId, SessionStore::kNoParent);
    QCOMPARE(store.messages(s).size(), size_t(8));
    // A parent from another session, or a leaf of another session, is refused.
    const qint64 other = store.createSession(QStringLiteral("other"));
    QVERIFY_THROWS_EXCEPTION(StoreError, store.appendMessage(other, a1, user, QStringLiteral("x")));
    QVERIFY_THROWS_EXCEPTION(StoreError, store.activePath(other, a1));
    QVERIFY_THROWS_EXCEPTION(StoreError,
                             store.appendMessage(s, 0, QStringLiteral("robot"), QStringLiteral("x")));
    QCOMPARE(store.lastLeaf(other), qint64(0));
    QVERIFY(store.activePath(other).empty());
  }

  void streaming_finish_and_interrupted_on_open() {
    const QString path = freshPath();
    qint64 live = 0;
    {
      SessionStore first(path);
      QVERIFY(first.open().ok());
      const qint64 s = first.createSession(QStringLiteral("stream"));
      const qint64 u = first.appendMessage(s, 0, QStringLiteral("user"), QStringLiteral("go"));
      const qint64 done =
          first.appendMessage(s, u, QStringLiteral("assistant"), {}, MessageStatus::Streaming);
      first.updateMessageText(done, QStringLiteral("Hel"));
      first.updateMessageText(done, QStringLiteral("Hello"));
      MessageStats stats;
      stats.content = QStringLiteral("Hello!");
      stats.tokenCount = 3;
      stats.tokensPerSecond = 42.5;
      stats.stopReason = QStringLiteral("eos");
      stats.metadataJson = QStringLiteral("{\"seed\":1}");
      first.finishMessage(done, stats);
      const auto m = first.message(done);
      QCOMPARE(m->content, QStringLiteral("Hello!"));
      QCOMPARE(m->status, MessageStatus::Complete);
      QCOMPARE(m->tokenCount, std::optional<qint64>(3));
      QCOMPARE(m->tokensPerSecond, std::optional<double>(42.5));
      QCOMPARE(m->stopReason, QStringLiteral("eos"));
      QCOMPARE(m->metadataJson, QStringLiteral("{\"seed\":1}"));
      QVERIFY_THROWS_EXCEPTION(StoreError, first.updateMessageText(99999, QStringLiteral("x")));

      live = first.appendMessage(s, done, QStringLiteral("assistant"), {}, MessageStatus::Streaming);
      first.updateMessageText(live, QStringLiteral("partial"));
      // A second store on the same file (another thread or process) must not take a live stream for a crash.
      SessionStore second(path);
      const OpenResult r = second.open();
      QVERIFY(r.ok());
      QCOMPARE(r.interruptedMessages, 0);
      QCOMPARE(second.message(live)->status, MessageStatus::Streaming);
      QCOMPARE(second.message(live)->content, QStringLiteral("partial"));
    }  // both closed with the message still 'streaming', as after a crash
    SessionStore store(path);
    const OpenResult r = store.open();
    QCOMPARE(r.interruptedMessages, 1);
    QCOMPARE(store.message(live)->status, MessageStatus::Interrupted);
    QCOMPARE(store.message(live)->content, QStringLiteral("partial"));
  }

  void routing_chunks_round_trip() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 s = store.createSession(QStringLiteral("routing"));
    const qint64 m = store.appendMessage(s, 0, QStringLiteral("assistant"), {}, MessageStatus::Streaming);
    const int L = 5, K = 3;
    QRandomGenerator rng(7);
    std::vector<RoutingRecordRow> all;
    for (int p = 0; p < 40; ++p) {
      RoutingRecordRow r;
      r.position = p;
      r.prompt = p < 13;
      r.nMoeLayers = L;
      r.topK = K;
      for (int j = 0; j < L * K; ++j) {
        r.experts.push_back(int(rng.bounded(j == 0 ? 65536 : 256)));  // the largest id the format holds
        // softmax weights, DeepSeek's scaled ones (x2.5), tiny ones
        const double w = j % 3 == 0   ? rng.generateDouble()
                         : j % 3 == 1 ? 2.5 * rng.generateDouble()
                                      : 1e-6 * rng.generateDouble();
        r.weights.push_back(float(w));
      }
      all.push_back(r);
    }
    // Appended in uneven chunks as generation would.
    const std::vector<std::pair<int, int>> chunks = {{0, 13}, {13, 1}, {14, 7}, {21, 19}};
    for (auto [first, n] : chunks)
      store.appendRoutingChunk(m, std::span<const RoutingRecordRow>(all).subspan(size_t(first), size_t(n)));
    const auto back = store.routingTrace(m);
    QCOMPARE(back.size(), all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      QCOMPARE(back[i].position, all[i].position);
      QCOMPARE(back[i].prompt, all[i].prompt);
      QCOMPARE(back[i].nMoeLayers, L);
      QCOMPARE(back[i].topK, K);
      QCOMPARE(back[i].experts, all[i].experts);
      for (size_t j = 0; j < all[i].weights.size(); ++j)
        QVERIFY2(closeAsFloat16(back[i].weights[j], all[i].weights[j]),
                 qPrintable(QStringLiteral("%1 vs %2").arg(back[i].weights[j]).arg(all[i].weights[j])));
    }
    // Traces are appended, never rewritten; shapes and ids are checked.
    QVERIFY_THROWS_EXCEPTION(
        StoreError, store.appendRoutingChunk(m, std::span<const RoutingRecordRow>(all).subspan(39, 1)));
    RoutingRecordRow bad = all.back();
    bad.position = 40;
    bad.experts[0] = 70000;
    QVERIFY_THROWS_EXCEPTION(StoreError,
                             store.appendRoutingChunk(m, std::span<const RoutingRecordRow>(&bad, 1)));
    bad.experts[0] = 1;
    bad.topK = 2;
    QVERIFY_THROWS_EXCEPTION(StoreError,
                             store.appendRoutingChunk(m, std::span<const RoutingRecordRow>(&bad, 1)));
    QVERIFY_THROWS_EXCEPTION(
        StoreError, store.appendRoutingChunk(99999, std::span<const RoutingRecordRow>(all).subspan(0, 1)));
    std::vector<RoutingRecordRow> gap = {all[0], all[2]};
    gap[0].position = 50;
    gap[1].position = 52;
    QVERIFY_THROWS_EXCEPTION(StoreError, store.appendRoutingChunk(m, gap));
    QCOMPARE(store.routingTrace(m).size(), all.size());
    QVERIFY(store.routingTrace(12345).empty());
  }

  void clone_copies_messages_and_traces() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 s = store.createSession(QStringLiteral("orig"), QStringLiteral("/m"), QStringLiteral("sys"),
                                         QStringLiteral("{\"top_p\":0.9}"), QStringLiteral("chatml"));
    const qint64 u1 = store.appendMessage(s, 0, QStringLiteral("user"), QStringLiteral("q1"));
    const qint64 a1 = store.appendMessage(s, u1, QStringLiteral("assistant"), QStringLiteral("r1"));
    const qint64 a1b = store.appendMessage(s, u1, QStringLiteral("assistant"), QStringLiteral("r1 again"));
    std::vector<RoutingRecordRow> trace;
    for (int p = 0; p < 6; ++p)
      trace.push_back(store_writer::record(p));
    store.appendRoutingChunk(a1, std::span<const RoutingRecordRow>(trace).subspan(0, 4));
    store.appendRoutingChunk(a1, std::span<const RoutingRecordRow>(trace).subspan(4, 2));

    const qint64 branch = store.cloneSession(s, CloneScope::ActiveBranch, a1);
    QVERIFY(branch != s);
    const auto info = store.session(branch);
    QCOMPARE(info->title, QStringLiteral("orig (copy)"));
    QCOMPARE(info->modelPath, QStringLiteral("/m"));
    QCOMPARE(info->systemPrompt, QStringLiteral("sys"));
    QCOMPARE(info->samplingJson, QStringLiteral("{\"top_p\":0.9}"));
    QCOMPARE(info->templateName, QStringLiteral("chatml"));
    const auto path = store.activePath(branch);
    QCOMPARE(path.size(), size_t(2));
    QCOMPARE(path[0].content, QStringLiteral("q1"));
    QCOMPARE(path[1].content, QStringLiteral("r1"));
    QVERIFY(path[0].id != u1 && path[1].id != a1);
    QCOMPARE(path[1].parentId, path[0].id);
    QCOMPARE(store.messages(branch).size(), size_t(2));
    const auto copied = store.routingTrace(path[1].id);
    const auto original = store.routingTrace(a1);
    QCOMPARE(copied.size(), size_t(6));
    for (size_t i = 0; i < copied.size(); ++i) {
      QCOMPARE(copied[i].experts, original[i].experts);
      QCOMPARE(copied[i].weights, original[i].weights);
      QCOMPARE(copied[i].position, original[i].position);
    }

    const qint64 whole = store.cloneSession(s, CloneScope::WholeTree);
    const auto tree = store.messages(whole);
    QCOMPARE(tree.size(), size_t(3));
    QCOMPARE(tree[1].parentId, tree[0].id);
    QCOMPARE(tree[2].parentId, tree[0].id);
    QCOMPARE(tree[2].content, QStringLiteral("r1 again"));
    QCOMPARE(store.routingTrace(tree[1].id).size(), size_t(6));
    QVERIFY(store.routingTrace(tree[2].id).empty());
    QCOMPARE(store.messages(s).size(), size_t(3));  // the original is unchanged
    // A message still being written is copied as it stands: interrupted.
    const qint64 live = store.appendMessage(s, a1b, QStringLiteral("user"), QStringLiteral("typing"),
                                            MessageStatus::Streaming);
    const auto snapshot = store.activePath(store.cloneSession(s));
    QCOMPARE(snapshot.back().content, QStringLiteral("typing"));
    QCOMPARE(snapshot.back().status, MessageStatus::Interrupted);
    QCOMPARE(store.message(live)->status, MessageStatus::Streaming);
    // Deleting the copy leaves the original's traces alone.
    store.deleteSession(whole);
    store.purgeDeleted();
    QCOMPARE(store.routingTrace(a1).size(), size_t(6));
  }

  void export_markdown_and_jsonl() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 s = store.createSession(QStringLiteral("Trip plan"), QStringLiteral("/models/qwen3"),
                                         QStringLiteral("You are terse."));
    const qint64 u1 = store.appendMessage(s, 0, QStringLiteral("user"), QStringLiteral("Where to?"));
    const qint64 a1 =
        store.appendMessage(s, u1, QStringLiteral("assistant"), QStringLiteral("Lisbon.\nOr \"Porto\"."));
    const qint64 other =
        store.appendMessage(s, u1, QStringLiteral("assistant"), QStringLiteral("Not on this branch"));
    const qint64 u2 =
        store.appendMessage(s, a1, QStringLiteral("user"), QStringLiteral("Why?\ttab \\ slash é"));
    const qint64 a2 = store.appendMessage(s, u2, QStringLiteral("assistant"), QStringLiteral("Light"),
                                          MessageStatus::Interrupted);

    QCOMPARE(store.exportMarkdown(s, a2), QStringLiteral("# Trip plan\n"
                                                         "\n"
                                                         "Model: /models/qwen3\n"
                                                         "\n"
                                                         "## System\n"
                                                         "\n"
                                                         "You are terse.\n"
                                                         "\n"
                                                         "## User\n"
                                                         "\n"
                                                         "Where to?\n"
                                                         "\n"
                                                         "## Assistant\n"
                                                         "\n"
                                                         "Lisbon.\n"
                                                         "Or \"Porto\".\n"
                                                         "\n"
                                                         "## User\n"
                                                         "\n"
                                                         "Why?\ttab \\ slash é\n"
                                                         "\n"
                                                         "## Assistant (interrupted)\n"
                                                         "\n"
                                                         "Light\n"));
    // (No raw string literals in this file: moc 6.4 lexes them as ordinary strings and loses the class.)
    const QByteArray expectedJsonl =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"user\",\"content\":\"Where to?\"},"
        "{\"role\":\"assistant\",\"content\":\"Lisbon.\\nOr \\\"Porto\\\".\"},"
        "{\"role\":\"user\",\"content\":\"Why?\\ttab \\\\ slash é\"},"
        "{\"role\":\"assistant\",\"content\":\"Light\"}]}"
        "\n";
    QCOMPARE(store.exportJsonl(s, a2), expectedJsonl);
    // Without a leaf: the newest message's branch (a2); the other answer's branch on request.
    QCOMPARE(store.exportJsonl(s), store.exportJsonl(s, a2));
    QCOMPARE(store.exportJsonl(s, other),
             QByteArray("{\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
                        "{\"role\":\"user\",\"content\":\"Where to?\"},"
                        "{\"role\":\"assistant\",\"content\":\"Not on this branch\"}]}"
                        "\n"));
    const qint64 plain = store.createSession(QStringLiteral("No extras"));
    store.appendMessage(plain, 0, QStringLiteral("user"), QStringLiteral("ctl\x01"));
    QCOMPARE(store.exportMarkdown(plain), QStringLiteral("# No extras\n\n## User\n\nctl\x01\n"));
    QCOMPARE(store.exportJsonl(plain),
             QByteArray("{\"messages\":[{\"role\":\"user\",\"content\":\"ctl\\u0001\"}]}"
                        "\n"));
  }

  void import_jsonl_round_trip() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const QByteArray lines =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be "
        "kind.\"},{\"role\":\"user\",\"content\":\"Hello there"
        "\\n"
        "second line\"},{\"role\":\"assistant\",\"content\":\"Hi! "
        "\\\"quoted\\\" \\\\"
        " é 😀\"}]}"
        "\n"
        "\n"  // blank lines are skipped
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Just one question that is rather long, longer than "
        "sixty characters in "
        "all\"},{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"more\"}],"
        "\"extra\":1}"
        "\r\n";
    const QString file = tmp_.filePath(QStringLiteral("in.jsonl"));
    writeFile(file, lines);
    const ImportResult r = store.importJsonl(file);
    QVERIFY2(r.ok(), qPrintable(r.error));
    QCOMPARE(r.sessionIds.size(), size_t(2));
    const auto first = store.session(r.sessionIds[0]);
    QCOMPARE(first->title, QStringLiteral("Hello there"));
    QCOMPARE(first->systemPrompt, QStringLiteral("Be kind."));
    QCOMPARE(store.session(r.sessionIds[1])->title,
             QStringLiteral("Just one question that is rather long, longer than sixty ch") + QChar(0x2026));
    QCOMPARE(store.activePath(r.sessionIds[1]).size(), size_t(3));
    // Export gives back the same lines (bar the ignored key and the blank line), and importing that again
    // too.
    const QByteArray exported = store.exportJsonl(r.sessionIds[0]) + store.exportJsonl(r.sessionIds[1]);
    const QByteArray expected =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be "
        "kind.\"},{\"role\":\"user\",\"content\":\"Hello there"
        "\\n"
        "second line\"},{\"role\":\"assistant\",\"content\":\"Hi! "
        "\\\"quoted\\\" \\\\"
        " é 😀\"}]}"
        "\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Just one question that is rather long, longer than "
        "sixty characters in "
        "all\"},{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"more\"}]}"
        "\n";
    QCOMPARE(exported, expected);
    const QString again = tmp_.filePath(QStringLiteral("again.jsonl"));
    writeFile(again, exported);
    const ImportResult r2 = store.importJsonl(again);
    QVERIFY(r2.ok());
    QCOMPARE(store.exportJsonl(r2.sessionIds[0]) + store.exportJsonl(r2.sessionIds[1]), exported);
  }

  void import_jsonl_bad_line_imports_nothing() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    store.createSession(QStringLiteral("existing"));
    const QByteArray good = "{\"messages\":[{\"role\":\"user\",\"content\":\"fine\"}]}";
    const std::vector<std::pair<QByteArray, QString>> bad = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"cut", QStringLiteral("not valid JSON")},
        {"{\"msgs\":[]}", QStringLiteral("\"messages\" array")},
        {"{\"messages\":[]}", QStringLiteral("\"messages\" is empty")},
        {"{\"messages\":[{\"role\":\"user\"}]}",
         QStringLiteral("message 1 needs a \"role\" and a \"content\"")},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"wizard\",\"content\":\"b\"}]}",
         QStringLiteral("message 2: unknown message role \"wizard\"")},
        {"[1,2]", QStringLiteral("\"messages\" array")},
    };
    for (const auto& [line, expected] : bad) {
      const QString file = tmp_.filePath(QStringLiteral("bad.jsonl"));
      writeFile(file, good + "\n" + good + "\n\n" + line + "\n" + good + "\n");
      const ImportResult r = store.importJsonl(file);
      QVERIFY(!r.ok());
      QCOMPARE(r.errorLine, 4);
      QVERIFY(r.sessionIds.empty());
      QVERIFY2(r.error.startsWith(QStringLiteral("bad.jsonl:4: ")), qPrintable(r.error));
      QVERIFY2(r.error.contains(expected), qPrintable(r.error));
      QCOMPARE(store.listSessions().size(), size_t(1));  // nothing half-imported
    }
    const ImportResult missing = store.importJsonl(tmp_.filePath(QStringLiteral("nope.jsonl")));
    QVERIFY(!missing.ok());
    QCOMPARE(missing.errorLine, 0);
  }

  void transaction_all_or_nothing() {
    SessionStore store(freshPath());
    QVERIFY(store.open().ok());
    const qint64 s = store.createSession(QStringLiteral("tx"));
    QVERIFY_THROWS_EXCEPTION(StoreError, store.runInTransaction([&] {
      store.appendMessage(s, 0, QStringLiteral("user"), QStringLiteral("kept?"));
      throw StoreError(QStringLiteral("something failed"));
    }));
    QVERIFY(store.messages(s).empty());
    store.runInTransaction(
        [&] { store.appendMessage(s, 0, QStringLiteral("user"), QStringLiteral("kept")); });
    QCOMPARE(store.messages(s).size(), size_t(1));
  }

  // A writer process streams a message (text and routing) and is killed with SIGKILL at different moments.
  void crash_consistency() {
    const QString path = freshPath();
    QDir().mkpath(QFileInfo(path).path());
    struct Round {
      int killAfterMs, flushMs, tokenMs;
    };
    // The studio's 250 ms interval, a write per token, and a write per token as fast as it goes (so that the
    // kill often lands inside a transaction or a checkpoint).
    const Round rounds[] = {{0, 0, 20},     {45, 250, 20}, {180, 0, 20}, {333, 250, 20}, {520, 0, 20},
                            {800, 250, 20}, {1150, 0, 20}, {150, 0, 0},  {400, 0, 0},    {777, 0, 0}};
    for (int round = 0; round < int(std::size(rounds)); ++round) {
      const auto [killAfterMs, flushMs, tokenMs] = rounds[round];
      QProcess writer;
      writer.start(QStringLiteral(MOE_STORE_WRITER_PATH),
                   {path, QString::number(flushMs), QString::number(tokenMs)});
      QVERIFY2(writer.waitForStarted(), qPrintable(writer.errorString()));
      QByteArray out;
      QElapsedTimer t;
      t.start();
      while (!out.contains("ready\n") && t.elapsed() < 30000) {
        writer.waitForReadyRead(50);
        out += writer.readAllStandardOutput();
      }
      QVERIFY2(out.contains("ready\n"), writer.readAllStandardError().constData());
      t.restart();
      while (t.elapsed() < killAfterMs) {
        writer.waitForReadyRead(5);
        out += writer.readAllStandardOutput();
      }
      writer.kill();  // SIGKILL
      QVERIFY(writer.waitForFinished(10000));
      QCOMPARE(writer.exitStatus(), QProcess::CrashExit);
      out += writer.readAllStandardOutput();  // everything it had reported before it died

      qint64 message = 0;
      int reported = 0, flushed = 0;
      std::map<int, qint64> reportedAtMs;
      for (const QByteArray& line : out.split('\n')) {
        const QList<QByteArray> w = line.split(' ');
        if (w[0] == "message") message = w.value(1).toLongLong();
        if (w[0] == "token" && w.size() == 3) {
          reported = w[1].toInt();
          reportedAtMs[reported] = w[2].toLongLong();
        }
        if (w[0] == "flushed" && w.size() == 2) flushed = w[1].toInt();
      }
      QVERIFY(message > 0);

      SessionStore store(path);
      const OpenResult r = store.open();
      QVERIFY2(r.ok(), qPrintable(r.message));
      QCOMPARE(r.interruptedMessages, 1);
      QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
      const auto m = store.message(message);
      QVERIFY(m);
      QCOMPARE(m->status, MessageStatus::Interrupted);
      // The text is the writer's text after n whole tokens: a prefix of what it meant to write, not behind
      // anything it had confirmed, and at most the pending tokens (<= 16, ~250 ms) behind what it reported.
      const int n = int(m->content.count(QLatin1Char(' ')));
      QCOMPARE(m->content, store_writer::textOf(n));
      const QString msg = QStringLiteral(
                              "round %1 (kill after %2 ms, write interval %3 ms, a token every %7 ms): "
                              "%4 tokens stored, %5 reported, %6 confirmed")
                              .arg(round)
                              .arg(killAfterMs)
                              .arg(flushMs)
                              .arg(n)
                              .arg(reported)
                              .arg(flushed)
                              .arg(tokenMs);
      QVERIFY2(n >= flushed && n <= reported, qPrintable(msg));
      QVERIFY2(reported - n <= (flushMs == 0 ? 1 : store_writer::kMaxPending), qPrintable(msg));
      if (flushMs > 0 && reported > n && reported > 1) {
        // Time between the newest reported token and the newest stored one: within the write interval, give
        // or take the one token that was due to trigger the next write.
        const qint64 lag = reportedAtMs[reported] - (n > 0 ? reportedAtMs[n] : reportedAtMs[1]);
        const qint64 lastGap = reportedAtMs[reported] - reportedAtMs[reported - 1];
        QVERIFY2(lag <= flushMs + lastGap + 25, qPrintable(msg + QStringLiteral(", lag %1 ms").arg(lag)));
      }
      // The routing trace covers the prompt and exactly the stored tokens (written in the same transaction).
      const auto trace = store.routingTrace(message);
      QCOMPARE(int(trace.size()), store_writer::kPromptPositions + n);
      for (size_t i = 0; i < trace.size(); ++i) {
        const RoutingRecordRow expected = store_writer::record(qint64(i));
        QCOMPARE(trace[i].position, qint64(i));
        QCOMPARE(trace[i].prompt, expected.prompt);
        QCOMPARE(trace[i].experts, expected.experts);
        for (size_t j = 0; j < expected.weights.size(); ++j)
          QVERIFY(closeAsFloat16(trace[i].weights[j], expected.weights[j]));
      }
      qInfo("%s", qPrintable(msg));
    }
  }
};

QTEST_GUILESS_MAIN(StoreTest)
#include "test_store.moc"
