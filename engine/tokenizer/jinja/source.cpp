#include "tokenizer/jinja/source.h"

#include <algorithm>

#include "moe/error.h"
#include "tokenizer/jinja/utf8.h"

namespace moe::jinja {

Source::Source(const std::string& raw) {
  text_.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r') {
      text_ += '\n';
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      text_ += raw[i];
    }
  }
  if (!text_.empty() && text_.back() == '\n') text_.pop_back();  // keep_trailing_newline=False
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

Pos Source::pos(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line = size_t(it - line_starts_.begin());
  const size_t start = line_starts_[line - 1];
  size_t from = start, column = 1;
  if (size_t(cached_pos_.line) == line && cached_offset_ >= start && cached_offset_ <= offset) {
    from = cached_offset_;
    column = size_t(cached_pos_.column);
  }
  column += utf8::length(std::string_view(text_).substr(from, offset - from));
  cached_offset_ = offset;
  cached_pos_ = Pos{int(line), int(column)};
  return cached_pos_;
}

std::string located(Pos pos, const std::string& message) {
  return "chat_template:" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " + message;
}

void throw_error(Pos pos, const std::string& message) {
  throw moe::Error(located(pos, message));
}

}  // namespace moe::jinja
