// Tests for src/metrics/gan_metrics.cpp: the JS estimate at its known points (indistinguishable,
// perfectly separated, in between) with its sign convention, and mode coverage on hand-made label sets.
#include "metrics/gan_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"

namespace genzoo {
namespace {

const double kLog2 = std::log(2.0);

TEST(GanMetrics, JsIsZeroWhenTheDiscriminatorCannotTellRealFromFake) {
  // D = 1/2 everywhere: L = log(1/2) + log(1/2) = -2 log 2.
  EXPECT_NEAR(js_from_discriminator_loss(2.0 * std::log(0.5)), 0.0, 1e-15);
  EXPECT_NEAR(js_from_discriminator_bce(2.0 * kLog2), 0.0, 1e-15);
}

TEST(GanMetrics, JsIsLog2WhenTheDiscriminatorSeparatesPerfectly) {
  EXPECT_NEAR(js_from_discriminator_loss(0.0), kLog2, 1e-15);
  EXPECT_NEAR(js_from_discriminator_bce(0.0), kLog2, 1e-15);
}

TEST(GanMetrics, JsInBetweenFollowsTheFormulaAndTheBceIsTheNegatedObjective) {
  // D(x) = 0.8 on real, D(G(z)) = 0.3 on fake: L = log 0.8 + log 0.7.
  const double objective = std::log(0.8) + std::log(0.7);
  const double expected = (objective + 2.0 * kLog2) / 2.0;
  ASSERT_GT(expected, 0.0);
  ASSERT_LT(expected, kLog2);
  EXPECT_NEAR(js_from_discriminator_loss(objective), expected, 1e-15);
  EXPECT_NEAR(js_from_discriminator_bce(-objective), expected, 1e-15);
}

TEST(GanMetrics, JsIsClampedToItsRangeAndKeepsNaN) {
  // A discriminator worse than chance (L < -2 log 2) says nothing beyond JS >= 0.
  EXPECT_EQ(js_from_discriminator_loss(-5.0), 0.0);
  EXPECT_EQ(js_from_discriminator_loss(0.5), kLog2);  // impossible objective (> 0) from a bad caller
  EXPECT_TRUE(std::isnan(js_from_discriminator_loss(std::nan(""))));
}

TEST(GanMetrics, ModeCoverageOfAFaithfulGeneratorFindsEveryClass) {
  // Classes 2, 5, 7 with proportions 0.5, 0.3, 0.2; 10 samples generated in exactly those shares.
  const std::vector<int64_t> predicted = {2, 2, 2, 2, 2, 5, 5, 5, 7, 7};
  const ModeCoverage coverage = mode_coverage(predicted, {2, 5, 7}, {0.5, 0.3, 0.2});
  EXPECT_EQ(coverage.classes_found, 3);
  EXPECT_EQ(coverage.classes_expected, 3);
  const std::vector<double> expected = {0.5, 0.3, 0.2, 0.0};
  ASSERT_EQ(coverage.histogram.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(coverage.histogram[i], expected[i], 1e-15) << "bin " << i;
  EXPECT_NEAR(coverage.total_variation, 0.0, 1e-15);
}

TEST(GanMetrics, ModeCoverageOfACollapsedGeneratorFindsOneClass) {
  const std::vector<int64_t> predicted(8, 5);
  const ModeCoverage coverage = mode_coverage(predicted, {2, 5, 7}, {0.5, 0.3, 0.2});
  EXPECT_EQ(coverage.classes_found, 1);
  EXPECT_EQ(coverage.classes_expected, 3);
  EXPECT_NEAR(coverage.histogram[1], 1.0, 1e-15);
  // 1/2 (|0 - 0.5| + |1 - 0.3| + |0 - 0.2|) = 0.7
  EXPECT_NEAR(coverage.total_variation, 0.7, 1e-15);
}

TEST(GanMetrics, ModeCoverageCountsForeignClassesInTheOtherBin) {
  // 20 samples: 9 of class 0, 1 of class 1 (share 0.05, just found), 10 of classes outside the mixture.
  std::vector<int64_t> predicted(9, 0);
  predicted.push_back(1);
  for (int i = 0; i < 10; ++i) predicted.push_back(3 + i % 4);
  // Unnormalized proportions 3:1 are normalized to 0.75, 0.25.
  const ModeCoverage coverage = mode_coverage(predicted, {0, 1}, {3.0, 1.0});
  EXPECT_EQ(coverage.classes_found, 2);
  EXPECT_EQ(coverage.classes_expected, 2);
  const std::vector<double> expected = {0.45, 0.05, 0.5};
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(coverage.histogram[i], expected[i], 1e-15) << "bin " << i;
  // 1/2 (|0.45 - 0.75| + |0.05 - 0.25| + 0.5) = 0.5
  EXPECT_NEAR(coverage.total_variation, 0.5, 1e-15);
}

TEST(GanMetrics, ModeCoverageThresholdAppliesToSharesAndProportions) {
  // Class 9 has a 0.02 target share: not expected at min_share 0.05, and its 1-in-100 sample is not "found".
  std::vector<int64_t> predicted(99, 4);
  predicted.push_back(9);
  const ModeCoverage coverage = mode_coverage(predicted, {4, 9}, {0.98, 0.02});
  EXPECT_EQ(coverage.classes_found, 1);
  EXPECT_EQ(coverage.classes_expected, 1);
  const ModeCoverage strict = mode_coverage(predicted, {4, 9}, {0.98, 0.02}, 0.01);
  EXPECT_EQ(strict.classes_found, 2);
  EXPECT_EQ(strict.classes_expected, 2);
  EXPECT_NEAR(strict.total_variation, 0.01, 1e-12);
}

TEST(GanMetrics, ModeCoverageRejectsInconsistentInput) {
  EXPECT_THROW(mode_coverage({}, {0, 1}, {0.5, 0.5}), Error);
  EXPECT_THROW(mode_coverage({0}, {0, 1}, {1.0}), Error);
  EXPECT_THROW(mode_coverage({0}, {0, 0}, {0.5, 0.5}), Error);
  EXPECT_THROW(mode_coverage({0}, {0, 1}, {1.5, -0.5}), Error);
  EXPECT_THROW(mode_coverage({0}, {0, 1}, {0.0, 0.0}), Error);
}

}  // namespace
}  // namespace genzoo
