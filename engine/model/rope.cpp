// RoPE inverse frequencies: the formulas of transformers' modeling_rope_utils, computed in double and
// rounded to float32 (transformers computes them in float32; the difference is within one ulp).
#include "moe/rope.h"

#include <algorithm>
#include <cmath>

namespace moe {
namespace {

double yarn_mscale(double scale, double m) {
  return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

void apply_yarn(const RopeSpec& r, int64_t dim, std::vector<double>& inv, float& scale) {
  const double base = r.theta, factor = r.factor;
  if (r.attention_factor > 0) {
    scale = float(r.attention_factor);
  } else if (r.mscale != 0 && r.mscale_all_dim != 0) {
    scale = float(yarn_mscale(factor, r.mscale) / yarn_mscale(factor, r.mscale_all_dim));
  } else {
    scale = float(yarn_mscale(factor, 1.0));
  }
  auto correction_dim = [&](double rotations) {
    return (double(dim) * std::log(double(r.original_max_position) / (rotations * 2 * M_PI))) /
           (2 * std::log(base));
  };
  double low = std::max(std::floor(correction_dim(r.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(r.beta_slow)), double(dim - 1));
  if (low == high) high += 0.001;
  for (size_t i = 0; i < inv.size(); ++i) {
    double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    double extrapolation_factor = 1 - ramp;
    double extrap = inv[i], interp = inv[i] / factor;
    inv[i] = interp * (1 - extrapolation_factor) + extrap * extrapolation_factor;
  }
}

void apply_llama3(const RopeSpec& r, std::vector<double>& inv) {
  const double old_len = double(r.original_max_position);
  const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
  for (auto& f : inv) {
    double wavelen = 2 * M_PI / f;
    if (wavelen < high_wavelen) continue;
    if (wavelen > low_wavelen) {
      f = f / r.factor;
      continue;
    }
    double smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    f = (1 - smooth) * f / r.factor + smooth * f;
  }
}

}  // namespace

RopeFrequencies rope_frequencies(const ModelSpec& spec, int64_t dim, int64_t seq_len) {
  const RopeSpec& r = spec.rope;
  double base = r.theta;
  if (r.type == RopeType::Dynamic) {
    double len = double(std::max(seq_len, spec.max_position_embeddings));
    base = base * std::pow(r.factor * len / double(spec.max_position_embeddings) - (r.factor - 1),
                           double(dim) / double(dim - 2));
  }
  std::vector<double> inv(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    // torch: 1 / base ** (arange(0, dim, 2) / dim), in float32
    float exponent = float(2 * i) / float(dim);
    inv[size_t(i)] = 1.0 / double(std::pow(float(base), exponent));
  }
  RopeFrequencies out;
  if (r.type == RopeType::Linear) {
    for (auto& f : inv)
      f /= r.factor;
  } else if (r.type == RopeType::Yarn) {
    apply_yarn(r, dim, inv, out.cos_sin_scale);
  } else if (r.type == RopeType::Llama3) {
    apply_llama3(r, inv);
  }
  out.inv_freq.assign(inv.begin(), inv.end());
  return out;
}

}  // namespace moe
