// Shared by the SessionStore's .cpp files only (not part of the API).
#pragma once

#include <QDateTime>
#include <QSqlQuery>
#include <QVariant>

#include "store/session_store.h"

namespace moe::store {

// BEGIN IMMEDIATE (so a read-then-write transaction never fails to upgrade its lock) ... COMMIT; rolled back
// when destroyed uncommitted. Nested uses join the outermost one.
class SessionStore::Transaction {
 public:
  explicit Transaction(SessionStore& store) : store_(store), outermost_(store.txDepth_ == 0) {
    if (outermost_) store_.exec("BEGIN IMMEDIATE");
    ++store_.txDepth_;
  }
  ~Transaction() {
    --store_.txDepth_;
    if (outermost_ && !committed_ && store_.db_.isOpen())
      QSqlQuery(store_.db_).exec(QStringLiteral("ROLLBACK"));
  }
  void commit() {
    if (outermost_) store_.exec("COMMIT");
    committed_ = true;
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  SessionStore& store_;
  bool outermost_;
  bool committed_ = false;
};

namespace detail {

inline qint64 nowMs() {
  return QDateTime::currentMSecsSinceEpoch();
}

inline QDateTime fromMs(const QVariant& v) {
  return v.isNull() ? QDateTime() : QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

// A NOT NULL text column: a null QString would bind as SQL NULL.
inline QVariant text(const QString& s) {
  return QVariant(s.isNull() ? QString(QLatin1String("")) : s);
}

// A nullable text column: empty binds as NULL.
inline QVariant textOrNull(const QString& s) {
  return s.isEmpty() ? QVariant() : QVariant(s);
}

// The column list readMessage() expects, for a messages table aliased m.
constexpr const char* kMessageColumns =
    "m.id, m.session_id, m.parent_id, m.role, m.content, m.status, m.created_at, m.token_count, "
    "m.tokens_per_second, m.stop_reason, m.metadata";

MessageRow readMessage(const QSqlQuery& q);
void checkRole(const QString& role);

}  // namespace detail

}  // namespace moe::store
