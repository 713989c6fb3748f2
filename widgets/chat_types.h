// Plain data the chat widgets take: roles, per-message flags and the per-token facts (logprob, top
// alternatives) an assistant message keeps for its hover tooltips. No engine types: the studio converts its
// TokenEvents.
#pragma once

#include <QFlags>
#include <QString>
#include <QVector>

namespace moe::widgets {

enum class ChatRole { System, User, Assistant };

enum class MessageFlag {
  None = 0,
  Interrupted = 1 << 0,  // the answer was cut short (Stop, crash): shown with an "interrupted" badge
  Notice = 1 << 1,       // a small grey note line (context-window policy and the like), not a message bubble
};
Q_DECLARE_FLAGS(MessageFlags, MessageFlag)
Q_DECLARE_OPERATORS_FOR_FLAGS(MessageFlags)

// One of the most likely tokens at a position, as the model's own log-probability (natural log).
struct TokenAlternative {
  QString text;
  double logprob = 0.0;
};

// One generated token: its text piece, its log-probability and the top alternatives at its position.
struct ChatToken {
  QString piece;
  double logprob = 0.0;
  QVector<TokenAlternative> alternatives;
};

}  // namespace moe::widgets
