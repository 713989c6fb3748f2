#include "widgets/chat_view.h"

#include <QApplication>
#include <QClipboard>
#include <QEvent>
#include <QHBoxLayout>
#include <QScrollBar>
#include <QToolTip>
#include <QVBoxLayout>

#include "widgets/chat_message_item.h"

namespace moe::widgets {
namespace {
constexpr int kFrameMs = 16;          // at most one render of the streaming message per frame
constexpr int kColumnMaxWidth = 900;  // long lines are hard to read: the conversation stays a column
}  // namespace

ChatView::ChatView(QWidget* parent) : QScrollArea(parent) {
  theme_ = ChatTheme::fromPalette(palette(), font());
  setFrameShape(QFrame::NoFrame);
  setWidgetResizable(true);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

  auto* canvas = new QWidget;
  canvas->setObjectName(QStringLiteral("chatCanvas"));
  canvas->setBackgroundRole(QPalette::Base);
  canvas->setAutoFillBackground(true);
  auto* row = new QHBoxLayout(canvas);
  row->setContentsMargins(0, 0, 0, 0);
  column_ = new QWidget(canvas);
  column_->setMaximumWidth(kColumnMaxWidth);
  list_ = new QVBoxLayout(column_);
  list_->setContentsMargins(20, 16, 20, 16);
  list_->setSpacing(16);
  list_->addStretch(1);
  row->addStretch(0);
  row->addWidget(column_, 1);
  row->addStretch(0);
  setWidget(canvas);

  frameTimer_.setSingleShot(true);
  frameTimer_.setInterval(kFrameMs);
  connect(&frameTimer_, &QTimer::timeout, this, &ChatView::flush);

  // Follow the end of the conversation while the user has not scrolled away from it.
  connect(verticalScrollBar(), &QScrollBar::valueChanged, this,
          [this](int value) { stickToBottom_ = value >= verticalScrollBar()->maximum() - 8; });
  connect(verticalScrollBar(), &QScrollBar::rangeChanged, this, [this](int, int max) {
    if (stickToBottom_) verticalScrollBar()->setValue(max);
  });
}

void ChatView::clear() {
  frameTimer_.stop();
  for (ChatMessageItem* item : items_) {
    removedRenders_ += item->renderCount();
    list_->removeWidget(item);
    delete item;
  }
  items_.clear();
  streaming_ = -1;
  stickToBottom_ = true;
}

int ChatView::indexOf(const ChatMessageItem* item) const {
  return int(items_.indexOf(const_cast<ChatMessageItem*>(item)));
}

int ChatView::appendItem(ChatMessageItem* item) {
  list_->insertWidget(list_->count() - 1, item);
  items_.append(item);
  connect(item, &ChatMessageItem::copyClicked, this, [this, item] {
    const int index = indexOf(item);
    QApplication::clipboard()->setText(item->answerText());
    emit copyRequested(index);
  });
  connect(item, &ChatMessageItem::editSaved, this,
          [this, item](const QString& text) { emit editSubmitted(indexOf(item), text); });
  connect(item, &ChatMessageItem::regenerateClicked, this,
          [this, item] { emit regenerateRequested(indexOf(item)); });
  connect(item, &ChatMessageItem::branchClicked, this,
          [this, item](int delta) { emit branchRequested(indexOf(item), delta); });
  connect(item, &ChatMessageItem::tokenToolTipRequested, this,
          [this, item](int token, QPoint global) { showTokenToolTip(indexOf(item), token, global); });
  stickToBottom_ = true;
  updateRegenerate();
  return int(items_.size()) - 1;
}

int ChatView::addMessage(ChatRole role, const QString& text, MessageFlags flags) {
  auto* item = new ChatMessageItem(role, flags, theme_, column_);
  item->setText(text);
  return appendItem(item);
}

int ChatView::beginAssistant() {
  if (streaming_ >= 0) finishAssistant();
  auto* item = new ChatMessageItem(ChatRole::Assistant, MessageFlag::None, theme_, column_);
  item->setStreaming(true);
  streaming_ = int(items_.size());
  return appendItem(item);
}

void ChatView::appendToken(const QString& piece, double logprob,
                           const QVector<TokenAlternative>& alternatives) {
  if (streaming_ < 0) return;
  items_[streaming_]->appendToken(ChatToken{piece, logprob, alternatives});
  if (!frameTimer_.isActive()) frameTimer_.start();
}

void ChatView::flush() {
  frameTimer_.stop();
  if (streaming_ >= 0 && items_[streaming_]->isDirty()) items_[streaming_]->render();
}

void ChatView::finishAssistant(const QString& stats) {
  if (streaming_ < 0) return;
  flush();
  ChatMessageItem* item = items_[streaming_];
  streaming_ = -1;
  item->setStreaming(false);
  item->setStats(stats);
  updateRegenerate();
}

void ChatView::setMessageText(int index, const QString& text) {
  if (ChatMessageItem* item = messageItem(index)) item->setText(text);
}

void ChatView::setMessageTokens(int index, const QVector<ChatToken>& tokens) {
  if (ChatMessageItem* item = messageItem(index)) item->setTokens(tokens);
}

void ChatView::setStats(int index, const QString& stats) {
  if (ChatMessageItem* item = messageItem(index)) item->setStats(stats);
}

void ChatView::setBranchInfo(int index, int current, int count) {
  if (ChatMessageItem* item = messageItem(index)) item->setBranchInfo(current, count);
}

void ChatView::setInterrupted(int index, bool interrupted) {
  if (ChatMessageItem* item = messageItem(index)) item->setInterrupted(interrupted);
}

void ChatView::setReasoningExpanded(int index, bool expanded) {
  if (ChatMessageItem* item = messageItem(index)) item->setReasoningExpanded(expanded);
}

QString ChatView::messageText(int index) const {
  const ChatMessageItem* item = messageItem(index);
  return item ? item->text() : QString();
}

ChatMessageItem* ChatView::messageItem(int index) const {
  return index >= 0 && index < items_.size() ? items_[index] : nullptr;
}

int ChatView::renderCount() const {
  int n = removedRenders_;
  for (const ChatMessageItem* item : items_)
    n += item->renderCount();
  return n;
}

int ChatView::renderCount(int index) const {
  const ChatMessageItem* item = messageItem(index);
  return item ? item->renderCount() : 0;
}

// Regenerate belongs to the answer that ends the conversation, once it is complete.
void ChatView::updateRegenerate() {
  int last = -1;
  for (int i = int(items_.size()) - 1; i >= 0 && last < 0; --i)
    if (!items_[i]->isNotice()) last = i;
  for (int i = 0; i < items_.size(); ++i)
    items_[i]->setRegenerateAvailable(i == last && items_[i]->role() == ChatRole::Assistant &&
                                      streaming_ < 0);
}

QRect ChatView::tokenRect(int index, int token) const {
  const ChatMessageItem* item = messageItem(index);
  if (!item) return {};
  const QRect r = item->tokenRect(token);
  return r.isNull() ? r : QRect(item->mapTo(this, r.topLeft()), r.size());
}

QString ChatView::hoverAt(QPoint pos) {
  for (int i = 0; i < items_.size(); ++i) {
    ChatMessageItem* item = items_[i];
    const QPoint local = item->mapFrom(this, pos);
    if (!item->rect().contains(local)) continue;
    const int token = item->tokenAt(local);
    if (token < 0) return {};
    showTokenToolTip(i, token, mapToGlobal(pos));
    return item->tokenToolTip(token);
  }
  return {};
}

void ChatView::showTokenToolTip(int index, int token, QPoint globalPos) {
  ChatMessageItem* item = messageItem(index);
  if (!item) return;
  emit tokenHovered(index, token);
  const QRect r = item->tokenRect(token);
  QToolTip::showText(globalPos, item->tokenToolTip(token), item, r);
}

void ChatView::changeEvent(QEvent* event) {
  QScrollArea::changeEvent(event);
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange ||
      event->type() == QEvent::StyleChange) {
    theme_ = ChatTheme::fromPalette(palette(), font());
    for (ChatMessageItem* item : items_)
      item->setTheme(theme_);
  }
}

}  // namespace moe::widgets
