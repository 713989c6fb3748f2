#include "widgets/chat_message_item.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "widgets/chat_bubble.h"
#include "widgets/chat_text_view.h"
#include "widgets/chat_token_tooltip.h"
#include "widgets/markdown_renderer.h"

namespace moe::widgets {
namespace {

bool isBlank(QStringView s) {
  return std::all_of(s.begin(), s.end(), [](QChar c) { return c.isSpace(); });
}

QFont scaled(QFont f, qreal factor) {
  if (f.pointSizeF() > 0) {
    f.setPointSizeF(f.pointSizeF() * factor);
  } else {
    f.setPixelSize(std::max(1, int(f.pixelSize() * factor)));
  }
  return f;
}

void setForeground(QWidget* w, const QColor& c) {
  QPalette p = w->palette();
  p.setColor(QPalette::WindowText, c);
  p.setColor(QPalette::ButtonText, c);
  p.setColor(QPalette::Text, c);
  w->setPalette(p);
}

QToolButton* actionButton(const QString& text, const QString& name, const QString& tip, QWidget* parent) {
  auto* b = new QToolButton(parent);
  b->setText(text);
  b->setObjectName(name);
  b->setToolTip(tip);
  b->setAutoRaise(true);
  b->setCursor(Qt::PointingHandCursor);
  b->setFocusPolicy(Qt::TabFocus);
  return b;
}

}  // namespace

ChatMessageItem::ChatMessageItem(ChatRole role, MessageFlags flags, const ChatTheme& theme, QWidget* parent)
    : QWidget(parent), role_(role), flags_(flags), theme_(theme) {
  if (isNotice()) {
    buildNotice();
  } else {
    buildMessage();
  }
  applyTheme();
}

void ChatMessageItem::buildNotice() {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(24, 0, 24, 0);
  noticeLabel_ = new QLabel(this);
  noticeLabel_->setObjectName(QStringLiteral("noticeLabel"));
  noticeLabel_->setAlignment(Qt::AlignCenter);
  noticeLabel_->setWordWrap(true);
  noticeLabel_->setTextFormat(Qt::PlainText);
  noticeLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(noticeLabel_);
}

void ChatMessageItem::buildMessage() {
  const bool user = role_ == ChatRole::User;
  const bool assistant = role_ == ChatRole::Assistant;
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(4);

  // Header: who speaks, and the interrupted badge.
  auto* header = new QHBoxLayout;
  header->setSpacing(8);
  roleLabel_ = new QLabel(user ? tr("You") : assistant ? tr("Assistant") : tr("System"), this);
  roleLabel_->setObjectName(QStringLiteral("roleLabel"));
  badge_ = new QLabel(tr("interrupted"), this);
  badge_->setObjectName(QStringLiteral("interruptedBadge"));
  badge_->setToolTip(tr("Generation stopped before the model finished this answer"));
  badge_->setVisible(flags_.testFlag(MessageFlag::Interrupted));
  if (user) header->addStretch(1);
  header->addWidget(roleLabel_);
  header->addWidget(badge_);
  if (!user) header->addStretch(1);
  v->addLayout(header);

  // The bubble: reasoning, body, editor.
  bubbleRow_ = new QHBoxLayout;
  bubbleRow_->setContentsMargins(0, 0, 0, 0);
  bubble_ = new ChatBubble(this);
  bubble_->setObjectName(QStringLiteral("bubble"));
  auto* inner = new QVBoxLayout(bubble_);
  inner->setSpacing(6);
  if (assistant) {
    inner->setContentsMargins(0, 0, 0, 0);
  } else {
    inner->setContentsMargins(14, 9, 14, 9);
  }
  if (user) {
    bubbleRow_->addStretch(1);
    bubble_->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
  }
  bubbleRow_->addWidget(bubble_);
  v->addLayout(bubbleRow_);

  if (assistant) {
    reasoningToggle_ = new QToolButton(bubble_);
    reasoningToggle_->setObjectName(QStringLiteral("reasoningToggle"));
    reasoningToggle_->setAutoRaise(true);
    reasoningToggle_->setCursor(Qt::PointingHandCursor);
    reasoningToggle_->setToolTip(tr("Show or hide the model's reasoning"));
    reasoningToggle_->hide();
    connect(reasoningToggle_, &QToolButton::clicked, this,
            [this] { setReasoningExpanded(!reasoningExpanded_); });
    inner->addWidget(reasoningToggle_, 0, Qt::AlignLeft);

    reasoningBox_ = new ChatBubble(bubble_);
    auto* rl = new QVBoxLayout(reasoningBox_);
    rl->setContentsMargins(12, 8, 12, 8);
    reasoningView_ = new ChatTextView(reasoningBox_);
    reasoningView_->setObjectName(QStringLiteral("reasoningView"));
    rl->addWidget(reasoningView_);
    reasoningBox_->hide();
    inner->addWidget(reasoningBox_);
    connect(reasoningView_, &ChatTextView::toolTipRequested, this, [this](int offset, QPoint global) {
      if (const int t = tokenAtSource(offset); t >= 0) emit tokenToolTipRequested(t, global);
    });
  }

  body_ = new ChatTextView(bubble_);
  body_->setObjectName(QStringLiteral("bodyView"));
  body_->setHugContents(user);
  body_->hide();
  inner->addWidget(body_);
  connect(body_, &ChatTextView::toolTipRequested, this, [this](int offset, QPoint global) {
    if (const int t = tokenAtSource(offset); t >= 0) emit tokenToolTipRequested(t, global);
  });

  if (user) {
    editorBox_ = new QWidget(bubble_);
    auto* el = new QVBoxLayout(editorBox_);
    el->setContentsMargins(0, 0, 0, 0);
    editor_ = new QPlainTextEdit(editorBox_);
    editor_->setObjectName(QStringLiteral("editor"));
    editor_->setTabChangesFocus(true);
    editor_->installEventFilter(this);
    el->addWidget(editor_);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    auto* cancel = new QPushButton(tr("Cancel"), editorBox_);
    cancel->setObjectName(QStringLiteral("cancelButton"));
    auto* save = new QPushButton(tr("Save && Submit"), editorBox_);
    save->setObjectName(QStringLiteral("saveButton"));
    save->setDefault(true);
    save->setToolTip(tr("Send the edited message as a new branch (Ctrl+Enter)"));
    buttons->addWidget(cancel);
    buttons->addWidget(save);
    el->addLayout(buttons);
    editorBox_->hide();
    inner->addWidget(editorBox_);
    connect(cancel, &QPushButton::clicked, this, [this] { finishEditing(false); });
    connect(save, &QPushButton::clicked, this, [this] { finishEditing(true); });
    connect(editor_, &QPlainTextEdit::textChanged, this, [this] {
      const int lines = std::clamp(editor_->document()->lineCount(), 3, 14);
      editor_->setFixedHeight(lines * editor_->fontMetrics().lineSpacing() + 14);
    });
  }

  // Footer: branch arrows, actions, stats.
  auto* footer = new QHBoxLayout;
  footer->setSpacing(2);
  branchPrev_ =
      actionButton(QStringLiteral("\u25C0"), QStringLiteral("branchPrev"), tr("Previous version"), this);
  branchLabel_ = new QLabel(this);
  branchLabel_->setObjectName(QStringLiteral("branchLabel"));
  branchNext_ =
      actionButton(QStringLiteral("\u25B6"), QStringLiteral("branchNext"), tr("Next version"), this);
  copyButton_ =
      actionButton(tr("Copy"), QStringLiteral("copyButton"), tr("Copy the message as Markdown"), this);
  stats_ = new QLabel(this);
  stats_->setObjectName(QStringLiteral("statsLabel"));
  stats_->hide();
  connect(branchPrev_, &QToolButton::clicked, this, [this] { emit branchClicked(-1); });
  connect(branchNext_, &QToolButton::clicked, this, [this] { emit branchClicked(+1); });
  connect(copyButton_, &QToolButton::clicked, this, &ChatMessageItem::copyClicked);
  for (QWidget* w : {static_cast<QWidget*>(branchPrev_), static_cast<QWidget*>(branchLabel_),
                     static_cast<QWidget*>(branchNext_)})
    w->hide();
  if (user) footer->addStretch(1);
  footer->addWidget(branchPrev_);
  footer->addWidget(branchLabel_);
  footer->addWidget(branchNext_);
  footer->addWidget(copyButton_);
  if (user) {
    editButton_ = actionButton(tr("Edit"), QStringLiteral("editButton"), tr("Edit this message"), this);
    connect(editButton_, &QToolButton::clicked, this, &ChatMessageItem::startEditing);
    footer->addWidget(editButton_);
  }
  if (assistant) {
    regenerateButton_ = actionButton(tr("Regenerate"), QStringLiteral("regenerateButton"),
                                     tr("Generate this answer again"), this);
    regenerateButton_->hide();
    connect(regenerateButton_, &QToolButton::clicked, this, &ChatMessageItem::regenerateClicked);
    footer->addWidget(regenerateButton_);
  }
  if (!user) {
    footer->addStretch(1);
    footer->addWidget(stats_);
  }
  v->addLayout(footer);
}

void ChatMessageItem::setTheme(const ChatTheme& theme) {
  theme_ = theme;
  applyTheme();
}

void ChatMessageItem::applyTheme() {
  const QFont small = scaled(theme_.font, 0.88);
  if (noticeLabel_) {
    QFont f = small;
    f.setItalic(true);
    noticeLabel_->setFont(f);
    setForeground(noticeLabel_, theme_.muted);
    return;
  }
  QFont roleFont = small;
  roleFont.setBold(true);
  roleLabel_->setFont(roleFont);
  setForeground(roleLabel_, theme_.muted);
  badge_->setFont(small);
  badge_->setStyleSheet(
      QStringLiteral("QLabel { color: %1; background: %2; border-radius: 4px; padding: 0px 6px; }")
          .arg(theme_.warningText.name(), theme_.warningBackground.name()));
  for (QWidget* w : {static_cast<QWidget*>(stats_), static_cast<QWidget*>(branchLabel_),
                     static_cast<QWidget*>(branchPrev_), static_cast<QWidget*>(branchNext_),
                     static_cast<QWidget*>(copyButton_), static_cast<QWidget*>(editButton_),
                     static_cast<QWidget*>(regenerateButton_)}) {
    if (!w) continue;
    w->setFont(small);
    setForeground(w, theme_.muted);
  }
  if (role_ == ChatRole::User) {
    bubble_->setColors(theme_.userBubble, theme_.userBubbleBorder);
  } else if (role_ == ChatRole::System) {
    bubble_->setColors(theme_.codeBackground, theme_.codeBorder);
  } else {
    bubble_->setColors(Qt::transparent, Qt::transparent);
  }
  if (reasoningToggle_) {
    reasoningToggle_->setFont(small);
    setForeground(reasoningToggle_, theme_.muted);
    reasoningBox_->setColors(theme_.codeBackground, Qt::transparent);
  }
  for (ChatTextView* view : {body_, reasoningView_}) {
    if (!view) continue;
    view->resetRenderState();
    QPalette p = view->palette();
    p.setColor(QPalette::Text, view == body_ ? theme_.text : theme_.muted);
    p.setColor(QPalette::Link, theme_.link);
    view->setPalette(p);
  }
  reasoningDirty_ = true;
  if (!text_.isEmpty()) render();
}

QString ChatMessageItem::answerText() const {
  if (role_ != ChatRole::Assistant) return text_;
  const ReasoningSplit s = ReasoningSplit::of(text_);
  return text_.mid(s.answerStart).trimmed();
}

void ChatMessageItem::setText(const QString& text) {
  text_ = text;
  tokens_.clear();
  tokenStarts_.clear();
  render();
}

void ChatMessageItem::setTokens(const QVector<ChatToken>& tokens) {
  text_.clear();
  tokens_.clear();
  tokenStarts_.clear();
  for (const ChatToken& t : tokens) {
    tokenStarts_.append(int(text_.size()));
    text_ += t.piece;
    tokens_.append(t);
  }
  render();
}

void ChatMessageItem::appendToken(const ChatToken& token) {
  tokenStarts_.append(int(text_.size()));
  text_ += token.piece;
  tokens_.append(token);
  dirty_ = true;
}

void ChatMessageItem::render() {
  dirty_ = false;
  ++renderCount_;
  if (noticeLabel_) {
    noticeLabel_->setText(text_);
    return;
  }
  split_ = role_ == ChatRole::Assistant ? ReasoningSplit::of(text_) : ReasoningSplit{};
  if (split_.present) {
    reasoningWords_ = ReasoningSplit::wordCount(
        QStringView(text_).mid(split_.thinkStart, split_.thinkEnd - split_.thinkStart));
    reasoningDirty_ = true;
    if (reasoningExpanded_) renderReasoning();
  }
  updateReasoningToggle();

  MarkdownStyle style{theme_.font,           theme_.monoFont,   theme_.text, theme_.muted,
                      theme_.codeBackground, theme_.codeBorder, theme_.link};
  if (role_ == ChatRole::User) {
    style.codeBackground = ChatTheme::mix(theme_.userBubble, theme_.text, 0.07);
    style.codeBorder = theme_.userBubbleBorder;
  }
  const QStringView answer = QStringView(text_).mid(split_.answerStart);
  body_->showMarkdown(MarkdownRenderer(style), answer, split_.answerStart);
  body_->setVisible(!isBlank(answer) && !editing_);
}

void ChatMessageItem::renderReasoning() {
  if (!reasoningView_ || !reasoningDirty_) return;
  reasoningDirty_ = false;
  MarkdownStyle style{theme_.font,
                      theme_.monoFont,
                      theme_.muted,
                      theme_.muted,
                      ChatTheme::mix(theme_.codeBackground, theme_.text, 0.05),
                      theme_.codeBorder,
                      theme_.link};
  reasoningView_->showMarkdown(MarkdownRenderer(style),
                               QStringView(text_).mid(split_.thinkStart, split_.thinkEnd - split_.thinkStart),
                               split_.thinkStart);
}

void ChatMessageItem::updateReasoningToggle() {
  if (!reasoningToggle_) return;
  reasoningToggle_->setVisible(split_.present);
  const QString arrow = reasoningExpanded_ ? QStringLiteral("\u25BE") : QStringLiteral("\u25B8");
  const QString words = reasoningWords_ == 1 ? tr("1 word") : tr("%1 words").arg(reasoningWords_);
  reasoningToggle_->setText(streaming_ && !split_.closed ? tr("Reasoning\u2026 (%1) %2").arg(words, arrow)
                                                         : tr("Reasoning (%1) %2").arg(words, arrow));
  reasoningBox_->setVisible(split_.present && reasoningExpanded_);
}

void ChatMessageItem::setReasoningExpanded(bool expanded) {
  if (!reasoningToggle_) return;
  reasoningExpanded_ = expanded;
  if (expanded) renderReasoning();
  updateReasoningToggle();
}

void ChatMessageItem::setStreaming(bool streaming) {
  streaming_ = streaming;
  if (!stats_) return;
  if (streaming) setStats(tr("Generating\u2026"));
  copyButton_->setEnabled(!streaming);
  updateReasoningToggle();
}

void ChatMessageItem::setStats(const QString& stats) {
  if (!stats_) return;
  stats_->setText(stats);
  stats_->setVisible(!stats.isEmpty());
}

void ChatMessageItem::setInterrupted(bool interrupted) {
  if (badge_) badge_->setVisible(interrupted);
}

void ChatMessageItem::setBranchInfo(int current, int count) {
  if (!branchLabel_) return;
  const bool show = count > 1;
  branchPrev_->setVisible(show);
  branchLabel_->setVisible(show);
  branchNext_->setVisible(show);
  branchLabel_->setText(QStringLiteral("%1/%2").arg(current).arg(count));
  branchPrev_->setEnabled(current > 1);
  branchNext_->setEnabled(current < count);
}

void ChatMessageItem::setRegenerateAvailable(bool available) {
  if (regenerateButton_) regenerateButton_->setVisible(available);
}

void ChatMessageItem::startEditing() {
  if (!editor_ || editing_) return;
  editing_ = true;
  editor_->setPlainText(text_);
  body_->hide();
  editorBox_->show();
  editButton_->setEnabled(false);
  updateBubbleWidth();
  editor_->setFocus();
  editor_->moveCursor(QTextCursor::End);
}

void ChatMessageItem::finishEditing(bool save) {
  if (!editing_) return;
  editing_ = false;
  editorBox_->hide();
  editButton_->setEnabled(true);
  updateBubbleWidth();
  if (save) {
    const QString edited = editor_->toPlainText();
    setText(edited);
    emit editSaved(edited);
  } else {
    body_->setVisible(!isBlank(text_));
  }
}

bool ChatMessageItem::eventFilter(QObject* watched, QEvent* event) {
  if (watched == editor_ && event->type() == QEvent::KeyPress) {
    auto* key = static_cast<QKeyEvent*>(event);
    if (key->key() == Qt::Key_Escape) {
      finishEditing(false);
      return true;
    }
    if ((key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) &&
        key->modifiers().testFlag(Qt::ControlModifier)) {
      finishEditing(true);
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

void ChatMessageItem::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  updateBubbleWidth();
}

void ChatMessageItem::updateBubbleWidth() {
  if (role_ != ChatRole::User || !bubble_) return;
  const int w = std::max(160, int(width() * 0.82));
  bubble_->setMaximumWidth(w);
  bubble_->setMinimumWidth(editing_ ? w : 0);
}

int ChatMessageItem::tokenAtSource(int offset) const {
  if (offset < 0 || tokenStarts_.isEmpty()) return -1;
  auto it = std::upper_bound(tokenStarts_.begin(), tokenStarts_.end(), offset);
  if (it == tokenStarts_.begin()) return -1;
  const int t = int(it - tokenStarts_.begin()) - 1;
  return offset < tokenStarts_[t] + tokens_[t].piece.size() ? t : -1;
}

int ChatMessageItem::tokenAt(QPoint pos) const {
  for (ChatTextView* view : {body_, reasoningView_}) {
    if (!view || view->isHidden() || (view == reasoningView_ && reasoningBox_->isHidden())) continue;
    const QPoint local = view->mapFrom(this, pos);
    if (!view->rect().contains(local)) continue;
    return tokenAtSource(view->sourceOffsetAt(local));
  }
  return -1;
}

QRect ChatMessageItem::tokenRect(int token) const {
  if (token < 0 || token >= tokens_.size()) return {};
  const int start = tokenStarts_[token], end = start + int(tokens_[token].piece.size());
  for (ChatTextView* view : {body_, reasoningView_}) {
    if (!view || view->isHidden() || (view == reasoningView_ && reasoningBox_->isHidden())) continue;
    QRect r;
    for (int o = start; o < end; ++o) {
      const QRect c = view->sourceCharRect(o);
      if (c.isEmpty()) continue;
      if (r.isNull()) {
        r = c;
      } else if (c.top() == r.top()) {
        r |= c;
      } else {
        break;
      }
    }
    if (!r.isNull()) return {view->mapTo(this, r.topLeft()), r.size()};
  }
  return {};
}

QString ChatMessageItem::tokenToolTip(int token) const {
  if (token < 0 || token >= tokens_.size()) return {};
  return ChatTokenToolTip::html(tokens_[token]);
}

}  // namespace moe::widgets
