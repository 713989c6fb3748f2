// Strict JSON parsing for the files the engine reads (safetensors headers, shard indexes): the text must be
// valid UTF-8, no object may repeat a key (nlohmann::json alone would silently keep the last one) and
// containers may nest only so deep. Every failure is a moe::Error naming the file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace moe::io {

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points above U+10FFFF
// included), or npos when `text` is valid.
size_t find_invalid_utf8(std::string_view text);

// Parses `text`. Errors read "FILE: the WHAT is not valid JSON: ..."; max_depth counts nested containers
// (1 allows only a flat object or array). nlohmann::json keeps an object's keys sorted; when
// `top_level_keys` is given it receives the top-level object's keys in file order. (ordered_json would keep
// the order itself, but it inserts each key in linear time: quadratic on a header with a million entries.)
nlohmann::json parse_json_strict(std::string_view text, const std::string& file, const std::string& what,
                                 int max_depth, std::vector<std::string>* top_level_keys = nullptr);

}  // namespace moe::io
