// route_token (see moe/router.h).
#include "moe/router.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace moe {
namespace {

// Indices of the k largest values, best first, ties to the lower index.
void top_k(std::span<const float> v, int64_t k, std::vector<int32_t>& idx) {
  idx.resize(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return v[size_t(a)] > v[size_t(b)] || (v[size_t(a)] == v[size_t(b)] && a < b);
  });
  idx.resize(size_t(k));
}

// Keeps the topk_group best groups (by group_score) and sets every other expert's score to 0.0.
void mask_groups(const ModelSpec& s, std::vector<float>& choice, bool top2_sum) {
  const int64_t per = s.num_experts / s.n_group;
  std::vector<float> group_score(size_t(s.n_group));
  for (int64_t g = 0; g < s.n_group; ++g) {
    std::span<const float> grp(choice.data() + g * per, size_t(per));
    if (top2_sum) {
      std::vector<int32_t> best;
      top_k(grp, 2, best);
      group_score[size_t(g)] = grp[size_t(best[0])] + grp[size_t(best[1])];
    } else {
      group_score[size_t(g)] = *std::max_element(grp.begin(), grp.end());
    }
  }
  std::vector<int32_t> keep;
  top_k(group_score, s.topk_group, keep);
  std::vector<char> kept(size_t(s.n_group), 0);
  for (int32_t g : keep)
    kept[size_t(g)] = 1;
  for (int64_t e = 0; e < s.num_experts; ++e)
    if (!kept[size_t(e / per)]) choice[size_t(e)] = 0.0f;
}

}  // namespace

void route_token(const ModelSpec& s, std::span<const float> logits, std::span<const float> score_bias,
                 int32_t* experts, float* weights) {
  const int64_t E = s.num_experts, k = s.top_k;
  std::vector<float> scores(static_cast<size_t>(E));
  if (s.router_score == RouterScore::Softmax) {
    float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (int64_t e = 0; e < E; ++e)
      sum += scores[size_t(e)] = std::exp(logits[size_t(e)] - mx);
    for (auto& x : scores)
      x = float(x / sum);
  } else {
    for (int64_t e = 0; e < E; ++e)
      scores[size_t(e)] = 1.0f / (1.0f + std::exp(-logits[size_t(e)]));
  }
  std::vector<float> choice = scores;
  if (!score_bias.empty())
    for (int64_t e = 0; e < E; ++e)
      choice[size_t(e)] += score_bias[size_t(e)];
  if (s.router_grouping != RouterGrouping::None && s.n_group > 1)
    mask_groups(s, choice, s.router_grouping == RouterGrouping::GroupTop2Sum);
  std::vector<int32_t> idx;
  top_k(choice, k, idx);
  for (int64_t i = 0; i < k; ++i) {
    experts[i] = idx[size_t(i)];
    weights[i] = scores[size_t(idx[size_t(i)])];  // weights from the unbiased scores
  }
  const bool deepseek = s.family == Family::DeepseekV2 || s.family == Family::DeepseekV3;
  if (s.norm_topk_prob && (!deepseek || k > 1)) {
    float sum = 0;
    for (int64_t i = 0; i < k; ++i)
      sum += weights[i];
    if (deepseek) sum += 1e-20f;
    for (int64_t i = 0; i < k; ++i)
      weights[i] /= sum;
  }
  // DeepSeek-V2's own code scales only when it does not renormalise; V3 always scales.
  const bool scale =
      s.family == Family::DeepseekV3 || (s.family == Family::DeepseekV2 && !(s.norm_topk_prob && k > 1));
  if (scale)
    for (int64_t i = 0; i < k; ++i)
      weights[i] *= float(s.routed_scaling_factor);
}

}  // namespace moe
