#include "tokenizer/jinja/budget.h"

namespace moe::jinja {

namespace {
// Total bytes of strings and containers one render may build, as a multiple of max_output_bytes: generous
// for templates that accumulate text in a namespace, still a bound on memory and time.
constexpr int64_t kAllocationFactor = 32;
}  // namespace

void fail(std::string message) {
  throw Failure{std::move(message)};
}

Budget::Budget(int64_t max_steps, int64_t max_bytes)
    : max_steps_(max_steps),
      steps_left_(max_steps),
      max_bytes_(max_bytes),
      allocation_left_(max_bytes > INT64_MAX / kAllocationFactor ? INT64_MAX
                                                                 : max_bytes * kAllocationFactor) {}

void Budget::bytes(size_t n) {
  if (n > size_t(max_bytes_))
    fail("a string or list of " + std::to_string(n) + " bytes exceeds max_output_bytes (" +
         std::to_string(max_bytes_) + ")");
  allocation_left_ -= int64_t(n);
  if (allocation_left_ < 0)
    fail("the template built more than " + std::to_string(kAllocationFactor) +
         " x max_output_bytes of strings and lists");
  step(1 + int64_t(n / 64));
}

void Budget::exhausted_steps() const {
  fail("the template exceeded max_steps (" + std::to_string(max_steps_) + " evaluation steps)");
}

}  // namespace moe::jinja
