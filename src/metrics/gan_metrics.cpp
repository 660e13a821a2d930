#include "metrics/gan_metrics.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "common/error.h"

namespace genzoo {

double js_from_discriminator_loss(double objective) {
  if (std::isnan(objective)) return objective;
  const double log2 = std::log(2.0);
  return std::clamp((objective + 2.0 * log2) / 2.0, 0.0, log2);
}

double js_from_discriminator_bce(double bce_loss) { return js_from_discriminator_loss(-bce_loss); }

ModeCoverage mode_coverage(const std::vector<int64_t>& predicted, const std::vector<int64_t>& model_classes,
                           const std::vector<double>& proportions, double min_share) {
  if (predicted.empty()) throw Error("mode_coverage: no generated samples");
  if (model_classes.empty()) throw Error("mode_coverage: the model has no classes");
  if (model_classes.size() != proportions.size()) {
    throw Error("mode_coverage: " + std::to_string(model_classes.size()) + " model classes but " +
                std::to_string(proportions.size()) + " proportions");
  }
  const int64_t num_classes = static_cast<int64_t>(model_classes.size());
  std::unordered_map<int64_t, int64_t> bin_of_class;
  double proportion_sum = 0.0;
  for (int64_t k = 0; k < num_classes; ++k) {
    if (!bin_of_class.emplace(model_classes[k], k).second) {
      throw Error("mode_coverage: class " + std::to_string(model_classes[k]) + " appears twice in the model's classes");
    }
    if (!(proportions[k] >= 0.0)) {
      throw Error("mode_coverage: proportion of class " + std::to_string(model_classes[k]) + " is " +
                  std::to_string(proportions[k]));
    }
    proportion_sum += proportions[k];
  }
  if (!(proportion_sum > 0.0)) throw Error("mode_coverage: the proportions sum to 0");

  const int64_t other_bin = num_classes;
  std::vector<int64_t> counts(num_classes + 1, 0);
  for (int64_t label : predicted) {
    auto found = bin_of_class.find(label);
    ++counts[found == bin_of_class.end() ? other_bin : found->second];
  }

  ModeCoverage coverage;
  coverage.histogram.resize(num_classes + 1);
  const double total = static_cast<double>(predicted.size());
  for (int64_t bin = 0; bin <= num_classes; ++bin) coverage.histogram[bin] = counts[bin] / total;
  double absolute_difference = coverage.histogram[other_bin];  // target share of "other" is 0
  for (int64_t k = 0; k < num_classes; ++k) {
    const double target = proportions[k] / proportion_sum;
    absolute_difference += std::abs(coverage.histogram[k] - target);
    if (coverage.histogram[k] >= min_share) ++coverage.classes_found;
    if (target >= min_share) ++coverage.classes_expected;
  }
  coverage.total_variation = 0.5 * absolute_difference;
  return coverage;
}

}  // namespace genzoo
