// Tests for src/information/theorem.{h,cpp}: seed 000's closed forms against hand-worked small cases.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
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

}  // namespace
}  // namespace genzoo
