// Tests for src/information/estimators.{h,cpp}: the zoo-side set of estimators of
// I(proportions; features) on a synthetic zoo whose features are a noisy nonlinear map of its proportions.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "information/estimators.h"

namespace genzoo {
namespace {

// n models: proportions ~ Dirichlet(1) over 3 classes (2 free coordinates), features [n, dim] a fixed
// random nonlinear map of them plus noise.
void synthetic_zoo(int64_t n, int64_t dim, double noise, std::vector<float>& features, std::vector<double>& proportions) {
  Rng rng(21);
  std::vector<double> mix(static_cast<size_t>(dim * 2));
  for (double& v : mix) v = rng.normal();
  features.clear();
  proportions.clear();
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<double> p = rng.dirichlet(1.0, 3);
    proportions.insert(proportions.end(), {p[0], p[1]});
    for (int64_t j = 0; j < dim; ++j) {
      features.push_back(static_cast<float>(std::tanh(mix[j * 2] * p[0] + mix[j * 2 + 1] * p[1]) + noise * rng.normal()));
    }
  }
}

// Every estimator on n models of 20 features (300 training steps).
InformationEstimates estimates_of(const std::vector<float>& features, const std::vector<double>& proportions, int64_t n) {
  InformationOptions options;
  options.steps = 300;
  return estimate_information(features, 20, proportions, 2, n, options);
}

TEST(InformationEstimators, EveryEstimatorSeesTheDependence) {
  std::vector<float> features;
  std::vector<double> proportions;
  synthetic_zoo(300, 20, 0.05, features, proportions);
  const InformationEstimates e = estimates_of(features, proportions, 300);
  EXPECT_EQ(e.components, 4);
  ASSERT_EQ(e.nats.size(), 4u);
  for (const auto& [name, nats] : e.nats) {
    EXPECT_TRUE(std::isfinite(nats)) << name;
    EXPECT_GT(nats, 0.5) << name;  // features determine the proportions up to noise: well above 0
  }
  EXPECT_GT(e.autoencoder_mse, 0.0);
  EXPECT_LT(e.autoencoder_mse, 0.2);  // a 2-dimensional signal in 4 codes
  EXPECT_TRUE(std::isfinite(e.flow_heldout_nats));
}

TEST(InformationEstimators, NoiseFeaturesCarryLittle) {
  std::vector<float> features;
  std::vector<double> proportions;
  synthetic_zoo(300, 20, 0.05, features, proportions);
  Rng rng(5);
  for (float& f : features) f = static_cast<float>(rng.normal());
  const InformationEstimates e = estimates_of(features, proportions, 300);
  for (const auto& [name, nats] : e.nats) EXPECT_LT(nats, 0.25) << name;
  EXPECT_LT(e.flow_heldout_nats, 0.1);
}

TEST(InformationEstimators, FlowNeedsEnoughModelsAndConstantFeaturesGiveZero) {
  std::vector<float> features;
  std::vector<double> proportions;
  synthetic_zoo(40, 20, 0.05, features, proportions);
  InformationOptions options;
  options.steps = 50;
  EXPECT_EQ(flow_min_samples(4, 2), 60);
  const InformationEstimates few = estimate_information(features, 20, proportions, 2, 40, options);
  EXPECT_EQ(few.nats.count("flow"), 0u);
  EXPECT_EQ(few.nats.count("ksg_pca"), 1u);
  const InformationEstimates flat = estimate_information(std::vector<float>(features.size(), 1.0f), 20, proportions, 2, 40, options);
  EXPECT_EQ(flat.components, 0);
  for (const auto& [name, nats] : flat.nats) EXPECT_EQ(nats, 0.0) << name;
}

}  // namespace
}  // namespace genzoo
