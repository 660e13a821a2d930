// Tests for src/information/ksg.{h,cpp}: the KSG estimator on Gaussians with known mutual
// information, the digamma function, and the principal-component projection.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "information/ksg.h"

namespace genzoo {
namespace {

// n samples of (x, y) standard bivariate normal with correlation rho.
void correlated_gaussians(double rho, int64_t n, uint64_t seed, std::vector<double>& x, std::vector<double>& y) {
  Rng rng(seed);
  x.clear();
  y.clear();
  for (int64_t i = 0; i < n; ++i) {
    const double a = rng.normal(), b = rng.normal();
    x.push_back(a);
    y.push_back(rho * a + std::sqrt(1.0 - rho * rho) * b);
  }
}

TEST(Information, DigammaMatchesKnownValues) {
  EXPECT_NEAR(digamma(1.0), -0.5772156649015329, 1e-10);
  EXPECT_NEAR(digamma(0.5), -1.9635100260214235, 1e-10);
  EXPECT_NEAR(digamma(10.0), 2.251752589066721, 1e-10);
  EXPECT_NEAR(digamma(1000.0), std::log(1000.0) - 1.0 / 2000.0, 1e-7);
}

// KSG with k = 3 on n = 1000 samples: its bias for Gaussians is below 0.01 nats and its standard
// deviation about 0.02 (Kraskov et al. 2004, fig. 4), so 0.06 nats is three standard deviations.
TEST(Information, KsgRecoversTheMutualInformationOfCorrelatedGaussians) {
  for (double rho : {0.0, 0.5, 0.9}) {
    std::vector<double> x, y;
    correlated_gaussians(rho, 1000, 42, x, y);
    const double expected = -0.5 * std::log(1.0 - rho * rho);
    EXPECT_NEAR(ksg_mutual_information(x, 1, y, 1, 1000, 3), expected, 0.06) << "rho " << rho;
  }
}

TEST(Information, KsgInTwoDimensionsAddsIndependentPairs) {
  // (x1, x2) against (y1, y2) with independent pairs of correlations 0.8 and 0.6: MI adds up.
  std::vector<double> x1, y1, x2, y2, x, y;
  correlated_gaussians(0.8, 1000, 1, x1, y1);
  correlated_gaussians(0.6, 1000, 2, x2, y2);
  for (int64_t i = 0; i < 1000; ++i) {
    x.insert(x.end(), {x1[i], x2[i]});
    y.insert(y.end(), {y1[i], y2[i]});
  }
  const double expected = -0.5 * std::log(1 - 0.64) - 0.5 * std::log(1 - 0.36);
  EXPECT_NEAR(ksg_mutual_information(x, 2, y, 2, 1000, 3), expected, 0.1);
}

TEST(Information, KsgIsNotFooledByTiedRows) {
  // Identical y for half the samples (as models of one probe dataset share proportions) and x
  // independent: no information.
  Rng rng(5);
  std::vector<double> x, y;
  for (int64_t i = 0; i < 400; ++i) {
    x.push_back(rng.normal());
    y.push_back(i % 2 ? 0.25 : rng.uniform());
  }
  EXPECT_NEAR(ksg_mutual_information(x, 1, y, 1, 400, 3), 0.0, 0.08);
}

TEST(Information, KsgRejectsTooFewSamplesAndMismatchedSizes) {
  EXPECT_THROW(ksg_mutual_information({1, 2, 3}, 1, {1, 2, 3}, 1, 3, 3), ReduceError);
  EXPECT_THROW(ksg_mutual_information({1, 2, 3, 4, 5}, 1, {1, 2, 3, 4}, 1, 5, 3), ReduceError);
}

TEST(Information, PrincipalComponentsDropConstantColumnsAndKeepTheLeadingAxes) {
  // Column 0 varies a lot, column 1 is constant, column 2 is a copy of column 0 plus small noise.
  Rng rng(9);
  std::vector<float> features;
  for (int64_t i = 0; i < 50; ++i) {
    const double a = rng.normal();
    features.insert(features.end(), {static_cast<float>(a), 7.0f, static_cast<float>(a + 0.01 * rng.normal())});
  }
  int64_t components = 0;
  const std::vector<double> projected = principal_components(features, 50, 3, 8, &components);
  EXPECT_EQ(components, 2);  // the constant column is gone
  ASSERT_EQ(projected.size(), 100u);
  double first = 0.0, second = 0.0;
  for (int64_t i = 0; i < 50; ++i) {
    first += projected[i * 2] * projected[i * 2];
    second += projected[i * 2 + 1] * projected[i * 2 + 1];
  }
  EXPECT_GT(first, 100.0 * second);  // nearly all variance on the first axis
  // The kept share: all of the varying columns' variance with both axes, first / (first + second) with one.
  double share = 0.0;
  principal_components(features, 50, 3, 8, &components, &share);
  EXPECT_NEAR(share, 1.0, 1e-12);
  principal_components(features, 50, 3, 1, &components, &share);
  EXPECT_NEAR(share, first / (first + second), 1e-12);
  principal_components(std::vector<float>(150, 7.0f), 50, 3, 2, &components, &share);
  EXPECT_EQ(components, 0);
  EXPECT_EQ(share, 1.0);  // nothing varies, nothing is left out
}

}  // namespace
}  // namespace genzoo
