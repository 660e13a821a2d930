// Tests for src/information/correlated_gaussians.{h,cpp}: the samples carry the mutual information the
// spec promises (checked through the sample covariances' Gaussian MI), the pairing and the transforms.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "information/correlated_gaussians.h"

namespace genzoo {
namespace {

// log det of the sample covariance of columns [begin, begin + d) of the joint [x | y] rows.
double log_det_covariance(const PairedSamples& s, bool take_x, bool take_y) {
  std::vector<std::vector<double>> rows;
  for (int64_t i = 0; i < s.n; ++i) {
    std::vector<double> r;
    if (take_x) r.insert(r.end(), s.x.begin() + i * s.dx, s.x.begin() + (i + 1) * s.dx);
    if (take_y) r.insert(r.end(), s.y.begin() + i * s.dy, s.y.begin() + (i + 1) * s.dy);
    rows.push_back(r);
  }
  const size_t d = rows[0].size();
  std::vector<double> mean(d, 0.0), c(d * d, 0.0);
  for (const auto& r : rows) for (size_t a = 0; a < d; ++a) mean[a] += r[a] / static_cast<double>(s.n);
  for (const auto& r : rows)
    for (size_t a = 0; a < d; ++a)
      for (size_t b = 0; b < d; ++b) c[a * d + b] += (r[a] - mean[a]) * (r[b] - mean[b]) / static_cast<double>(s.n);
  // Cholesky: log det = 2 Σ log L_ii.
  double log_det = 0.0;
  for (size_t j = 0; j < d; ++j) {
    for (size_t k = 0; k < j; ++k) c[j * d + j] -= c[j * d + k] * c[j * d + k];
    const double pivot = std::sqrt(c[j * d + j]);
    log_det += 2.0 * std::log(pivot);
    c[j * d + j] = pivot;
    for (size_t i = j + 1; i < d; ++i) {
      for (size_t k = 0; k < j; ++k) c[i * d + j] -= c[i * d + k] * c[j * d + k];
      c[i * d + j] /= pivot;
    }
  }
  return log_det;
}

TEST(CorrelatedGaussians, SampleCovarianceCarriesTheMutualInformation) {
  for (double mi : {0.5, 2.0, 6.0}) {
    CorrelatedGaussianSpec spec;
    spec.dx = 3;
    spec.dy = 2;
    spec.samples = 20000;
    spec.mutual_information = mi;
    spec.seed = 7;
    const PairedSamples s = correlated_gaussians(spec);
    ASSERT_EQ(s.x.size(), 60000u);
    ASSERT_EQ(s.y.size(), 40000u);
    EXPECT_DOUBLE_EQ(s.mutual_information, mi);
    // Gaussian MI: ½ (log |Σx| + log |Σy| - log |Σ|); 20,000 samples in 5 dimensions: bias ~ 1e-3.
    const double estimate = 0.5 * (log_det_covariance(s, true, false) + log_det_covariance(s, false, true) -
                                   log_det_covariance(s, true, true));
    EXPECT_NEAR(estimate, mi, 0.03 + 0.01 * mi) << "mi " << mi;
  }
}

TEST(CorrelatedGaussians, UnrotatedPairsHaveTheEvenCorrelation) {
  CorrelatedGaussianSpec spec;
  spec.dx = spec.dy = 4;
  spec.pairs = 2;
  spec.samples = 20000;
  spec.mutual_information = 2.0;  // 1 nat per pair: ρ² = 1 - e^{-2}
  spec.rotate = false;
  const PairedSamples s = correlated_gaussians(spec);
  const double rho = std::sqrt(1.0 - std::exp(-2.0));
  for (int64_t j = 0; j < 4; ++j) {
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (int64_t i = 0; i < s.n; ++i) {
      const double a = s.x[i * 4 + j], b = s.y[i * 4 + j];
      xy += a * b, xx += a * a, yy += b * b;
    }
    EXPECT_NEAR(xy / std::sqrt(xx * yy), j < 2 ? rho : 0.0, 0.02) << "coordinate " << j;
  }
}

TEST(CorrelatedGaussians, NuisanceScaleShrinksTheUninformativeCoordinates) {
  CorrelatedGaussianSpec spec;
  spec.dx = spec.dy = 3;
  spec.pairs = 1;
  spec.samples = 5000;
  spec.nuisance_scale = 0.1;
  spec.rotate = false;
  const PairedSamples s = correlated_gaussians(spec);
  double informative = 0.0, nuisance = 0.0;
  for (int64_t i = 0; i < s.n; ++i) informative += s.x[i * 3] * s.x[i * 3], nuisance += s.x[i * 3 + 2] * s.x[i * 3 + 2];
  EXPECT_NEAR(std::sqrt(nuisance / informative), 0.1, 0.01);
}

TEST(CorrelatedGaussians, TransformsAreCoordinateWiseBijectionsOfTheSameSample) {
  CorrelatedGaussianSpec spec;
  spec.dx = spec.dy = 2;
  spec.samples = 100;
  spec.seed = 3;
  const PairedSamples plain = correlated_gaussians(spec);
  spec.transform = "half_cube";
  const PairedSamples cube = correlated_gaussians(spec);
  spec.transform = "asinh";
  const PairedSamples asinh = correlated_gaussians(spec);
  for (size_t i = 0; i < plain.x.size(); ++i) {
    EXPECT_DOUBLE_EQ(cube.x[i], std::copysign(std::pow(std::abs(plain.x[i]), 1.5), plain.x[i]));
    EXPECT_DOUBLE_EQ(asinh.y[i], std::asinh(plain.y[i]));
  }
}

TEST(CorrelatedGaussians, ImpossibleSpecsNameTheField) {
  const auto message = [](CorrelatedGaussianSpec spec) {
    try {
      correlated_gaussians(spec);
    } catch (const ReduceError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CorrelatedGaussianSpec spec;
  spec.pairs = 2;
  EXPECT_NE(message(spec).find("pairs"), std::string::npos);
  spec = {};
  spec.mutual_information = -1;
  EXPECT_NE(message(spec).find("mutual_information"), std::string::npos);
  spec = {};
  spec.transform = "cube";
  EXPECT_NE(message(spec).find("half_cube"), std::string::npos);
  spec = {};
  spec.dx = 0;
  EXPECT_NE(message(spec).find("dx"), std::string::npos);
}

}  // namespace
}  // namespace genzoo
