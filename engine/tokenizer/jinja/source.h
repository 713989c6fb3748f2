// A template's source text as the lexer sees it (newlines normalised to \n, one trailing newline dropped,
// as jinja2 does) and the mapping from byte offsets to the line:column that errors report.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace moe::jinja {

struct Pos {
  int line = 1;
  int column = 1;
};

class Source {
 public:
  explicit Source(const std::string& raw);
  const std::string& text() const { return text_; }
  Pos pos(size_t offset) const;  // 1-based line, 1-based column in code points (not thread-safe)

 private:
  std::string text_;
  std::vector<size_t> line_starts_;
  // The parser asks for positions in increasing order: the last answer lets the next one count only the
  // characters in between instead of the whole line (long one-line templates would be quadratic).
  mutable size_t cached_offset_ = 0;
  mutable Pos cached_pos_;
};

// "chat_template:LINE:COLUMN: message", the what() of every error the interpreter raises.
std::string located(Pos pos, const std::string& message);
[[noreturn]] void throw_error(Pos pos, const std::string& message);

}  // namespace moe::jinja
