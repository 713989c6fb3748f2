#include "widgets/repaint_throttle.h"

#include <QWidget>

namespace moe::widgets {

RepaintThrottle::RepaintThrottle(QWidget* owner, std::function<void()> refresh, int intervalMs)
    : QObject(owner), owner_(owner), refresh_(std::move(refresh)) {
  timer_.setSingleShot(true);
  timer_.setInterval(intervalMs);
  connect(&timer_, &QTimer::timeout, this, &RepaintThrottle::fire);
}

void RepaintThrottle::request() {
  pending_ = true;
  // Started only when idle: requests during the interval ride along with the refresh already scheduled.
  if (!timer_.isActive()) timer_.start();
}

void RepaintThrottle::fire() {
  if (!pending_ || !owner_->isVisible()) return;  // a hidden view catches up in flush() when shown
  pending_ = false;
  refresh_();
}

void RepaintThrottle::flush() {
  if (!pending_) return;
  timer_.stop();
  pending_ = false;
  refresh_();
}

}  // namespace moe::widgets
