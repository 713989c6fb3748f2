#include "widgets/chat_input.h"

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>
#include <algorithm>

namespace moe::widgets {
namespace {
constexpr int kMinLines = 3;  // as tall as the Send and Stop buttons stacked
constexpr int kMaxLines = 10;
}  // namespace

ChatInput::ChatInput(QWidget* parent) : QWidget(parent) {
  auto* row = new QHBoxLayout(this);
  row->setContentsMargins(0, 0, 0, 0);
  editor_ = new QPlainTextEdit(this);
  editor_->setObjectName(QStringLiteral("chatInputEditor"));
  editor_->setPlaceholderText(tr("Message the model \u2014 Enter sends, Shift+Enter starts a new line"));
  editor_->setTabChangesFocus(true);
  editor_->installEventFilter(this);
  row->addWidget(editor_, 1);

  auto* buttons = new QVBoxLayout;
  send_ = new QPushButton(tr("Send"), this);
  send_->setObjectName(QStringLiteral("sendButton"));
  send_->setToolTip(tr("Send the message (Enter)"));
  stop_ = new QPushButton(tr("Stop"), this);
  stop_->setObjectName(QStringLiteral("stopButton"));
  stop_->setToolTip(tr("Stop generating"));
  buttons->addWidget(send_);
  buttons->addWidget(stop_);
  row->addLayout(buttons);
  row->setAlignment(buttons, Qt::AlignBottom);
  setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Maximum);

  connect(send_, &QPushButton::clicked, this, &ChatInput::send);
  connect(stop_, &QPushButton::clicked, this, &ChatInput::stopRequested);
  connect(editor_, &QPlainTextEdit::textChanged, this, [this] {
    updateState();
    fitHeight();
  });
  setFocusProxy(editor_);
  updateState();
  fitHeight();
}

QString ChatInput::text() const {
  return editor_->toPlainText();
}

void ChatInput::setText(const QString& text) {
  editor_->setPlainText(text);
}

void ChatInput::setPlaceholderText(const QString& text) {
  editor_->setPlaceholderText(text);
}

void ChatInput::setGenerating(bool generating) {
  generating_ = generating;
  updateState();
}

void ChatInput::updateState() {
  send_->setEnabled(!generating_ && !text().trimmed().isEmpty());
  stop_->setEnabled(generating_);
}

void ChatInput::fitHeight() {
  const int lines = std::clamp(int(editor_->document()->blockCount()), kMinLines, kMaxLines);
  const QMargins m = editor_->contentsMargins();
  const int h = lines * editor_->fontMetrics().lineSpacing() +
                int(2 * editor_->document()->documentMargin()) + m.top() + m.bottom() +
                2 * editor_->frameWidth();
  editor_->setFixedHeight(h);
}

void ChatInput::send() {
  const QString message = text();
  if (generating_ || message.trimmed().isEmpty()) return;
  editor_->clear();
  emit sendRequested(message);
}

bool ChatInput::eventFilter(QObject* watched, QEvent* event) {
  if (watched == editor_ && event->type() == QEvent::KeyPress) {
    auto* key = static_cast<QKeyEvent*>(event);
    const bool enter = key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter;
    if (enter && !(key->modifiers() & (Qt::ShiftModifier | Qt::AltModifier))) {
      send();
      return true;  // Enter never types a line break, even when sending is not possible now
    }
    if (enter && key->modifiers() & Qt::ShiftModifier) {
      editor_->textCursor().insertText(QStringLiteral("\n"));
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

}  // namespace moe::widgets
