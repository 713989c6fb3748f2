// WeightBinder: looks tensors up by name in a TensorStore and checks their dtype and shape against what the
// ModelSpec says, producing Matrix views. Errors name the file, the tensor, and the expected shape.
#pragma once

#include <optional>
#include <string>

#include "moe/model.h"

namespace moe::detail {

class WeightBinder {
 public:
  WeightBinder(const TensorStore& store, const ModelSpec& spec) : store_(store), spec_(spec) {}

  bool has(const std::string& name) const { return store_.find(name) != nullptr; }
  Matrix matrix(const std::string& name, int64_t rows, int64_t cols) const;
  Vector vector(const std::string& name, int64_t n) const;
  // Present: checked and bound; absent: an empty Matrix.
  Vector optional_vector(const std::string& name, int64_t n) const;
  // Slice e of a 3-D tensor [E, rows, cols] checked as a whole; `first_row` selects rows within the slice.
  Matrix slice3d(const std::string& name, int64_t experts, int64_t rows, int64_t cols, int64_t e,
                 int64_t first_row, int64_t n_rows) const;
  const TensorView& tensor(const std::string& name) const;

 private:
  const TensorView& checked(const std::string& name, std::initializer_list<int64_t> shape) const;
  const TensorStore& store_;
  const ModelSpec& spec_;
};

ModelWeights bind_weights(const TensorStore& store, const ModelSpec& spec);

}  // namespace moe::detail
