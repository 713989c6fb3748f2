// The routing of one token: a row per MoE layer with the experts it chose and their gate weights, in the
// order the router gave them (best first for every router we support). Each cell reads "expert · weight" and
// is tinted with the expert's strip colour, stronger for a larger weight. Cells carry the expert id in
// Qt::UserRole and the weight in Qt::UserRole + 1. A selected token not generated yet fills in when it
// arrives.
#pragma once

#include <QWidget>

#include "widgets/routing_data.h"

class QLabel;
class QTableWidget;

namespace moe::widgets {

class TokenRoutingTable : public QWidget {
  Q_OBJECT
 public:
  explicit TokenRoutingTable(RoutingData* data, QWidget* parent = nullptr);

  void setToken(int index);  // -1: none
  int token() const { return token_; }
  QTableWidget* table() const { return table_; }
  QLabel* titleLabel() const { return title_; }

 private:
  void fill();

  RoutingData* data_;
  int token_ = -1;
  bool filled_ = false;
  QLabel* title_;
  QTableWidget* table_;
};

}  // namespace moe::widgets
