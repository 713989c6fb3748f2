#include "widgets/routing_data.h"

#include <algorithm>

namespace moe::widgets {

RoutingData::RoutingData(QObject* parent) : QObject(parent) {}

void RoutingData::reset(const RoutingShape& shape) {
  shape_ = shape;
  shape_.nLayers = std::max(0, shape_.nLayers);
  shape_.nExperts = std::max(0, shape_.nExperts);
  shape_.topK = std::max(0, shape_.topK);
  if (int(shape_.layerIds.size()) != shape_.nLayers) shape_.layerIds.clear();
  clear();
}

void RoutingData::clear() {
  ++generation_;
  answers_.clear();
  positions_.clear();
  prompt_.clear();
  pieces_.clear();
  experts_.clear();
  weights_.clear();
  emit wasReset();
}

int RoutingData::layerId(int layer) const {
  return shape_.layerIds.empty() ? layer : shape_.layerIds[size_t(layer)];
}

bool RoutingData::store(const TokenRouting& r) {
  const size_t width = size_t(shape_.nLayers) * size_t(shape_.topK);
  if (r.experts.size() != width || r.weights.size() != width) return false;
  answers_.push_back(r.answer);
  positions_.push_back(r.position);
  prompt_.push_back(r.prompt ? 1 : 0);
  pieces_.push_back(r.piece);
  // Out-of-range ids are normalised once here so every consumer can index count arrays without checking.
  for (int32_t e : r.experts)
    experts_.push_back(e >= 0 && e < shape_.nExperts ? e : -1);
  weights_.insert(weights_.end(), r.weights.begin(), r.weights.end());
  return true;
}

bool RoutingData::append(const TokenRouting& record) {
  if (!store(record)) return false;
  emit appended(size() - 1, 1);
  return true;
}

int RoutingData::append(std::span<const TokenRouting> records) {
  const int first = size();
  for (const TokenRouting& r : records)
    store(r);
  const int count = size() - first;
  if (count > 0) emit appended(first, count);
  return count;
}

std::span<const int32_t> RoutingData::experts(int index) const {
  const size_t width = size_t(shape_.nLayers) * size_t(shape_.topK);
  return {experts_.data() + size_t(index) * width, width};
}

std::span<const float> RoutingData::weights(int index) const {
  const size_t width = size_t(shape_.nLayers) * size_t(shape_.topK);
  return {weights_.data() + size_t(index) * width, width};
}

int RoutingData::topExpert(int index, int layer) const {
  int best = -1;
  float best_weight = 0;
  for (int s = 0; s < topK(); ++s) {
    const int e = expert(index, layer, s);
    const float w = weight(index, layer, s);
    if (e >= 0 && (best < 0 || w > best_weight)) {
      best = e;
      best_weight = w;
    }
  }
  return best;
}

}  // namespace moe::widgets
