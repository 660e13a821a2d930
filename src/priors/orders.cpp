#include "priors/orders.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/text.h"

namespace genzoo::priors {

namespace {

// -½ m_Sᵀ Σ_S⁻¹ m_S: log N(0 | m_S, Σ_S) - log N(m_S | m_S, Σ_S).
double log_density_ratio(const LowRankGaussian& g, const std::vector<int64_t>& unit) {
  return -0.5 * marginal(g, unit).mahalanobis(nullptr);
}

}  // namespace

const std::vector<std::string>& removal_orders() {
  static const std::vector<std::string> orders = {"last", "random", "density_ratio", "obd", "belsley", "gradient_covariance"};
  return orders;
}

void check_removal_order(const std::string& order) {
  if (std::find(removal_orders().begin(), removal_orders().end(), order) == removal_orders().end()) {
    throw ReduceError("alignment: unknown removal order '" + order + "' (known: " + join(removal_orders()) + ")");
  }
}

std::vector<int64_t> unit_weights(const Layout& layout, const UnitSlices& slices, int64_t j) {
  std::vector<TensorSlice> all = slices.entering;
  all.insert(all.end(), slices.leaving.begin(), slices.leaving.end());
  return slices_indices(layout, all, j);
}

int64_t pick_unit(const std::string& order, const LowRankGaussian& g, const Layout& layout, const UnitSlices& slices,
                  int64_t count, Rng& rng, const std::vector<double>* gradient_variance) {
  check_removal_order(order);
  if (order == "last") return count - 1;
  if (order == "random") return std::min<int64_t>(count - 1, static_cast<int64_t>(rng.uniform() * static_cast<double>(count)));
  // The scored orders: higher is removed first.
  std::vector<double> per_weight;
  if (order == "obd") {
    per_weight = precision_diagonal(g);
    for (int64_t i = 0; i < g.size(); ++i) per_weight[i] = -0.5 * per_weight[i] * g.mean[i] * g.mean[i];
  } else if (order == "belsley") {
    per_weight = principal_variance_shares(g);
  } else if (order == "gradient_covariance") {
    if (!gradient_variance || static_cast<int64_t>(gradient_variance->size()) != g.size()) {
      throw ReduceError("alignment: the gradient_covariance order needs the gradients' variance of every weight (" +
                        std::to_string(gradient_variance ? gradient_variance->size() : 0) + " for " +
                        std::to_string(g.size()) + " weights)");
    }
    per_weight.resize(g.size());
    for (int64_t i = 0; i < g.size(); ++i) per_weight[i] = -(*gradient_variance)[i];
  }
  // Scores in parallel (each reads the Gaussian only), the argmax in index order: ties go to the
  // highest index whatever the thread count.
  std::vector<double> scores(count);
#pragma omp parallel for schedule(dynamic)
  for (int64_t j = 0; j < count; ++j) {
    const std::vector<int64_t> weights = unit_weights(layout, slices, j);
    double score = 0.0;
    if (order == "density_ratio") {
      score = log_density_ratio(g, weights);
    } else {
      for (int64_t i : weights) score += per_weight[i];
      if (order == "belsley") score /= static_cast<double>(weights.size());
    }
    scores[j] = score;
  }
  int64_t best_unit = count - 1;
  double best = -std::numeric_limits<double>::infinity();
  for (int64_t j = count - 1; j >= 0; --j) {
    if (scores[j] > best) best = scores[j], best_unit = j;
  }
  return best_unit;
}

}  // namespace genzoo::priors
