// UTF-8 helpers for the Jinja interpreter: Python's str counts, slices and indexes code points, so every
// string operation that takes or returns an index goes through these. Malformed bytes count as one
// character each (they cannot come from valid JSON or a valid template, but must never crash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moe::jinja::utf8 {

// Decodes the character starting at s[i]; sets `len` to its byte length (1 for a malformed byte, whose
// code point is then returned as 0xDC00 + byte, like Python's surrogateescape).
char32_t decode(std::string_view s, size_t i, size_t& len);
void append(std::string& out, char32_t cp);

size_t length(std::string_view s);                // code points
std::vector<size_t> offsets(std::string_view s);  // byte offset of each code point, plus s.size()
std::vector<char32_t> code_points(std::string_view s);
std::string encode(const std::vector<char32_t>& cps);
bool valid(std::string_view s);

// Python's str.isspace / \s (Unicode whitespace).
bool is_space(char32_t c);
// Python's str.isalnum / isalpha / isdigit and "cased" letters, approximated with Unicode categories.
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_alnum(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
bool is_printable(char32_t c);  // Python's str.isprintable, used by repr()
bool is_word(char32_t c);       // regex \w: alphanumerics and underscore

char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
char32_t to_title(char32_t c);

// Full case mappings (one character may become several: 'ß' -> "SS"), as Python's str methods do.
void append_upper(std::string& out, char32_t c);
void append_lower(std::string& out, char32_t c);
void append_title(std::string& out, char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);

}  // namespace moe::jinja::utf8
