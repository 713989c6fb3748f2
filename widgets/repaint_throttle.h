// Coalesces "the data changed" into at most one refresh per interval (default ~15 Hz). A live answer appends
// a routing record per token, in bursts of many per UI frame, and a replot of a large colour map costs far
// more than an append; views therefore only mark themselves dirty and the timer does the work.
//
// A hidden owner is not refreshed: the request stays pending until the owner calls flush() when shown.
#pragma once

#include <QObject>
#include <QTimer>
#include <functional>

class QWidget;

namespace moe::widgets {

class RepaintThrottle : public QObject {
  Q_OBJECT
 public:
  static constexpr int kIntervalMs = 66;  // <= ~15 refreshes per second

  RepaintThrottle(QWidget* owner, std::function<void()> refresh, int intervalMs = kIntervalMs);

  // Marks the owner dirty; the refresh follows within one interval, and never twice in one interval.
  void request();
  // Refreshes now when something is pending (shown again, or about to export).
  void flush();
  bool isPending() const { return pending_; }

 private:
  void fire();

  QWidget* owner_;
  std::function<void()> refresh_;
  QTimer timer_;
  bool pending_ = false;
};

}  // namespace moe::widgets
