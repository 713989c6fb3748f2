// A flowing strip of the session's token pieces, each coloured by its top-1 expert at a chosen layer, under a
// legend of the expert colours that occur (most frequent first, with their share of the scope's tokens).
// Hover shows a token's piece and routing at that layer; a click emits tokenClicked(index) with the record
// index. New tokens are laid out at most ~15 times a second, and the strip follows the end of the session
// while the user has not scrolled away from it.
#pragma once

#include <QWidget>

#include "widgets/repaint_throttle.h"
#include "widgets/routing_data.h"
#include "widgets/routing_scope.h"

class QLabel;
class QScrollArea;

namespace moe::widgets {

class TokenFlow;

class TokenStrip : public QWidget {
  Q_OBJECT
 public:
  explicit TokenStrip(RoutingData* data, QWidget* parent = nullptr);

  void setLayer(int layer);
  int layer() const;
  // Tokens outside the scope are drawn faded (a Token scope fades nothing).
  void setScope(const RoutingScope& scope);
  void setSelected(int index);
  int selected() const;

  // Lays out pending tokens now (tests; normally the throttle does it).
  void refreshNow();
  // The widget that receives clicks, and a token's chip in its coordinates (empty when not laid out).
  QWidget* tokenArea() const;
  QRect tokenRect(int index) const;
  // The legend as shown: (expert, tokens whose top-1 it is) within the scope, most frequent first. Recounted
  // over the laid-out tokens at each (throttled) refresh: O(tokens), at most ~15 times a second.
  std::vector<std::pair<int, int>> legendEntries() const;
  QLabel* legendLabel() const { return legend_; }
  int refreshCount() const { return refreshes_; }

 signals:
  void tokenClicked(int index);

 protected:
  bool eventFilter(QObject* watched, QEvent* e) override;
  void showEvent(QShowEvent* e) override;

 private:
  void refresh();
  void fitFlow(int contentHeight);
  void updateLegend();

  RoutingData* data_;
  RoutingScope scope_;
  QLabel* legend_;
  QScrollArea* scroll_;
  TokenFlow* flow_;
  RepaintThrottle throttle_;
  int refreshes_ = 0;
};

}  // namespace moe::widgets
