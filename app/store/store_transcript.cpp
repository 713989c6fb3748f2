// SessionStore: a conversation as Markdown (to read or share) and as JSONL (the fine-tuning format), and
// JSONL back into sessions.
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

#include "store/session_store.h"
#include "store/store_internal.h"

namespace moe::store {

namespace {

QString headingFor(const MessageRow& m) {
  QString role = m.role;
  if (!role.isEmpty()) role[0] = role[0].toUpper();
  if (m.status != MessageStatus::Complete) role += QStringLiteral(" (%1)").arg(statusName(m.status));
  return role;
}

// A JSON string literal. The lines are written by hand rather than by QJsonDocument, which sorts object keys
// ("content" before "role"); text is kept as UTF-8, only quotes, backslashes and control characters escaped.
QByteArray jsonString(const QString& s) {
  QByteArray out;
  out.reserve(s.size() + 2);
  out += '"';
  qsizetype runStart = 0;  // a run of characters copied as they are
  for (qsizetype i = 0; i <= s.size(); ++i) {
    const char16_t u = i < s.size() ? s[i].unicode() : 0;
    if (i < s.size() && u >= 0x20 && u != '"' && u != '\\') continue;
    out += QStringView(s).mid(runStart, i - runStart).toUtf8();
    runStart = i + 1;
    if (i == s.size()) break;
    switch (u) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += "0123456789abcdef"[u >> 4];
        out += "0123456789abcdef"[u & 15];
    }
  }
  out += '"';
  return out;
}

}  // namespace

QString SessionStore::exportMarkdown(qint64 sessionId, qint64 leafId) {
  const auto info = session(sessionId);
  if (!info) throw StoreError(QStringLiteral("there is no session %1").arg(sessionId));
  QString out = QStringLiteral("# %1\n").arg(info->title);
  if (!info->modelPath.isEmpty()) out += QStringLiteral("\nModel: %1\n").arg(info->modelPath);
  if (!info->systemPrompt.isEmpty()) out += QStringLiteral("\n## System\n\n%1\n").arg(info->systemPrompt);
  for (const MessageRow& m : activePath(sessionId, leafId))
    out += QStringLiteral("\n## %1\n\n%2\n").arg(headingFor(m), m.content);
  return out;
}

QByteArray SessionStore::exportJsonl(qint64 sessionId, qint64 leafId) {
  const auto info = session(sessionId);
  if (!info) throw StoreError(QStringLiteral("there is no session %1").arg(sessionId));
  QByteArray out = "{\"messages\":[";
  bool first = true;
  const auto add = [&](const QString& role, const QString& content) {
    if (!first) out += ',';
    first = false;
    out += "{\"role\":" + jsonString(role) + ",\"content\":" + jsonString(content) + "}";
  };
  if (!info->systemPrompt.isEmpty()) add(QStringLiteral("system"), info->systemPrompt);
  for (const MessageRow& m : activePath(sessionId, leafId))
    add(m.role, m.content);
  out += "]}\n";
  return out;
}

ImportResult SessionStore::importJsonl(const QString& filePath) {
  ImportResult result;
  const QString shown = QFileInfo(filePath).fileName();
  QFile file(filePath);
  if (!file.open(QIODevice::ReadOnly)) {
    result.error = QStringLiteral("%1: %2").arg(shown, file.errorString());
    return result;
  }
  const QByteArray all = file.readAll();

  struct Conversation {
    QString systemPrompt;
    std::vector<std::pair<QString, QString>> messages;  // role, content
  };
  std::vector<Conversation> conversations;
  // Parse everything before writing anything, then write it all in one transaction.
  const QList<QByteArray> lines = all.split('\n');
  for (qsizetype i = 0; i < lines.size(); ++i) {
    QByteArray line = lines[i];
    if (i == 0 && line.startsWith("\xEF\xBB\xBF")) line.remove(0, 3);  // a UTF-8 byte-order mark
    if (line.trimmed().isEmpty()) continue;
    const auto bad = [&](const QString& why) {
      result.errorLine = int(i + 1);
      result.error = QStringLiteral("%1:%2: %3").arg(shown).arg(i + 1).arg(why);
      return result;
    };
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(line, &err);
    if (err.error != QJsonParseError::NoError)
      return bad(
          QStringLiteral("not valid JSON (%1 at column %2)").arg(err.errorString()).arg(err.offset + 1));
    if (!doc.isObject() || !doc.object().value(QLatin1String("messages")).isArray())
      return bad(QStringLiteral("expected an object with a \"messages\" array"));
    const QJsonArray array = doc.object().value(QLatin1String("messages")).toArray();
    if (array.isEmpty()) return bad(QStringLiteral("\"messages\" is empty"));
    Conversation c;
    for (qsizetype j = 0; j < array.size(); ++j) {
      const QJsonObject m = array[j].toObject();
      const QJsonValue role = m.value(QLatin1String("role")), content = m.value(QLatin1String("content"));
      if (!array[j].isObject() || !role.isString() || !content.isString())
        return bad(QStringLiteral("message %1 needs a \"role\" and a \"content\" string").arg(j + 1));
      try {
        detail::checkRole(role.toString());
      } catch (const StoreError& e) {
        return bad(QStringLiteral("message %1: %2").arg(j + 1).arg(e.message()));
      }
      if (role.toString() == QLatin1String("system") && c.messages.empty())
        c.systemPrompt +=
            (c.systemPrompt.isEmpty() ? QString() : QStringLiteral("\n\n")) + content.toString();
      else
        c.messages.emplace_back(role.toString(), content.toString());
    }
    conversations.push_back(std::move(c));
  }

  Transaction tx(*this);
  for (const Conversation& c : conversations) {
    QString title = QStringLiteral("Imported conversation");
    for (const auto& [role, content] : c.messages) {
      if (role != QLatin1String("user")) continue;
      const QString firstLine = content.trimmed().section(QLatin1Char('\n'), 0, 0).simplified();
      if (!firstLine.isEmpty())
        title = firstLine.size() > 60 ? firstLine.left(59) + QChar(0x2026) : firstLine;
      break;
    }
    const qint64 id = createSession(title, {}, c.systemPrompt);
    qint64 parent = kNoParent;
    for (const auto& [role, content] : c.messages)
      parent = appendMessage(id, parent, role, content);
    result.sessionIds.push_back(id);
  }
  tx.commit();
  return result;
}

}  // namespace moe::store
