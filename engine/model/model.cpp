// Model::open: spec from config.json, tensors from the safetensors files, weights bound and checked.
#include "moe/model.h"

#include <map>

#include "model/weight_binder.h"
#include "moe/error.h"

namespace moe {

std::unique_ptr<Model> Model::open(const std::filesystem::path& folder) {
  if (!std::filesystem::is_directory(folder)) throw Error(folder.string() + ": not a folder");
  auto m = std::unique_ptr<Model>(new Model());
  m->folder_ = folder;
  m->spec_ = load_model_spec(folder);
  m->store_ = std::make_unique<TensorStore>(folder);
  m->weights_ = detail::bind_weights(*m->store_, m->spec_);
  return m;
}

size_t Model::weight_bytes() const {
  return store_->total_bytes();
}

DType Model::main_dtype() const {
  return weights_.embed.dtype;
}

}  // namespace moe
