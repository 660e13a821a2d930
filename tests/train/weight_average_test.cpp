// WeightAverage (FamilyConfig::ema_decay) against the weighted mean it stands for.
#include "train/weight_average.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace genzoo::test {
namespace {

// After iterates w_1 .. w_t the read average is Σ_s (1 - d) d^(t-s) w_s / (1 - d^t): after one
// iterate it is that iterate, and a constant sequence averages to itself.
TEST(WeightAverage, ReadsTheBiasCorrectedWeightedMeanOfTheIterates) {
  constexpr double kDecay = 0.9;
  const WeightAverage average(kDecay);
  ASSERT_TRUE(average.enabled());
  const std::vector<std::vector<float>> iterates{{1.0f, -2.0f, 0.5f}, {3.0f, 0.0f, 0.5f}, {-1.0f, 4.0f, 0.5f}};
  std::vector<float> running(3, 0.0f), read(3);
  for (size_t t = 1; t <= iterates.size(); ++t) {
    average.accumulate(running.data(), iterates[t - 1].data(), 3);
    average.read(running.data(), 3, static_cast<int64_t>(t), read.data());
    for (int i = 0; i < 3; ++i) {
      double sum = 0.0, weights = 0.0;
      for (size_t s = 1; s <= t; ++s) {
        const double weight = std::pow(kDecay, static_cast<double>(t - s));
        sum += weight * iterates[s - 1][i];
        weights += weight;
      }
      EXPECT_NEAR(read[i], sum / weights, 1e-6) << "step " << t << ", element " << i;
    }
    EXPECT_NEAR(read[2], 0.5f, 1e-7) << "a constant element averages to itself";
  }
  EXPECT_NEAR(average.correction(1), 10.0, 1e-9);
  EXPECT_NEAR(average.correction(3), 1.0 / (1.0 - 0.729), 1e-9);
}

TEST(WeightAverage, DecayZeroIsOff) { EXPECT_FALSE(WeightAverage(0.0).enabled()); }

}  // namespace
}  // namespace genzoo::test
