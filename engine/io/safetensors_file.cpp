// SafetensorsFile: maps a .safetensors file and validates its header the way the format's reference
// implementation does (and a little more): header length, UTF-8, JSON, every entry's dtype/shape/offsets,
// byte sizes, and that the tensors tile the data section exactly, with no overlap, hole or excess.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "io/json_strict.h"
#include "io/mmap_file.h"
#include "io/tensor_size.h"
#include "moe/error.h"
#include "moe/safetensors.h"

namespace moe {
namespace {

using Json = nlohmann::json;

// Containers in a valid header: the top object, a tensor entry or __metadata__, a shape/data_offsets array.
constexpr int kHeaderMaxDepth = 3;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    if (i == 16 && shape.size() > 17) {
      s += "... (" + std::to_string(shape.size()) + " dimensions)";
      break;
    }
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Bounds what a message quotes from the file: a name or value can be megabytes long.
std::string clip(std::string s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return s;
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;  // keep UTF-8 whole
  s.resize(cut);
  return s + "...";
}

// A non-negative JSON integer ("-0" included, as serde_json reads it); floats and negatives are not.
bool get_index(const Json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() == 0) {
    out = 0;
    return true;
  }
  return false;
}

struct Parsed {
  TensorView view;
  uint64_t begin = 0, end = 0;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& file, uint64_t data_size) : file_(file), data_size_(data_size) {}

  [[noreturn]] void fail(const std::string& msg) const { throw Error(file_ + ": " + msg); }
  [[noreturn]] void fail(const std::string& tensor, const std::string& msg) const {
    throw Error(file_ + ": tensor " + clip(tensor) + " " + msg);
  }

  void metadata(const Json& v, std::map<std::string, std::string>& out) const {
    if (!v.is_object()) fail("__metadata__ is not an object of strings");
    for (const auto& [key, value] : v.items()) {
      if (!value.is_string()) fail("__metadata__ value of \"" + clip(key) + "\" is not a string");
      out[key] = value.get<std::string>();
    }
  }

  Parsed entry(const std::string& name, const Json& v) const {
    if (!v.is_object()) fail(name, "is not described by an object {dtype, shape, data_offsets}");
    for (const auto& [key, value] : v.items())
      if (key != "dtype" && key != "shape" && key != "data_offsets")
        fail(name, "has an unexpected key \"" + clip(key) + "\"");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!v.contains(key)) fail(name, std::string("has no \"") + key + "\"");

    Parsed p;
    p.view.name = name;
    p.view.file = file_;
    const Json& dtype = v["dtype"];
    if (!dtype.is_string()) fail(name, "has a dtype that is not a string");
    auto t = dtype_from_name(dtype.get_ref<const std::string&>());
    if (!t) fail(name, "has unknown dtype \"" + clip(dtype.get<std::string>()) + "\"");
    p.view.dtype = *t;

    const Json& shape = v["shape"];
    if (!shape.is_array()) fail(name, "has a shape that is not an array");
    std::vector<uint64_t> dims;
    dims.reserve(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) {
      uint64_t d;
      if (!get_index(shape[i], d))
        fail(name, "has shape[" + std::to_string(i) + "] = " + clip(shape[i].dump()) +
                       ", not a non-negative integer");
      dims.push_back(d);
    }
    auto numel = io::checked_numel(dims);
    if (!numel) fail(name, "has a shape whose element count overflows 64 bits");
    p.view.shape.assign(dims.begin(), dims.end());  // every dim fits int64: checked_numel saw to it
    auto bits = io::checked_bits(*t, *numel);
    if (!bits) fail(name, "has a shape whose size in bytes overflows 64 bits");
    if (*bits % 8 != 0)
      fail(name, "has " + std::to_string(*numel) + " " + std::string(dtype_name(*t)) +
                     " elements, which is not a whole number of bytes");
    const uint64_t nbytes = *bits / 8;

