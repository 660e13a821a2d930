// Tests for src/information/flow_estimator.{h,cpp}: the flow estimate of I(X; Y) on samples of known
// mutual information (Gaussian and non-Gaussian), its Gaussian start, independence, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "information/correlated_gaussians.h"
#include "information/flow_estimator.h"

namespace genzoo {
namespace {

PairedSamples samples(int64_t d, double mi, int64_t n, const std::string& transform, uint64_t seed) {
  CorrelatedGaussianSpec spec;
  spec.dx = spec.dy = d;
  spec.samples = n;
  spec.mutual_information = mi;
  spec.transform = transform;
  spec.seed = seed;
  return correlated_gaussians(spec);
}

TEST(FlowEstimator, BivariateGaussianWithoutTraining) {
  // The start is the canonical correlation of the training split: for a Gaussian pair, the ML estimate.
  const PairedSamples s = samples(1, 1.0, 4000, "none", 1);
  FlowEstimatorOptions options;
  options.steps = 0;
  const FlowEstimate f = flow_mutual_information(s.x, 1, s.y, 1, s.n, options);
  EXPECT_NEAR(f.mi_nats, 1.0, 0.05);
  EXPECT_DOUBLE_EQ(f.mi_nats, f.mi_start_nats);
  EXPECT_NEAR(f.mi_heldout_nats, 1.0, 0.1);
  ASSERT_EQ(f.correlations.size(), 1u);
  EXPECT_NEAR(f.correlations[0], std::sqrt(1.0 - std::exp(-2.0)), 0.01);
}

TEST(FlowEstimator, RecoversTheInformationANonlinearMapHidesFromTheGaussianEstimate) {
  // half-cube coordinates: the canonical correlations understate I; the trained flows straighten them.
  const PairedSamples s = samples(3, 3.0, 6000, "half_cube", 2);
  FlowEstimatorOptions options;
  options.steps = 800;
  options.seed = 5;
  const FlowEstimate f = flow_mutual_information(s.x, 3, s.y, 3, s.n, options);
  EXPECT_LT(f.mi_start_nats, 2.85);
  EXPECT_NEAR(f.mi_nats, 3.0, 0.2);
  EXPECT_NEAR(f.mi_heldout_nats, 3.0, 0.3);
  EXPECT_GT(f.best_step, 0);
  ASSERT_EQ(f.correlations.size(), 3u);
}

TEST(FlowEstimator, IndependentSidesGiveNearZero) {
  const PairedSamples s = samples(2, 0.0, 3000, "asinh", 3);
  FlowEstimatorOptions options;
  options.steps = 100;
  const FlowEstimate f = flow_mutual_information(s.x, 2, s.y, 2, s.n, options);
  EXPECT_LT(f.mi_nats, 0.02);
  EXPECT_NEAR(f.mi_heldout_nats, 0.0, 0.02);
}

TEST(FlowEstimator, SameSeedSameEstimate) {
  const PairedSamples s = samples(2, 1.0, 500, "none", 4);
  FlowEstimatorOptions options;
  options.steps = 60;
  options.seed = 9;
  EXPECT_DOUBLE_EQ(flow_mutual_information(s.x, 2, s.y, 2, s.n, options).mi_nats,
                   flow_mutual_information(s.x, 2, s.y, 2, s.n, options).mi_nats);
}

TEST(FlowEstimator, RefusesMismatchedOrTooFewSamples) {
  EXPECT_THROW(flow_mutual_information({1, 2, 3}, 1, {1, 2}, 1, 3), ReduceError);
  EXPECT_THROW(flow_mutual_information({1, 2, 3, 4, 5}, 1, {1, 2, 3, 4, 5}, 1, 5), ReduceError);
}

}  // namespace
}  // namespace genzoo
