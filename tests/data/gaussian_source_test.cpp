// Tests for src/data/gaussian_source.{h,cpp}: the gaussian pool has the job's mean and spectrum, one
// class, and is a pure function of the job seed.
#include <gtest/gtest.h>

#include <cmath>

#include "data/gaussian_source.h"
#include "job/job.h"

namespace genzoo {
namespace {

DataConfig gaussian_data() {
  DataConfig data;
  data.source = "gaussian";
  data.dimension = 3;
  data.mean = 0.5;
  data.spectrum = {4.0, 1.0, 0.25};
  data.pool = 20000;
  data.test_pool = 500;
  return data;
}

TEST(GaussianSource, PoolHasTheMeanAndSpectrum) {
  const Dataset d = gaussian_dataset(gaussian_data(), 7);
  EXPECT_EQ(d.name, "gaussian");
  ASSERT_EQ(d.train.size(), 20000);
  ASSERT_EQ(d.test.size(), 500);
  EXPECT_EQ(d.train.dim(), 3);
  EXPECT_TRUE(d.train.bytes.empty());  // not pixels
  EXPECT_EQ(d.train.indices_of_class(0).size(), 20000u);
  const double spectrum[3] = {4.0, 1.0, 0.25};
  for (int64_t j = 0; j < 3; ++j) {
    double mean = 0.0, square = 0.0;
    for (int64_t i = 0; i < d.train.size(); ++i) mean += d.train.image(i)[j] / 20000.0;
    for (int64_t i = 0; i < d.train.size(); ++i) square += std::pow(d.train.image(i)[j] - mean, 2) / 20000.0;
    // Standard errors: sqrt(λ / n) for the mean, λ sqrt(2 / n) for the variance; 5 of them.
    EXPECT_NEAR(mean, 0.5, 5.0 * std::sqrt(spectrum[j] / 20000.0)) << j;
    EXPECT_NEAR(square, spectrum[j], 5.0 * spectrum[j] * std::sqrt(2.0 / 20000.0)) << j;
  }
}

TEST(GaussianSource, SameSeedSamePoolAndTheDefaultSpectrumDecays) {
  DataConfig data = gaussian_data();
  data.pool = 50;
  EXPECT_EQ(gaussian_dataset(data, 3).train.pixels, gaussian_dataset(data, 3).train.pixels);
  EXPECT_NE(gaussian_dataset(data, 3).train.pixels, gaussian_dataset(data, 4).train.pixels);
  const Dataset d = gaussian_dataset(data, 3);
  EXPECT_NE(d.train.pixels, std::vector<float>(d.test.pixels.begin(), d.test.pixels.begin() + 150));  // test is not train
  data.spectrum.clear();
  EXPECT_EQ(data.gaussian_spectrum(), (std::vector<double>{2.0, 1.2, 2.0 * 0.36}));
}

// data.target = "linear": every row is [x, y] with y = xᵀw + σ ε. Least squares on the pool recovers
// w (within 5 standard errors σ / sqrt(n λ_j)) and the residual variance σ²; w is the job seed's.
TEST(GaussianSource, RegressionTargetIsLinearInXPlusTheNoise) {
  DataConfig data = gaussian_data();
  data.mean = 0.0;
  data.target = "linear";
  data.target_noise = 0.3;
  const Dataset d = gaussian_dataset(data, 11);
  ASSERT_EQ(d.train.dim(), 4);
  ASSERT_EQ(d.test.dim(), 4);
  const std::vector<double> w = regression_weights(data, 11);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w, regression_weights(data, 11));
  EXPECT_NE(w, regression_weights(data, 12));
  EXPECT_TRUE(regression_weights(gaussian_data(), 11).empty());
  // The spectrum is diagonal and the mean zero: the normal equations decouple up to sampling noise, so
  // solve them exactly (3 x 3, Gaussian elimination).
  double a[3][4] = {};
  const int64_t n = d.train.size();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = d.train.image(i);
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) a[r][c] += static_cast<double>(row[r]) * row[c];
      a[r][3] += static_cast<double>(row[r]) * row[3];
    }
  }
  for (int k = 0; k < 3; ++k) {
    for (int r = k + 1; r < 3; ++r) {
      const double f = a[r][k] / a[k][k];
      for (int c = k; c < 4; ++c) a[r][c] -= f * a[k][c];
    }
  }
  double fit[3];
  for (int k = 2; k >= 0; --k) {
    fit[k] = a[k][3];
    for (int c = k + 1; c < 3; ++c) fit[k] -= a[k][c] * fit[c];
    fit[k] /= a[k][k];
  }
  const double spectrum[3] = {4.0, 1.0, 0.25};
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(fit[j], w[j], 5.0 * 0.3 / std::sqrt(n * spectrum[j])) << j;
  double residual = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = d.train.image(i);
    residual += std::pow(row[3] - (w[0] * row[0] + w[1] * row[1] + w[2] * row[2]), 2) / static_cast<double>(n);
  }
  EXPECT_NEAR(residual, 0.09, 5.0 * 0.09 * std::sqrt(2.0 / static_cast<double>(n)));
}

}  // namespace
}  // namespace genzoo
