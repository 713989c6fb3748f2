// The limits of one render, passed to every operation whose work or output size depends on the data, so
// that a hostile template fails with an error instead of running or allocating without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace moe::jinja {

// Raised by code that knows no source position; the interpreter adds the line and column of the
// innermost expression or statement being evaluated and rethrows it as moe::Error.
struct Failure {
  std::string message;
};

[[noreturn]] void fail(std::string message);

class Budget {
 public:
  Budget(int64_t max_steps, int64_t max_bytes);

  // One unit of work (an expression, a loop iteration, an element visited, 64 bytes scanned).
  void step(int64_t n = 1) {
    steps_left_ -= n;
    if (steps_left_ < 0) exhausted_steps();
  }
  // A string or container of `n` bytes is about to be built: fails if it exceeds max_output_bytes, or if
  // the render has built more than a fixed multiple of that in total.
  void bytes(size_t n);
  // Fails if a string being built has grown past max_output_bytes (without counting it as allocated).
  void limit(size_t n) {
    if (n > size_t(max_bytes_)) bytes(n);
  }
  // Work proportional to a string's length.
  void scan(size_t n) { step(1 + int64_t(n / 64)); }

  size_t max_bytes() const { return size_t(max_bytes_); }

 private:
  [[noreturn]] void exhausted_steps() const;

  int64_t max_steps_;
  int64_t steps_left_;
  int64_t max_bytes_;
  int64_t allocation_left_;
};

}  // namespace moe::jinja
