// A plain container that paints a rounded, filled rectangle behind its children (user messages, the editor).
#pragma once

#include <QColor>
#include <QWidget>

namespace moe::widgets {

class ChatBubble : public QWidget {
  Q_OBJECT

 public:
  explicit ChatBubble(QWidget* parent = nullptr);
  // A transparent fill paints nothing: the bubble is then only a layout box.
  void setColors(const QColor& fill, const QColor& border);

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  QColor fill_ = Qt::transparent;
  QColor border_ = Qt::transparent;
};

}  // namespace moe::widgets
