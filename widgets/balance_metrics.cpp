#include "widgets/balance_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moe::widgets {

BalanceMetrics BalanceMetrics::of(std::span<const int64_t> loads) {
  BalanceMetrics m;
  for (int64_t l : loads)
    m.total += l;
  const size_t n = loads.size();
  if (n == 0 || m.total == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    m.cv = m.maxVio = m.normEntropy = nan;
    return m;
  }
  if (n == 1) return m;  // one expert: all load on it is perfect balance, and ln 1 = 0 cannot normalise
  const double mean = double(m.total) / double(n);
  double var = 0, h = 0;
  int64_t max_load = 0;
  for (int64_t l : loads) {
    var += (double(l) - mean) * (double(l) - mean);
    max_load = std::max(max_load, l);
    if (l > 0) {
      const double p = double(l) / double(m.total);
      h -= p * std::log(p);
    }
  }
  m.cv = std::sqrt(var / double(n)) / mean;
  m.maxVio = (double(max_load) - mean) / mean;
  m.normEntropy = h / std::log(double(n));
  return m;
}

}  // namespace moe::widgets
