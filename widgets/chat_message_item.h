// One message of a ChatView: role label, folded reasoning, the Markdown body (or an editor), and a footer
// with stats, branch arrows and actions. Keeps the raw text and, for generated text, each token's character
// range, probability and alternatives. Renders only when told to (ChatView coalesces streamed tokens into one
// render per frame); says what the user did through signals and decides nothing itself.
#pragma once

#include <QVector>
#include <QWidget>

#include "widgets/chat_reasoning.h"
#include "widgets/chat_theme.h"
#include "widgets/chat_types.h"

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QToolButton;
class QHBoxLayout;

namespace moe::widgets {

class ChatBubble;
class ChatTextView;

class ChatMessageItem : public QWidget {
  Q_OBJECT

 public:
  ChatMessageItem(ChatRole role, MessageFlags flags, const ChatTheme& theme, QWidget* parent = nullptr);

  ChatRole role() const { return role_; }
  bool isNotice() const { return flags_.testFlag(MessageFlag::Notice); }
  const QString& text() const { return text_; }
  // The text without its reasoning block (what Copy copies from an assistant message).
  QString answerText() const;

  void setText(const QString& text);                 // forgets token facts; renders now
  void setTokens(const QVector<ChatToken>& tokens);  // text = the pieces joined; renders now
  void appendToken(const ChatToken& token);          // marks the message dirty; renders on render()
  bool isDirty() const { return dirty_; }
  void render();
  int renderCount() const { return renderCount_; }

  void setTheme(const ChatTheme& theme);
  void setStreaming(bool streaming);
  void setStats(const QString& stats);
  void setInterrupted(bool interrupted);
  void setBranchInfo(int current, int count);
  void setRegenerateAvailable(bool available);

  bool hasReasoning() const { return split_.present; }
  bool isReasoningExpanded() const { return reasoningExpanded_; }
  void setReasoningExpanded(bool expanded);
  bool isEditing() const { return editing_; }
  void startEditing();

  int tokenCount() const { return int(tokens_.size()); }
  // The token under pos (this widget's coordinates), or -1.
  int tokenAt(QPoint pos) const;
  // The first line of the token's shown characters in this widget's coordinates; empty when not shown.
  QRect tokenRect(int token) const;
  QString tokenToolTip(int token) const;

 signals:
  void copyClicked();
  void editSaved(const QString& text);
  void regenerateClicked();
  void branchClicked(int delta);
  void tokenToolTipRequested(int token, QPoint globalPos);

 protected:
  void resizeEvent(QResizeEvent* event) override;
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void buildNotice();
  void buildMessage();
  void applyTheme();
  void updateReasoningToggle();
  void renderReasoning();
  void finishEditing(bool save);
  int tokenAtSource(int offset) const;
  void updateBubbleWidth();

  ChatRole role_;
  MessageFlags flags_;
  ChatTheme theme_;
  QString text_;
  QVector<ChatToken> tokens_;
  QVector<int> tokenStarts_;  // character offset of each token in text_
  ReasoningSplit split_;
  int reasoningWords_ = 0;
  bool dirty_ = false;
  bool reasoningDirty_ = true;
  bool reasoningExpanded_ = false;
  bool streaming_ = false;
  bool editing_ = false;
  int renderCount_ = 0;

  QLabel* noticeLabel_ = nullptr;
  QLabel* roleLabel_ = nullptr;
  QLabel* badge_ = nullptr;
  ChatBubble* bubble_ = nullptr;
  QHBoxLayout* bubbleRow_ = nullptr;
  QToolButton* reasoningToggle_ = nullptr;
  ChatBubble* reasoningBox_ = nullptr;
  ChatTextView* reasoningView_ = nullptr;
  ChatTextView* body_ = nullptr;
  QWidget* editorBox_ = nullptr;
  QPlainTextEdit* editor_ = nullptr;
  QLabel* stats_ = nullptr;
  QToolButton* branchPrev_ = nullptr;
  QLabel* branchLabel_ = nullptr;
  QToolButton* branchNext_ = nullptr;
  QToolButton* copyButton_ = nullptr;
  QToolButton* editButton_ = nullptr;
  QToolButton* regenerateButton_ = nullptr;
};

}  // namespace moe::widgets
