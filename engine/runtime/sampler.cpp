// sample_token and the Philox generator (see moe/sampler.h).
#include "moe/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "moe/error.h"

namespace moe {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

float philox_uniform(uint64_t seed, uint64_t step) {
  auto r =
      philox4x32_10({uint32_t(step), uint32_t(step >> 32), 0, 0}, {uint32_t(seed), uint32_t(seed >> 32)});
  return float(r[0] >> 8) * (1.0f / 16777216.0f);  // 24 random bits
}

SampleResult sample_token(std::span<const float> logits, const SamplingParams& p,
                          std::span<const int32_t> history, uint64_t step, int top_logprobs) {
  const int64_t V = int64_t(logits.size());
  if (V == 0) throw Error("sample_token: empty logits");
  SampleResult out;
  // Log-softmax of the raw logits for the reported logprobs.
  const float mx = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (float l : logits)
    z += std::exp(double(l - mx));
  const float log_z = float(std::log(z)) + mx;
  auto logprob = [&](int32_t id) { return logits[size_t(id)] - log_z; };

  std::vector<float> l(logits.begin(), logits.end());
  if (p.repetition_penalty != 1.0 || p.presence_penalty != 0.0) {
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= V) continue;
      float& v = l[size_t(id)];
      if (p.repetition_penalty != 1.0)
        v = v > 0 ? float(v / p.repetition_penalty) : float(v * p.repetition_penalty);
      v -= float(p.presence_penalty);
    }
  }
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  auto better = [&](int32_t a, int32_t b) {
    return l[size_t(a)] > l[size_t(b)] || (l[size_t(a)] == l[size_t(b)] && a < b);
  };

  if (p.temperature <= 0) {
    out.token = *std::min_element(order.begin(), order.end(), better);
  } else {
    // Candidates sorted best first, cut by top-k, then top-p and min-p on the tempered distribution.
    int64_t keep = p.top_k > 0 ? std::min<int64_t>(p.top_k, V) : V;
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), better);
    order.resize(size_t(keep));
    std::vector<double> prob(order.size());
    const double t = p.temperature, top = l[size_t(order[0])];
    double sum = 0;
    for (size_t i = 0; i < order.size(); ++i)
      sum += prob[i] = std::exp((l[size_t(order[i])] - top) / t);
    for (auto& q : prob)
      q /= sum;
    size_t n = order.size();
    if (p.top_p < 1.0) {
      double cum = 0;
      for (size_t i = 0; i < n; ++i) {
        cum += prob[i];
        if (cum >= p.top_p) {
          n = i + 1;
          break;
        }
      }
    }
    if (p.min_p > 0) {
      const double floor = p.min_p * prob[0];
      size_t m = 1;
      while (m < n && prob[m] >= floor)
        ++m;
      n = m;
    }
    double total = 0;
    for (size_t i = 0; i < n; ++i)
      total += prob[i];
    const double u = double(philox_uniform(p.seed, step)) * total;
    double cum = 0;
    out.token = order[n - 1];
    for (size_t i = 0; i < n; ++i) {
      cum += prob[i];
      if (u < cum) {
        out.token = order[i];
        break;
      }
    }
  }
  out.logprob = logprob(out.token);
  if (top_logprobs > 0) {
    std::vector<int32_t> best(static_cast<size_t>(V));
    std::iota(best.begin(), best.end(), 0);
    const int64_t k = std::min<int64_t>(top_logprobs, V);
    std::partial_sort(best.begin(), best.begin() + k, best.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    for (int64_t i = 0; i < k; ++i)
      out.top.push_back({best[size_t(i)], logprob(best[size_t(i)])});
  }
  return out;
}

}  // namespace moe
