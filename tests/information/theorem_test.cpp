// Tests for src/information/theorem.{h,cpp}: seed 000's closed forms against hand-worked small cases.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "information/ksg.h"
#include "information/theorem.h"

namespace genzoo {
namespace {

const double kLog2PiE = std::log(2.0 * M_PI * M_E);

TEST(Theorem, EntropyAndSubsetInformation) {
  EXPECT_NEAR(gaussian_entropy({1.0}), 0.5 * kLog2PiE, 1e-12);
  EXPECT_NEAR(gaussian_entropy({2.0, 0.5}), kLog2PiE, 1e-12);  // |Σ| = 1
  // (1): n p H(x); with |Σ| small it goes negative, which no mutual information can.
  EXPECT_NEAR(theorem_subset_information(10, 0.5, {1.0, 1.0}), 5.0 * kLog2PiE, 1e-12);
  EXPECT_LT(theorem_subset_information(10, 0.5, {1e-3, 1e-3}), 0.0);
  EXPECT_THROW(gaussian_entropy({1.0, 0.0}), ReduceError);
}

TEST(Theorem, WeightInformationOfAPartialReconstruction) {
  // Σ = diag(4, 1); W2 W1 = diag(0.5, 0): the residual I - W2 W1 = diag(0.5, 1), so
  // |R Σ Rᵀ| = 0.25 · 4 · 1 and (2) = (m/2) log(4 / 1) = m log 2.
  const std::vector<double> sigma = {4, 0, 0, 1};
  const std::vector<double> w1 = {2.0, 0.0};   // [1, 2]
  const std::vector<double> w2 = {0.25, 0.0};  // [2, 1]
  const WeightInformation w = theorem_weight_information(10, sigma, w1, w2, 2, 1);
  EXPECT_NEAR(w.nats, 10.0 * std::log(2.0), 1e-9);
  EXPECT_EQ(w.residual_rank, 2);
  // The residual covariance is diag(1, 1); on its top d - k = 1 eigenvalue: (m/2)(log |Σ| - log 1).
  EXPECT_NEAR(w.residual_subspace, 5.0 * std::log(4.0), 1e-9);
}

TEST(Theorem, WeightInformationOfAProjectionIsInfinite) {
  // A converged rank-1 AE on Σ = diag(4, 1) reconstructs direction 1 exactly: I - W2 W1 = diag(0, 1) is
  // singular and (2) diverges; on the residual's own direction it is (m/2) log(4 · 1 / 1).
  const std::vector<double> sigma = {4, 0, 0, 1};
  const WeightInformation w = theorem_weight_information(6, sigma, {3.0, 0.0}, {1.0 / 3.0, 0.0}, 2, 1);
  EXPECT_TRUE(std::isinf(w.nats));
  EXPECT_EQ(w.residual_rank, 1);
  EXPECT_NEAR(w.residual_subspace, 3.0 * std::log(4.0), 1e-9);
}

TEST(Theorem, SingularValueInformationUsesTheTopEigenvalues) {
  // (3) = (m/4) (k log 2πe + 2 Σ_{i<=k} log λ_i), the eigenvalues in any order.
  EXPECT_NEAR(theorem_singular_information(8, 1, {1.0, 3.0}), 2.0 * (kLog2PiE + 2.0 * std::log(3.0)), 1e-12);
  EXPECT_NEAR(theorem_singular_information(4, 2, {3.0, 1.0}), kLog2PiE * 2 + 2 * std::log(3.0), 1e-12);
  EXPECT_THROW(theorem_singular_information(4, 3, {3.0, 1.0}), ReduceError);
}

TEST(Theorem, SymmetricEigenvaluesDescend) {
  const std::vector<double> values = symmetric_eigenvalues({2, 1, 1, 2}, 2);
  ASSERT_EQ(values.size(), 2u);
  EXPECT_NEAR(values[0], 3.0, 1e-12);
  EXPECT_NEAR(values[1], 1.0, 1e-12);
}

TEST(Theorem, SubsetMomentsAreTheMeanAndUpperCovariance) {
  const float values[] = {1, 2, 3, 6, 0, 0, 5, 10};  // 4 rows of d = 2
  const std::vector<double> m = subset_moments(values, 2, {0, 1});  // rows (1, 2), (3, 6)
  ASSERT_EQ(static_cast<int64_t>(m.size()), moment_dim(2));
  EXPECT_EQ(m, (std::vector<double>{2, 4, 1, 2, 4}));  // mean (2, 4); covariance [[1, 2], [2, 4]] (divided by m)
}

// check_theorem on a zoo whose statistic follows its subsets: the closed forms per model, KSG well above 0.
TEST(Theorem, CheckOnAZooWhoseWeightsFollowTheirSubsets) {
  TheoremZoo zoo;
  zoo.d = 2;
  zoo.k = 1;
  zoo.n = 100;
  zoo.p = 0.5;
  zoo.sigma = diagonal_matrix({4.0, 1.0});
  Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    const double a = 1.0 + 0.5 * rng.normal();
    zoo.m.push_back(50);
    zoo.w1.insert(zoo.w1.end(), {a, 0.0});          // W1 = [a, 0]
    zoo.w2.insert(zoo.w2.end(), {0.9 / a, 0.0});    // W2 W1 = diag(0.9, 0): finite (2)
    zoo.moments.insert(zoo.moments.end(), {a + 0.01 * rng.normal(), rng.normal(), rng.normal(), rng.normal(), rng.normal()});
  }
  const TheoremCheck check = check_theorem(zoo, 3, 100, 1);
  EXPECT_NEAR(check.subset_closed, 100 * 0.5 * gaussian_entropy({4.0, 1.0}), 1e-9);
  ASSERT_EQ(check.weight_closed.size(), 200u);
  // |Σ| / |R Σ Rᵀ| with R = diag(0.1, 1): 1 / 0.01, so (2) = 25 log 100.
  EXPECT_NEAR(check.weight_closed[0], 25.0 * std::log(100.0), 1e-6);
  EXPECT_NEAR(check.singular_closed[0], theorem_singular_information(50, 1, {4.0, 1.0}), 1e-12);
  // s = |a| is the first moment up to noise 0.01 (3.9 nats in truth). KSG, through 4 principal components of
  // 5 standardized moments (4 of them noise) on 200 models, sees well under that but clearly above 0.
  EXPECT_GT(check.s_ksg, 0.4);
  EXPECT_TRUE(std::isfinite(check.s_flow));  // 200 models are enough for the flow
  // KSG's sides: the 4 moment components, each standardized, and s = |a| standardized (k = 1: its principal
  // axis is s itself, up to sign). Equal up to rounding, which moves no neighbour count here.
  int64_t components = 0;
  const std::vector<double> pcs = principal_components(zoo.moments, 200, moment_dim(2), 4, &components);
  ASSERT_EQ(components, 4);
  std::vector<double> s;
  for (int i = 0; i < 200; ++i) s.push_back(std::abs(zoo.w1[2 * i]));
  EXPECT_NEAR(check.s_ksg, ksg_mutual_information(standardize_columns(pcs, 200, 4), 4, standardize_columns(s, 200, 1), 1, 200), 1e-9);
  // The control: moments that do not depend on the weights.
  for (size_t i = 0; i < zoo.moments.size(); i += 5) zoo.moments[i] = rng.normal();
  EXPECT_LT(check_theorem(zoo, 3, 100, 1).s_ksg, 0.2);
  zoo.m.resize(5);
  EXPECT_THROW(check_theorem(zoo), ReduceError);
}

// a [rows, inner] times b [inner, cols], row-major.
std::vector<double> product(const std::vector<double>& a, const std::vector<double>& b, int64_t rows, int64_t inner, int64_t cols) {
  std::vector<double> out(static_cast<size_t>(rows * cols), 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t l = 0; l < inner; ++l)
      for (int64_t j = 0; j < cols; ++j) out[i * cols + j] += a[i * inner + l] * b[l * cols + j];
  return out;
}

// The closed forms depend on Σ and W only through rotation-invariant determinants and eigenvalues: Σ = Q Λ Qᵀ
// with W1 Qᵀ and Q W2 gives what Λ gives with W1 and W2 (Q a Householder reflection, Q = Qᵀ = Q⁻¹). To 1e-8
// relative: the two differ only by the rounding of the products and of the eigendecompositions.
TEST(Theorem, CheckOnARotatedCovarianceMatchesItsDiagonalForm) {
  const int64_t d = 3, k = 2;
  const std::vector<double> v = {1.0, -2.0, 0.5};
  const double vv = 1.0 + 4.0 + 0.25;
  std::vector<double> q(static_cast<size_t>(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) q[i * d + j] = (i == j ? 1.0 : 0.0) - 2.0 * v[i] * v[j] / vv;
  TheoremZoo diagonal;
  diagonal.d = d;
  diagonal.k = k;
  diagonal.n = 200;
  diagonal.p = 0.3;
  diagonal.sigma = diagonal_matrix({3.0, 1.0, 0.5});
  Rng rng(5);
  for (int i = 0; i < 8; ++i) {
    diagonal.m.push_back(50 + i);
    for (int64_t j = 0; j < k * d; ++j) diagonal.w1.push_back(0.5 * rng.normal());
    for (int64_t j = 0; j < d * k; ++j) diagonal.w2.push_back(0.5 * rng.normal());
    for (int64_t j = 0; j < moment_dim(d); ++j) diagonal.moments.push_back(rng.normal());
  }
  TheoremZoo rotated = diagonal;
  rotated.sigma = product(product(q, diagonal.sigma, d, d, d), q, d, d, d);
  rotated.w1.clear();
  rotated.w2.clear();
  for (int i = 0; i < 8; ++i) {
    const std::vector<double> w1(diagonal.w1.begin() + i * k * d, diagonal.w1.begin() + (i + 1) * k * d);
    const std::vector<double> w2(diagonal.w2.begin() + i * d * k, diagonal.w2.begin() + (i + 1) * d * k);
    const std::vector<double> a = product(w1, q, k, d, d), b = product(q, w2, d, d, k);
    rotated.w1.insert(rotated.w1.end(), a.begin(), a.end());
    rotated.w2.insert(rotated.w2.end(), b.begin(), b.end());
  }
  const TheoremCheck expected = check_theorem(diagonal, 3, 0), got = check_theorem(rotated, 3, 0);
  EXPECT_NEAR(got.subset_closed, expected.subset_closed, 1e-9 * std::abs(expected.subset_closed));
  ASSERT_EQ(got.weight_closed.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(std::isfinite(expected.weight_closed[i]));  // random weights leave the residual non-singular
    EXPECT_NEAR(got.weight_closed[i], expected.weight_closed[i], 1e-8 * std::abs(expected.weight_closed[i])) << "model " << i;
    EXPECT_NEAR(got.weight_residual[i], expected.weight_residual[i], 1e-8 * (1.0 + std::abs(expected.weight_residual[i])))
        << "model " << i;
    EXPECT_NEAR(got.singular_closed[i], expected.singular_closed[i], 1e-9 * std::abs(expected.singular_closed[i])) << "model " << i;
  }
  // A Σ of the wrong size is an error, not a silent diagonal.
  rotated.sigma.resize(static_cast<size_t>(d));
  EXPECT_THROW(check_theorem(rotated), ReduceError);
}

}  // namespace
}  // namespace genzoo
