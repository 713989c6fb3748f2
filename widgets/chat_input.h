// The message box under the conversation: a multi-line editor that grows with its text (Enter sends,
// Shift+Enter breaks the line), a Send button, and a Stop button enabled only while an answer is generating.
#pragma once

#include <QWidget>

class QPlainTextEdit;
class QPushButton;

namespace moe::widgets {

class ChatInput : public QWidget {
  Q_OBJECT

 public:
  explicit ChatInput(QWidget* parent = nullptr);

  QString text() const;
  void setText(const QString& text);
  // While generating, Stop is enabled and sending is not (the text can still be typed).
  void setGenerating(bool generating);
  bool isGenerating() const { return generating_; }
  void setPlaceholderText(const QString& text);

  QPlainTextEdit* editor() const { return editor_; }
  QPushButton* sendButton() const { return send_; }
  QPushButton* stopButton() const { return stop_; }

 signals:
  void sendRequested(const QString& text);
  void stopRequested();

 public slots:
  // Emits sendRequested with the text and clears the box, unless it is blank or an answer is generating.
  void send();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void updateState();
  void fitHeight();

  QPlainTextEdit* editor_ = nullptr;
  QPushButton* send_ = nullptr;
  QPushButton* stop_ = nullptr;
  bool generating_ = false;
};

}  // namespace moe::widgets
