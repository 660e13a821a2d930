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

}  // namespace
}  // namespace genzoo
