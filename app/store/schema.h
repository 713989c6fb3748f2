// The store's schema: one migration function per version, applied in order at open.
#pragma once

#include <QSqlDatabase>
#include <span>

namespace moe::store::schema {

// migrations()[i] takes a database from user_version i to i + 1. It runs inside a transaction that the
// caller opens and commits together with the new user_version; it throws StoreError on failure.
using Migration = void (*)(QSqlDatabase& db);
std::span<const Migration> migrations();

// The version this build writes: the number of migrations.
int currentVersion();

}  // namespace moe::store::schema