    const Json& offsets = v["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !get_index(offsets[0], p.begin) ||
        !get_index(offsets[1], p.end))
      fail(name,
           "has data_offsets " + clip(offsets.dump()) + ", not [begin, end] with non-negative integers");
    if (p.begin > p.end) fail(name, "has data_offsets " + range(p) + " that end before they begin");
    if (p.end > data_size_)
      fail(name, "declares data_offsets " + range(p) + " but the data section holds only " +
                     std::to_string(data_size_) + " bytes");
    if (p.end - p.begin != nbytes)
      fail(name, "is " + std::string(dtype_name(*t)) + " " + shape_string(p.view.shape) + " = " +
                     std::to_string(nbytes) + " bytes, but its data_offsets " + range(p) + " span " +
                     std::to_string(p.end - p.begin) + " bytes");
    p.view.nbytes = size_t(nbytes);
    return p;
  }

  // The tensors, sorted by offsets, must tile [0, data_size) exactly (zero-size ones sit anywhere on a seam).
  void check_coverage(const std::vector<Parsed>& all) const {
    std::vector<size_t> order(all.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::pair(all[a].begin, all[a].end) < std::pair(all[b].begin, all[b].end);
    });
    uint64_t pos = 0;
    const Parsed* prev = nullptr;
    for (size_t i : order) {
      const Parsed& p = all[i];
      if (p.begin < pos)
        fail(p.view.name, "(data_offsets " + range(p) + ") overlaps tensor " + clip(prev->view.name) + " (" +
                              range(*prev) + ")");
      if (p.begin > pos) {
        if (prev)
          fail(p.view.name, "(data_offsets " + range(p) + ") leaves a hole of " +
                                std::to_string(p.begin - pos) + " bytes after tensor " +
                                clip(prev->view.name) + " (" + range(*prev) + ")");
        fail(p.view.name, "(data_offsets " + range(p) + ") leaves a hole of " + std::to_string(p.begin) +
                              " bytes at the start of the data section");
      }
      pos = p.end;
      prev = &p;
    }
    if (pos != data_size_)
      fail("the tensors cover " + std::to_string(pos) + " of the " + std::to_string(data_size_) +
           " bytes of the data section (the data is not fully covered)");
  }

 private:
  static std::string range(const Parsed& p) {
    return "[" + std::to_string(p.begin) + ", " + std::to_string(p.end) + "]";
  }

  const std::string& file_;
  uint64_t data_size_;
};

}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string TensorView::describe() const {
  return name + " " + shape_string(shape) + " " + std::string(dtype_name(dtype)) + " in " +
         std::filesystem::path(file).filename().string();
}

void SafetensorsFile::parse_header(std::span<const std::byte> bytes, uint64_t file_size,
                                   const std::string& display_name, const SafetensorsLimits& limits,
                                   std::vector<TensorView>& tensors,
                                   std::map<std::string, std::string>& metadata, uint64_t& data_start) {
  const std::string& file = display_name;
  if (file_size < 8 || bytes.size() < 8)
    throw Error(file + ": the file is " + std::to_string(std::min<uint64_t>(file_size, bytes.size())) +
                " bytes long, shorter than the 8-byte header length of a safetensors file");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | std::to_integer<uint64_t>(bytes[size_t(i)]);
  if (n == 0) throw Error(file + ": header length is 0");
  if (n > limits.max_header_bytes)
    throw Error(file + ": header length " + std::to_string(n) + " exceeds the limit of " +
                std::to_string(limits.max_header_bytes) + " bytes");
  if (n > file_size - 8)
    throw Error(file + ": header length " + std::to_string(n) + " exceeds the file (" +
                std::to_string(file_size) + " bytes)");
  if (n > bytes.size() - 8)
    throw Error(file + ": header length " + std::to_string(n) + " exceeds the " +
                std::to_string(bytes.size()) + " bytes read");

  const uint64_t start = 8 + n;
  const uint64_t data_size = file_size - start;
  std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, size_t(n));
  std::vector<std::string> order;  // tensors keep the order of the header
  const Json header = io::parse_json_strict(text, file, "header", kHeaderMaxDepth, &order);
  if (!header.is_object()) throw Error(file + ": the header is not a JSON object");

  HeaderParser parser(file, data_size);
  std::map<std::string, std::string> meta;
  std::vector<Parsed> parsed;
  parsed.reserve(order.size());
  for (const auto& name : order) {
    const Json& value = header.find(name).value();
    if (name == "__metadata__")
      parser.metadata(value, meta);
    else
      parsed.push_back(parser.entry(name, value));
  }
  parser.check_coverage(parsed);

  // Views point into `bytes` only when it holds the whole file (the reader's case); a caller that passes the
  // header alone gets null data pointers.
  const bool whole_file = bytes.size() >= file_size;
  tensors.clear();
  tensors.reserve(parsed.size());
  for (auto& p : parsed) {
    if (whole_file) p.view.data = bytes.data() + start + p.begin;
    tensors.push_back(std::move(p.view));
  }
  metadata = std::move(meta);
  data_start = start;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path, SafetensorsLimits limits) : path_(path) {
  io::MmapFile map(path);
  uint64_t data_start = 0;
  parse_header({map.data(), map.size()}, map.size(), path.string(), limits, tensors_, metadata_, data_start);
  map_size_ = map.size();
  map_ = map.release();
}

SafetensorsFile::~SafetensorsFile() {
  io::MmapFile::unmap(map_, map_size_);
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace moe
