// Python's string algorithms shared by str methods and filters: title/capitalize, strip, split, splitlines,
// replace, str.format; plus jinja2's own title filter.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace moe::jinja {

class Runtime;

std::string py_title(const std::string& s);       // str.title()
std::string py_capitalize(const std::string& s);  // str.capitalize()
std::string jinja_title(const std::string& s);    // the |title filter: words split at [-\s({[<]
// str.strip(chars): `chars` null strips Unicode whitespace.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right);
std::vector<std::string> py_split_whitespace(const std::string& s, int64_t maxsplit, bool from_right);
std::vector<std::string> py_split(const std::string& s, const std::string& sep, int64_t maxsplit,
                                  bool from_right);
std::vector<std::string> py_splitlines(const std::string& s, bool keepends);
std::string py_replace(Runtime& rt, const std::string& s, const std::string& old_s, const std::string& new_s,
                       int64_t count);
// str.format(*args, **kwargs) with fields {}, {0}, {name}, {0.attr}, {0[key]}, !r/!s and format specs.
std::string py_str_format(Runtime& rt, const std::string& format, const CallArgs& args);
// format(value, spec), Python's format-spec mini-language for str, int and float.
std::string py_format_value(Runtime& rt, const Value& v, const std::string& spec);

}  // namespace moe::jinja
