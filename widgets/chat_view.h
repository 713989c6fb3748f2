// The conversation: a scrolling column of messages (user / assistant / system, and grey notice lines), each
// rendered from Markdown, with folded reasoning, per-message actions, branch arrows and per-token hover
// tooltips.
//
// Streaming: beginAssistant() opens a message, appendToken() only appends text and token facts, and one timer
// renders the streaming message at most once per frame (~16 ms); earlier messages are never re-rendered by
// it. The view holds no conversation logic: what the user asked for leaves through signals, and the owner
// answers by calling the setters (after an edit, for instance, it loads the new branch).
#pragma once

#include <QPointer>
#include <QScrollArea>
#include <QTimer>
#include <QVector>

#include "widgets/chat_theme.h"
#include "widgets/chat_types.h"

class QVBoxLayout;

namespace moe::widgets {

class ChatMessageItem;

class ChatView : public QScrollArea {
  Q_OBJECT

 public:
  explicit ChatView(QWidget* parent = nullptr);

  void clear();
  // Appends a message and returns its index (notices count as messages).
  int addMessage(ChatRole role, const QString& text, MessageFlags flags = MessageFlag::None);
  int addNotice(const QString& text) { return addMessage(ChatRole::System, text, MessageFlag::Notice); }

  // Opens an empty assistant message for streaming and returns its index.
  int beginAssistant();
  // Appends a generated token to the streaming message (NaN logprob: no probability known).
  void appendToken(const QString& piece, double logprob = qQNaN(),
                   const QVector<TokenAlternative>& alternatives = {});
  // Ends streaming: renders what is pending and shows the stats line ("42 tokens · 31.2 tok/s").
  void finishAssistant(const QString& stats = {});

  void setMessageText(int index, const QString& text);
  // Replaces a message's text by the pieces joined, keeping their probabilities (a stored answer replayed).
  void setMessageTokens(int index, const QVector<ChatToken>& tokens);
  void setStats(int index, const QString& stats);
  // "◀ current/count ▶" under the message when count > 1 (current is 1-based).
  void setBranchInfo(int index, int current, int count);
  void setInterrupted(int index, bool interrupted = true);
  void setReasoningExpanded(int index, bool expanded);

  int messageCount() const { return int(items_.size()); }
  QString messageText(int index) const;
  bool isStreaming() const { return streaming_ >= 0; }
  int streamingIndex() const { return streaming_; }

  // Renders the streaming message now if tokens are pending (the frame timer does this by itself).
  void flush();
  // Markdown renders done, in all or in one message: tests hold streaming to one render per frame with these.
  int renderCount() const;
  int renderCount(int index) const;
  // The rectangle of a token of a message in this widget's coordinates (empty when not shown).
  QRect tokenRect(int index, int token) const;
  // Handles the mouse resting at pos (this widget's coordinates) as a hover does: emits tokenHovered, shows
  // the tool tip and returns its text; empty when no token is there.
  QString hoverAt(QPoint pos);
  ChatMessageItem* messageItem(int index) const;

 signals:
  void copyRequested(int index);
  void editSubmitted(int index, const QString& text);
  void regenerateRequested(int index);
  void branchRequested(int index, int delta);
  void tokenHovered(int index, int token);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  int indexOf(const ChatMessageItem* item) const;
  int appendItem(ChatMessageItem* item);
  void updateRegenerate();
  void showTokenToolTip(int index, int token, QPoint globalPos);

  ChatTheme theme_;
  QWidget* column_ = nullptr;
  QVBoxLayout* list_ = nullptr;
  QVector<ChatMessageItem*> items_;
  int streaming_ = -1;
  int removedRenders_ = 0;
  QTimer frameTimer_;
  bool stickToBottom_ = true;
};

}  // namespace moe::widgets
