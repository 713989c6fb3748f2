// Schema migrations. Version 1 is the first schema; a later issue adds version 2 as one more function at the
// end of kMigrations (never edit a migration that has shipped).
//
// Conventions: times are INTEGER milliseconds since the Unix epoch (UTC); JSON columns are TEXT checked with
// json_valid(); ids are INTEGER PRIMARY KEY (a new row gets max(id) + 1, so a child message always has a
// larger id than its parent).
#include "store/schema.h"

#include <QSqlError>
#include <QSqlQuery>

#include "store/store_types.h"

namespace moe::store::schema {

namespace {

void execAll(QSqlDatabase& db, std::initializer_list<const char*> statements) {
  for (const char* sql : statements) {
    QSqlQuery q(db);
    if (!q.exec(QString::fromUtf8(sql)))
      throw StoreError(QStringLiteral("schema migration failed: %1").arg(q.lastError().text()));
  }
}

void migrateTo1(QSqlDatabase& db) {
  execAll(db, {
                  R"(CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    architecture TEXT NOT NULL DEFAULT '',
    last_opened INTEGER NOT NULL))",

                  R"(CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    model_path TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL DEFAULT '',
    sampling TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(sampling)),
    template_name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER))",  // NULL: live; otherwise soft-deleted at that time (undo, then purge)
                  "CREATE INDEX sessions_by_activity ON sessions(updated_at)",

                  // A tree per session: editing a message adds a sibling (same parent), and regenerating an
                  // answer adds a sibling assistant message.
                  R"(CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'complete'
        CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
    created_at INTEGER NOT NULL,
    token_count INTEGER,
    tokens_per_second REAL,
    stop_reason TEXT,
    metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata))))",
                  "CREATE INDEX messages_by_session ON messages(session_id, id)",
                  "CREATE INDEX messages_by_parent ON messages(parent_id, id)",
                  "CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming'",

                  // Appended in chunks while a message is generated; data: see routing_codec.h.
                  R"(CREATE TABLE routing_traces (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    first_position INTEGER NOT NULL,
    n_positions INTEGER NOT NULL CHECK (n_positions > 0),
    n_moe_layers INTEGER NOT NULL CHECK (n_moe_layers > 0),
    top_k INTEGER NOT NULL CHECK (top_k > 0),
    data BLOB NOT NULL,
    PRIMARY KEY (message_id, chunk_index)) WITHOUT ROWID)",

                  "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",

                  // Full-text index over message text, an external-content table kept in step by triggers.
                  R"(CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'))",
                  R"(CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
  END)",
                  R"(CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
  END)",
                  R"(CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
  END)",
              });
}

constexpr Migration kMigrations[] = {
    migrateTo1,
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

int currentVersion() {
  return int(std::size(kMigrations));
}

}  // namespace moe::store::schema
