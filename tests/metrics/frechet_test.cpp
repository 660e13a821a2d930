// Tests for src/metrics/frechet.cpp: the Fréchet distance against closed forms (1-D, diagonal,
// commuting and non-commuting 2x2, scaled covariances) and an independent matrix square root
// (Denman–Beavers iteration); FID between halves of one sample is near 0 and far below FID against noise.
#include "metrics/frechet.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <vector>

#include "common/error.h"
#include "data/dataset.h"

namespace genzoo {
namespace {

using Matrix = std::vector<double>;  // square, row-major

Matrix multiply(const Matrix& a, const Matrix& b, int64_t n) {
  Matrix c(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

Matrix transpose(const Matrix& a, int64_t n) {
  Matrix t(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) t[j * n + i] = a[i * n + j];
  return t;
}

Matrix identity(int64_t n) {
  Matrix m(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) m[i * n + i] = 1.0;
  return m;
}

double trace(const Matrix& a, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += a[i * n + i];
  return sum;
}

// Gauss–Jordan with partial pivoting; the test matrices are well conditioned.
Matrix inverse(Matrix a, int64_t n) {
  Matrix inv = identity(n);
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::abs(a[r * n + col]) > std::abs(a[pivot * n + col])) pivot = r;
    for (int64_t j = 0; j < n; ++j) {
      std::swap(a[col * n + j], a[pivot * n + j]);
      std::swap(inv[col * n + j], inv[pivot * n + j]);
    }
    const double scale = 1.0 / a[col * n + col];
    for (int64_t j = 0; j < n; ++j) {
      a[col * n + j] *= scale;
      inv[col * n + j] *= scale;
    }
    for (int64_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const double factor = a[r * n + col];
      for (int64_t j = 0; j < n; ++j) {
        a[r * n + j] -= factor * a[col * n + j];
        inv[r * n + j] -= factor * inv[col * n + j];
      }
    }
  }
  return inv;
}

// Principal square root of a (non-symmetric) matrix with positive eigenvalues: an algorithm that shares
// nothing with the eigendecomposition route of the implementation.
Matrix denman_beavers_sqrt(const Matrix& m, int64_t n) {
  Matrix y = m;
  Matrix z = identity(n);
  for (int iteration = 0; iteration < 100; ++iteration) {
    const Matrix y_inverse = inverse(y, n);
    const Matrix z_inverse = inverse(z, n);
    for (int64_t i = 0; i < n * n; ++i) {
      y[i] = 0.5 * (y[i] + z_inverse[i]);
      z[i] = 0.5 * (z[i] + y_inverse[i]);
    }
  }
  return y;
}

// A A^T / rank with A [n, rank] standard normal: a random covariance, singular when rank < n.
Matrix random_covariance(int64_t n, int64_t rank, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Matrix a(n * rank);
  for (double& v : a) v = normal(rng);
  Matrix c(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < rank; ++k) c[i * n + j] += a[i * rank + k] * a[j * rank + k] / rank;
  return c;
}

std::vector<double> random_mean(int64_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> mean(n);
  for (double& v : mean) v = normal(rng);
  return mean;
}

Matrix diagonal(const std::vector<double>& values) {
  const int64_t n = static_cast<int64_t>(values.size());
  Matrix m(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) m[i * n + i] = values[i];
  return m;
}

Matrix rotation(double angle) { return {std::cos(angle), -std::sin(angle), std::sin(angle), std::cos(angle)}; }

double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  return sum;
}

// Tolerances: bounds on the rounding error of frechet_distance, derived from the arithmetic so that they
// hold for any IEEE double CPU and LAPACK (x86-64 or Arm, MKL, OpenBLAS, reference), not from one run.
//
// frechet_distance computes |m1 - m2|^2 + Tr S1 + Tr S2 - 2 sum_i sqrt(mu_i), mu_i the eigenvalues of
// M = R S2 R with R = S1^(1/2), all by symmetric eigendecompositions. Those are backward stable: each
// computed eigenvalue is exact for a matrix within p(n) eps ||A||_2 of A, p(n) a modest polynomial
// (LAPACK Users' Guide, section 4.7); we take p(n) = n, and forming R and R S2 R adds rounding of the
// same order. So every mu_i is off by at most
//   delta = n eps ||S1|| ||S2||   (Frobenius norms, which bound the 2-norms from above).
// sqrt then turns delta into at most delta / (2 sqrt(mu)) for an eigenvalue mu well away from 0, and at
// most sqrt(delta) always (|sqrt(a) - sqrt(b)| <= sqrt(|a - b|)): the regime of the zero eigenvalues of
// singular covariances, where the error is O(sqrt(eps)) and no tighter bound holds on any CPU.
constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

double frobenius(const Matrix& a) {
  double sum = 0.0;
  for (double v : a) sum += v * v;
  return std::sqrt(sum);
}

// delta above: the absolute error of one computed eigenvalue of R S2 R.
double eigenvalue_error(const Matrix& s1, const Matrix& s2, int64_t n) {
  return static_cast<double>(n) * kEpsilon * frobenius(s1) * frobenius(s2);
}

// The rounding of the sums |m1 - m2|^2 + Tr S1 + Tr S2: n eps relative to their size.
double sum_error(const std::vector<double>& mean1, const Matrix& s1, const std::vector<double>& mean2,
                 const Matrix& s2, int64_t n) {
  return static_cast<double>(n) * kEpsilon * (squared_distance(mean1, mean2) + trace(s1, n) + trace(s2, n));
}

// Any covariances, singular included: each of the n roots may be off by sqrt(delta), the distance by
// twice their sum.
double singular_tolerance(const std::vector<double>& mean1, const Matrix& s1, const std::vector<double>& mean2,
                          const Matrix& s2, int64_t n) {
  return 2.0 * static_cast<double>(n) * std::sqrt(eigenvalue_error(s1, s2, n)) + sum_error(mean1, s1, mean2, s2, n);
}

// Every eigenvalue of S1 S2 at least mu_min > 0 and S1 of condition number kappa1: the error of R
// (delta / (2 sqrt(lambda_min(S1))) by the same argument) reaches M amplified by sqrt(kappa1), and each
// root is off by at most delta sqrt(kappa1) / (2 sqrt(mu_min)).
double regular_tolerance(const std::vector<double>& mean1, const Matrix& s1, const std::vector<double>& mean2,
                         const Matrix& s2, int64_t n, double mu_min, double kappa1) {
  const double root_error = eigenvalue_error(s1, s2, n) * std::sqrt(kappa1) / (2.0 * std::sqrt(mu_min));
  return 2.0 * static_cast<double>(n) * root_error + sum_error(mean1, s1, mean2, s2, n);
}

// Eigenvalues of a 2x2 matrix with real eigenvalues (closed form), smallest first.
std::vector<double> eigenvalues_2x2(const Matrix& m) {
  const double half_trace = 0.5 * (m[0] + m[3]);
  const double det = m[0] * m[3] - m[1] * m[2];
  const double spread = std::sqrt(half_trace * half_trace - det);
  return {half_trace - spread, half_trace + spread};
}

TEST(Frechet, OneDimensionalGaussiansGiveMeanAndStdDifferencesSquared) {
  const double m1 = 1.0, s1 = 2.0, m2 = -0.5, s2 = 0.5;
  const double var1 = s1 * s1, var2 = s2 * s2;
  const double expected = (m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2);
  // S1 S2 = 1 = mu_min, condition number 1.
  const double tolerance = regular_tolerance({m1}, {var1}, {m2}, {var2}, 1, 1.0, 1.0);
  EXPECT_NEAR(frechet_distance(&m1, &var1, &m2, &var2, 1), expected, tolerance);
}

TEST(Frechet, DiagonalCovariancesSumPerAxisDistances) {
  const std::vector<double> mean1 = {0.0, 1.0, 2.0, -3.0};
  const std::vector<double> mean2 = {0.5, 1.0, -1.0, -3.0};
  const std::vector<double> var1 = {1.0, 4.0, 0.25, 9.0};
  const std::vector<double> var2 = {2.0, 1.0, 0.25, 0.0};  // a zero variance: a singular covariance
  double expected = squared_distance(mean1, mean2);
  for (size_t i = 0; i < var1.size(); ++i) expected += std::pow(std::sqrt(var1[i]) - std::sqrt(var2[i]), 2);
  // The zero eigenvalue of S1 S2 is the sqrt(delta) case (a LAPACK need not return diagonals exactly).
  const Matrix s1 = diagonal(var1), s2 = diagonal(var2);
  EXPECT_NEAR(frechet_distance(mean1.data(), s1.data(), mean2.data(), s2.data(), 4), expected,
              singular_tolerance(mean1, s1, mean2, s2, 4));
}

TEST(Frechet, CommutingTwoByTwoCovariancesMatchTheirCommonEigenbasis) {
  // S1 = Q D1 Q^T and S2 = Q D2 Q^T commute; the distance is the diagonal one of D1, D2.
  const Matrix q = rotation(0.7);
  const std::vector<double> d1 = {3.0, 0.5}, d2 = {1.0, 2.0};
  const Matrix s1 = multiply(multiply(q, diagonal(d1), 2), transpose(q, 2), 2);
  const Matrix s2 = multiply(multiply(q, diagonal(d2), 2), transpose(q, 2), 2);
  const std::vector<double> mean1 = {1.0, 2.0}, mean2 = {0.0, 0.0};
  double expected = squared_distance(mean1, mean2);
  for (int i = 0; i < 2; ++i) expected += std::pow(std::sqrt(d1[i]) - std::sqrt(d2[i]), 2);
  // Eigenvalues of S1 S2: d1 d2 = {3, 1}; condition number of S1: 3 / 0.5.
  const double tolerance = regular_tolerance(mean1, s1, mean2, s2, 2, 1.0, 6.0);
  EXPECT_NEAR(frechet_distance(mean1.data(), s1.data(), mean2.data(), s2.data(), 2), expected, tolerance);
}

TEST(Frechet, NonCommutingTwoByTwoCovariancesMatchTheClosedFormSquareRootTrace) {
  // For a 2x2 matrix M with positive eigenvalues, Tr(M^(1/2)) = sqrt(Tr M + 2 sqrt(det M)).
  const Matrix s1 = {2.0, 0.8, 0.8, 1.0};
  const Matrix s2 = {0.5, -0.3, -0.3, 3.0};
  const Matrix product = multiply(s1, s2, 2);
  ASSERT_GT(std::abs(product[1] - multiply(s2, s1, 2)[1]), 0.1) << "the covariances must not commute";
  const double det1 = s1[0] * s1[3] - s1[1] * s1[2];
  const double det2 = s2[0] * s2[3] - s2[1] * s2[2];
  const double trace_sqrt = std::sqrt(trace(product, 2) + 2.0 * std::sqrt(det1 * det2));
  const std::vector<double> mean1 = {0.3, -0.2}, mean2 = {-1.0, 0.4};
  const double expected = squared_distance(mean1, mean2) + trace(s1, 2) + trace(s2, 2) - 2.0 * trace_sqrt;
  const std::vector<double> lambda1 = eigenvalues_2x2(s1);
  const double tolerance =
      regular_tolerance(mean1, s1, mean2, s2, 2, eigenvalues_2x2(product)[0], lambda1[1] / lambda1[0]);
  EXPECT_NEAR(frechet_distance(mean1.data(), s1.data(), mean2.data(), s2.data(), 2), expected, tolerance);
}

TEST(Frechet, ScaledCovarianceGivesOneMinusRootScaleSquaredTimesTrace) {
  // S2 = c S1: Tr(S1 + c S1 - 2 sqrt(c) S1) = (1 - sqrt(c))^2 Tr S1.
  std::mt19937_64 rng(11);
  const int64_t n = 10;
  const Matrix s1 = random_covariance(n, n, rng);
  Matrix s2 = s1;
  for (double& v : s2) v *= 2.25;
  const std::vector<double> mean = random_mean(n, rng);
  // A square Gaussian covariance has eigenvalues down to ~1/n^2 of its largest: the sqrt(delta) bound.
  EXPECT_NEAR(frechet_distance(mean.data(), s1.data(), mean.data(), s2.data(), n), 0.25 * trace(s1, n),
              singular_tolerance(mean, s1, mean, s2, n));
}

TEST(Frechet, MatchesIndependentMatrixSquareRootForRandomCovariances) {
  std::mt19937_64 rng(12);
  for (int64_t n : {3, 6, 12}) {
    const Matrix s1 = random_covariance(n, n + 4, rng);
    const Matrix s2 = random_covariance(n, n + 4, rng);
    const std::vector<double> mean1 = random_mean(n, rng), mean2 = random_mean(n, rng);
    const double expected = squared_distance(mean1, mean2) + trace(s1, n) + trace(s2, n) -
                            2.0 * trace(denman_beavers_sqrt(multiply(s1, s2, n), n), n);
    // No bound on the smallest eigenvalue at hand: the sqrt(delta) bound. Denman-Beavers converges
    // quadratically to within ~eps cond(S1 S2) (~1e4 for these shapes), far inside it.
    EXPECT_NEAR(frechet_distance(mean1.data(), s1.data(), mean2.data(), s2.data(), n), expected,
                singular_tolerance(mean1, s1, mean2, s2, n))
        << "dimension " << n;
  }
}

TEST(Frechet, IdenticalDistributionsAreAtDistanceZero) {
  std::mt19937_64 rng(13);
  for (int64_t rank : {20, 5}) {  // full rank and singular
    const int64_t n = 20;
    const Matrix s = random_covariance(n, rank, rng);
    const std::vector<double> mean = random_mean(n, rng);
    const double distance = frechet_distance(mean.data(), s.data(), mean.data(), s.data(), n);
    EXPECT_GE(distance, 0.0);
    EXPECT_LE(distance, singular_tolerance(mean, s, mean, s, n)) << "rank " << rank;
  }
}

TEST(Frechet, IsSymmetric) {
  std::mt19937_64 rng(14);
  const int64_t n = 16;
  const Matrix s1 = random_covariance(n, n, rng), s2 = random_covariance(n, 4, rng);
  const std::vector<double> mean1 = random_mean(n, rng), mean2 = random_mean(n, rng);
  const double forward = frechet_distance(mean1.data(), s1.data(), mean2.data(), s2.data(), n);
  const double backward = frechet_distance(mean2.data(), s2.data(), mean1.data(), s1.data(), n);
  EXPECT_GT(forward, 1.0);
  // s2 has rank 4: 12 zero eigenvalues of S1 S2, each root off by up to sqrt(delta) in either direction
  // (one CPU measured 1.1e-7 absolute, 2e-9 relative, here). Each result is within the bound of the
  // true distance, so the two are within twice that of each other.
  EXPECT_NEAR(forward, backward, 2.0 * singular_tolerance(mean1, s1, mean2, s2, n));
}

TEST(Frechet, OrthogonalSingularCovariancesNeedNoInverse) {
  // diag(1, 0) and diag(0, 1): the product is 0, so the distance is Tr S1 + Tr S2 = 2.
  const std::vector<double> mean = {0.0, 0.0};
  const Matrix s1 = diagonal({1.0, 0.0}), s2 = diagonal({0.0, 1.0});
  EXPECT_NEAR(frechet_distance(mean.data(), s1.data(), mean.data(), s2.data(), 2), 2.0,
              singular_tolerance(mean, s1, mean, s2, 2));
}

TEST(Frechet, NonFiniteInputGivesNaN) {
  const std::vector<double> mean = {0.0, std::nan("")}, other = {0.0, 0.0};
  const Matrix s = identity(2);
  EXPECT_TRUE(std::isnan(frechet_distance(mean.data(), s.data(), other.data(), s.data(), 2)));
}

TEST(Frechet, GaussianStatsAreMeanAndUnbiasedCovariance) {
  // Three 2-D points: mean (2, 1); deviations (-1, -1), (0, 2), (1, -1).
  const std::vector<float> features = {1, 0, 2, 3, 3, 0};
  const GaussianStats stats = gaussian_stats(features.data(), 3, 2);
  EXPECT_EQ(stats.dim, 2);
  EXPECT_EQ(stats.count, 3);
  ASSERT_EQ(stats.mean.size(), 2u);
  EXPECT_DOUBLE_EQ(stats.mean[0], 2.0);
  EXPECT_DOUBLE_EQ(stats.mean[1], 1.0);
  const std::vector<double> expected = {2.0 / 2, 0.0 / 2, 0.0 / 2, 6.0 / 2};
  ASSERT_EQ(stats.covariance.size(), 4u);
  // Small integers: every sum and quotient here is exact in double; the tolerance only allows a few ulp.
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(stats.covariance[i], expected[i], 8 * kEpsilon * 3.0) << "entry " << i;
}

TEST(Frechet, GaussianStatsAndFidRejectBadShapes) {
  const std::vector<float> one = {1.0f, 2.0f};
  EXPECT_THROW(gaussian_stats(one.data(), 1, 2), Error);
  const std::vector<float> features = {1, 0, 2, 3, 3, 0};
  const GaussianStats two_d = gaussian_stats(features.data(), 3, 2);
  const GaussianStats one_d = gaussian_stats(features.data(), 6, 1);
  EXPECT_THROW(fid(two_d, one_d), Error);
}

// n samples of N(mean, L L^T) as floats [n, dim].
std::vector<float> gaussian_samples(const std::vector<double>& mean, const Matrix& factor, int64_t n,
                                    std::mt19937_64& rng) {
  const int64_t dim = static_cast<int64_t>(mean.size());
  std::normal_distribution<double> normal;
  std::vector<float> samples(n * dim);
  std::vector<double> z(dim);
  for (int64_t s = 0; s < n; ++s) {
    for (double& v : z) v = normal(rng);
    for (int64_t i = 0; i < dim; ++i) {
      double value = mean[i];
      for (int64_t k = 0; k < dim; ++k) value += factor[i * dim + k] * z[k];
      samples[s * dim + i] = static_cast<float>(value);
    }
  }
  return samples;
}

TEST(Frechet, FidBetweenHalvesOfOneGaussianSampleIsNearZeroAndFarBelowNoise) {
  std::mt19937_64 rng(15);
  const int64_t dim = 8, half = 10000;
  Matrix factor(dim * dim);
  std::normal_distribution<double> normal;
  for (double& v : factor) v = normal(rng);  // covariance factor * factor^T: random, correlated
  const std::vector<float> samples = gaussian_samples(random_mean(dim, rng), factor, 2 * half, rng);
  const GaussianStats first = gaussian_stats(samples.data(), half, dim);
  const GaussianStats second = gaussian_stats(samples.data() + half * dim, half, dim);

  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  std::vector<float> noise(half * dim);
  for (float& v : noise) v = uniform(rng);
  const GaussianStats noise_stats = gaussian_stats(noise.data(), half, dim);

  const double same = fid(first, second);
  const double against_noise = fid(first, noise_stats);
  // Sampling error of the fitted Gaussians is O(dim / half) relative to the total variance (~dim^2 here).
  EXPECT_LT(same, 0.5);
  EXPECT_LT(same, 0.01 * against_noise) << "same " << same << ", noise " << against_noise;
}

// 4x4 average pooling of 28x28 images: 49-dim pixel features.
std::vector<float> pooled_pixels(const ImageSet& images, int64_t first, int64_t count) {
  std::vector<float> features(count * 49, 0.0f);
  for (int64_t s = 0; s < count; ++s) {
    const float* image = images.image(first + s);
    for (int64_t y = 0; y < 28; ++y)
      for (int64_t x = 0; x < 28; ++x) features[s * 49 + (y / 4) * 7 + x / 4] += image[y * 28 + x] / 16.0f;
  }
  return features;
}

TEST(Frechet, FidBetweenHalvesOfFashionMnistTestSetIsNearZeroAndFarBelowUniformNoise) {
  const std::string dir = resolve_data_dir("");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no Fashion-MNIST at " << dir;
  const Dataset data = load_fashion_mnist(dir);
  const int64_t half = data.test.size() / 2;
  const std::vector<float> first = pooled_pixels(data.test, 0, half);
  const std::vector<float> second = pooled_pixels(data.test, half, half);

  ImageSet noise;
  noise.rows = noise.cols = 28;
  noise.labels.assign(half, 0);
  noise.pixels.resize(half * 784);
  std::mt19937_64 rng(16);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (float& v : noise.pixels) v = uniform(rng);
  const std::vector<float> noise_features = pooled_pixels(noise, 0, half);

  const GaussianStats first_stats = gaussian_stats(first.data(), half, 49);
  const GaussianStats second_stats = gaussian_stats(second.data(), half, 49);
  const GaussianStats noise_stats = gaussian_stats(noise_features.data(), half, 49);
  const double same = fid(first_stats, second_stats);
  const double against_noise = fid(first_stats, noise_stats);
  EXPECT_LT(same, 0.01 * against_noise) << "same " << same << ", noise " << against_noise;
  EXPECT_LT(same, 0.1);
}

}  // namespace
}  // namespace genzoo
