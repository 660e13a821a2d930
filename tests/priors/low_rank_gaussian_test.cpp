// Tests for src/priors/low_rank_gaussian.cpp against dense brute force on small random Gaussians:
// every Woodbury / determinant-lemma / r x r Cholesky shortcut must give what the P x P formulas give.
// Tolerances: all arithmetic is double on well-conditioned matrices (D >= 0.1, P <= 12, r <= 4), so
// the results agree to ~1e-13 relative; 1e-9 leaves room for any summation order while a wrong term
// (a missing F_B, a transposed L) is off by O(1).
#include "priors/low_rank_gaussian.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "common/rng.h"

namespace genzoo::test {
namespace {

using priors::LowRankGaussian;

constexpr double kTol = 1e-9;
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

LowRankGaussian random_gaussian(int64_t p, int64_t r, uint64_t seed) {
  Rng rng(seed);
  LowRankGaussian g;
  g.rank = r;
  for (int64_t i = 0; i < p; ++i) {
    g.mean.push_back(2.0 * rng.uniform() - 1.0);
    g.diag.push_back(0.1 + rng.uniform());
  }
  for (int64_t i = 0; i < p * r; ++i) g.factor.push_back(2.0 * rng.uniform() - 1.0);
  return g;
}

using Dense = std::vector<std::vector<double>>;

Dense covariance_of(const LowRankGaussian& g) {
  Dense s(g.size(), std::vector<double>(g.size()));
  for (int64_t i = 0; i < g.size(); ++i)
    for (int64_t j = 0; j < g.size(); ++j) s[i][j] = g.covariance(i, j);
  return s;
}

// Inverse and log-determinant of a symmetric positive definite matrix by Gauss-Jordan (brute force).
Dense inverse(Dense a, double* log_det = nullptr) {
  const size_t n = a.size();
  Dense inv(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) inv[i][i] = 1.0;
  double ld = 0.0;
  for (size_t c = 0; c < n; ++c) {
    const double pivot = a[c][c];
    ld += std::log(pivot);
    for (size_t j = 0; j < n; ++j) a[c][j] /= pivot, inv[c][j] /= pivot;
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r][c];
      for (size_t j = 0; j < n; ++j) a[r][j] -= f * a[c][j], inv[r][j] -= f * inv[c][j];
    }
  }
  if (log_det) *log_det = ld;
  return inv;
}

double dense_log_density(const LowRankGaussian& g, const std::vector<double>& x) {
  double log_det = 0.0;
  const Dense inv = inverse(covariance_of(g), &log_det);
  double q = 0.0;
  for (int64_t i = 0; i < g.size(); ++i)
    for (int64_t j = 0; j < g.size(); ++j) q += (x[i] - g.mean[i]) * inv[i][j] * (x[j] - g.mean[j]);
  return -0.5 * (q + log_det + static_cast<double>(g.size()) * kLog2Pi);
}

TEST(LowRankGaussian, LogDensityMatchesTheDenseFormula) {
  for (const int64_t r : {0, 1, 3}) {
    const LowRankGaussian g = random_gaussian(9, r, 11 + r);
    Rng rng(5);
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<double> x;
      for (int64_t i = 0; i < g.size(); ++i) x.push_back(3.0 * rng.uniform() - 1.5);
      const double dense = dense_log_density(g, x);
      EXPECT_NEAR(g.log_density(x), dense, kTol * std::fabs(dense)) << "rank " << r;
    }
  }
}

// Seed 004: p(x_B | x_A = a) = N(m_B + Σ_BA Σ_AA⁻¹ (a - m_A), Σ_BB - Σ_BA Σ_AA⁻¹ Σ_AB), brute force.
TEST(LowRankGaussian, ConditioningMatchesTheDenseFormulaAndKeepsTheForm) {
  const LowRankGaussian g = random_gaussian(10, 3, 21);
  const std::vector<int64_t> a_idx = {1, 4, 5, 8};
  const std::vector<double> a_val = {0.0, 0.0, 1.0, -0.5};
  std::vector<int64_t> b_idx = {0, 2, 3, 6, 7, 9};
  const LowRankGaussian c = priors::condition(g, a_idx, a_val);
  ASSERT_EQ(c.size(), 6);
  ASSERT_EQ(c.rank, 3);  // still diagonal plus rank r
  const Dense s = covariance_of(g);
  Dense s_aa(a_idx.size(), std::vector<double>(a_idx.size()));
  for (size_t i = 0; i < a_idx.size(); ++i)
    for (size_t j = 0; j < a_idx.size(); ++j) s_aa[i][j] = s[a_idx[i]][a_idx[j]];
  const Dense s_aa_inv = inverse(s_aa);
  for (size_t bi = 0; bi < b_idx.size(); ++bi) {
    const int64_t b = b_idx[bi];
    double mean = g.mean[b];
    for (size_t i = 0; i < a_idx.size(); ++i)
      for (size_t j = 0; j < a_idx.size(); ++j) mean += s[b][a_idx[i]] * s_aa_inv[i][j] * (a_val[j] - g.mean[a_idx[j]]);
    EXPECT_NEAR(c.mean[bi], mean, kTol) << "mean " << b;
    for (size_t bj = 0; bj < b_idx.size(); ++bj) {
      double cov = s[b][b_idx[bj]];
      for (size_t i = 0; i < a_idx.size(); ++i)
        for (size_t j = 0; j < a_idx.size(); ++j) cov -= s[b][a_idx[i]] * s_aa_inv[i][j] * s[a_idx[j]][b_idx[bj]];
      EXPECT_NEAR(c.covariance(bi, bj), cov, kTol) << "covariance " << b << ", " << b_idx[bj];
    }
  }
}

TEST(LowRankGaussian, MarginalKeepsMeanAndCovarianceOfTheKeptCoordinates) {
  const LowRankGaussian g = random_gaussian(8, 2, 31);
  const std::vector<int64_t> keep = {0, 3, 7};
  const LowRankGaussian m = priors::marginal(g, keep);
  for (size_t i = 0; i < keep.size(); ++i) {
    EXPECT_EQ(m.mean[i], g.mean[keep[i]]);
    for (size_t j = 0; j < keep.size(); ++j) EXPECT_NEAR(m.covariance(i, j), g.covariance(keep[i], keep[j]), kTol);
  }
}

// Conditioning on one set, then marginalizing another, in either order where both apply (the order of
// seed 004's φ: condition the outgoing weights on 0, integrate out the incoming ones).
TEST(LowRankGaussian, ConditionAndMarginalCommute) {
  const LowRankGaussian g = random_gaussian(12, 4, 41);
  const std::vector<int64_t> fixed = {2, 9};
  const std::vector<double> zeros = {0.0, 0.0};
  // Marginal first: keep everything but {5, 6}; the fixed ones are then at positions 2 and 7.
  const LowRankGaussian first_marginal =
      priors::condition(priors::marginal(g, {0, 1, 2, 3, 4, 7, 8, 9, 10, 11}), {2, 7}, zeros);
  // Condition first: the rest is {0,1,3,4,5,6,7,8,10,11}; drop 5 and 6 (positions 4 and 5).
  const LowRankGaussian first_condition = priors::marginal(priors::condition(g, fixed, zeros), {0, 1, 2, 3, 6, 7, 8, 9});
  ASSERT_EQ(first_marginal.size(), first_condition.size());
  for (int64_t i = 0; i < first_marginal.size(); ++i) {
    EXPECT_NEAR(first_marginal.mean[i], first_condition.mean[i], kTol);
    for (int64_t j = 0; j < first_marginal.size(); ++j)
      EXPECT_NEAR(first_marginal.covariance(i, j), first_condition.covariance(i, j), kTol);
  }
}

// F Fᵀ is the rank-r part of the members' sample covariance S: S F_k = λ_k F_k with |F_k|² = λ_k, the
// r largest eigenvalues; D is the rest of S's diagonal (no shrinkage, a tiny floor).
TEST(LowRankGaussian, FitMembersTakesThePrincipalDeviations) {
  const int64_t n = 6, p = 7, r = 2;
  Rng rng(51);
  std::vector<std::vector<float>> rows(n, std::vector<float>(p));
  for (auto& row : rows)
    for (int64_t i = 0; i < p; ++i) row[i] = static_cast<float>((i < 3 ? 3.0 : 0.5) * (rng.uniform() - 0.5));
  std::vector<const float*> members;
  for (const auto& row : rows) members.push_back(row.data());
  const LowRankGaussian g = priors::fit_members(members, p, r, 0.0, 1e-12);
  Dense s(p, std::vector<double>(p, 0.0));
  for (int64_t i = 0; i < p; ++i) {
    for (int64_t j = 0; j < p; ++j) {
      for (const auto& row : rows) s[i][j] += (row[i] - g.mean[i]) * (row[j] - g.mean[j]) / static_cast<double>(n - 1);
    }
  }
  double previous = INFINITY;
  for (int64_t k = 0; k < r; ++k) {
    double lambda = 0.0;
    for (int64_t i = 0; i < p; ++i) lambda += g.factor[i * r + k] * g.factor[i * r + k];
    EXPECT_LE(lambda, previous);
    previous = lambda;
    for (int64_t i = 0; i < p; ++i) {
      double sf = 0.0;
      for (int64_t j = 0; j < p; ++j) sf += s[i][j] * g.factor[j * r + k];
      EXPECT_NEAR(sf, lambda * g.factor[i * r + k], 1e-6 * lambda) << "component " << k << " row " << i;
    }
  }
  for (int64_t i = 0; i < p; ++i) EXPECT_NEAR(g.covariance(i, i), std::max(s[i][i], 1e-12), 1e-6 * s[i][i]) << i;
}

TEST(LowRankGaussian, ShrinkageMovesTheDiagonalTowardThePooledVariance) {
  std::vector<float> a = {0.0f, 0.0f, 0.0f}, b = {2.0f, 0.0f, 0.0f};
  const LowRankGaussian g = priors::fit_members({a.data(), b.data()}, 3, 0, 0.5, 1e-6);
  // Variances 2, 0, 0; pooled 2/3: D = 0.5 v + 0.5 * 2/3.
  EXPECT_NEAR(g.diag[0], 1.0 + 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(g.diag[1], 1.0 / 3.0, 1e-12);
}

// One member: no spread to measure, so the floor, not NaN.
TEST(LowRankGaussian, ASingleMemberGivesTheFloor) {
  std::vector<float> only = {0.5f, -1.0f};
  const LowRankGaussian g = priors::fit_members({only.data()}, 2, 0, 0.3, 1e-4);
  EXPECT_EQ(g.diag, (std::vector<double>{1e-4, 1e-4}));
  EXPECT_TRUE(std::isfinite(g.log_density({0.5, -1.0})));
  EXPECT_NEAR(g.log_density({0.5, -1.0}), -0.5 * (2.0 * std::log(1e-4) + 2.0 * kLog2Pi), 1e-9);
}

// A node's fit from its group's shifted Gram matrix (centred in O(n²)) equals the direct fit.
TEST(LowRankGaussian, FitFromTheGroupsGramEqualsTheDirectFit) {
  const int64_t n = 7, p = 11, r = 3;
  Rng rng(8);
  std::vector<std::vector<float>> rows(n, std::vector<float>(p));
  for (auto& row : rows)
    for (int64_t i = 0; i < p; ++i) row[i] = static_cast<float>(5.0 + rng.uniform());  // far from 0: centring matters
  std::vector<const float*> all;
  for (const auto& row : rows) all.push_back(row.data());
  std::vector<double> shift(p, 5.5);
  const std::vector<double> gram = priors::shifted_gram(all, p, shift);
  const std::vector<int64_t> subset = {0, 2, 3, 5, 6};
  std::vector<const float*> members;
  for (int64_t a : subset) members.push_back(all[a]);
  const std::vector<double> centred = priors::centred_gram(gram, n, subset);
  const LowRankGaussian direct = priors::fit_members(members, p, r, 0.2, 1e-9);
  const LowRankGaussian from_gram = priors::fit_members(members, p, r, 0.2, 1e-9, &centred);
  for (int64_t i = 0; i < p; ++i) {
    EXPECT_NEAR(direct.diag[i], from_gram.diag[i], 1e-9);
    for (int64_t j = 0; j < p; ++j) EXPECT_NEAR(direct.covariance(i, j), from_gram.covariance(i, j), 1e-9);
  }
}

// Members that are all one model: no deviation to take, so F = 0 and D = the floor, not NaN.
TEST(LowRankGaussian, IdenticalMembersGiveTheFloorAtAnyRank) {
  std::vector<float> model = {0.25f, -2.0f, 1.0f};
  const LowRankGaussian g = priors::fit_members({model.data(), model.data(), model.data(), model.data()}, 3, 2, 0.1, 1e-5);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(g.diag[i], 1e-5);
  for (double f : g.factor) EXPECT_EQ(f, 0.0);
  EXPECT_TRUE(std::isfinite(g.log_density({0.25, -2.0, 1.0})));
}

TEST(LowRankGaussian, PrecisionDiagonalIsTheDenseInversesDiagonal) {
  for (const int64_t r : {0, 2}) {
    const LowRankGaussian g = random_gaussian(8, r, 40 + r);
    const Dense inv = inverse(covariance_of(g));
    const std::vector<double> h = priors::precision_diagonal(g);
    for (int64_t i = 0; i < g.size(); ++i) EXPECT_NEAR(h[i], inv[i][i], 1e-10 * std::fabs(inv[i][i])) << i;
  }
}

// q_i = (F v₁)_i² / Σ_ii: the share of Var(w_i) along FFᵀ's top eigenvector, checked by power iteration.
TEST(LowRankGaussian, PrincipalVarianceSharesFollowTheTopDirection) {
  const LowRankGaussian g = random_gaussian(6, 2, 77);
  std::vector<double> u(6, 1.0);
  for (int it = 0; it < 500; ++it) {
    std::vector<double> next(6, 0.0);
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 6; ++j)
        for (int64_t k = 0; k < 2; ++k) next[i] += g.factor[i * 2 + k] * g.factor[j * 2 + k] * u[j];
    double norm = 0.0;
    for (double v : next) norm += v * v;
    for (int64_t i = 0; i < 6; ++i) u[i] = next[i] / std::sqrt(norm);
  }
  double lambda = 0.0;  // uᵀ F Fᵀ u
  for (int64_t k = 0; k < 2; ++k) {
    double s = 0.0;
    for (int64_t i = 0; i < 6; ++i) s += g.factor[i * 2 + k] * u[i];
    lambda += s * s;
  }
  const std::vector<double> q = priors::principal_variance_shares(g);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(q[i], lambda * u[i] * u[i] / g.covariance(i, i), 1e-9) << i;
    EXPECT_GE(q[i], 0.0);
    EXPECT_LE(q[i], 1.0);
  }
  const std::vector<double> none = priors::principal_variance_shares(random_gaussian(4, 0, 1));
  EXPECT_EQ(none, std::vector<double>(4, 0.0));
}

TEST(LowRankGaussian, BadSettingsAreRefusedNamingThem) {
  std::vector<float> a = {0.0f}, b = {1.0f};
  try {
    priors::fit_members({a.data(), b.data()}, 1, 2, 0.0, 1e-6);
    FAIL() << "rank >= members accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(priors::fit_members({a.data(), b.data()}, 1, 0, 1.5, 1e-6), ReduceError);
  EXPECT_THROW(priors::fit_members({a.data(), b.data()}, 1, 0, 0.0, 0.0), ReduceError);
  EXPECT_THROW(priors::condition(random_gaussian(4, 1, 1), {2, 1}, {0.0, 0.0}), ReduceError);
  EXPECT_THROW(priors::isotropic({0.0, 0.0}, -1.0), ReduceError);
}

TEST(LowRankGaussian, IsotropicIsTheClosedForm) {
  const LowRankGaussian g = priors::isotropic({1.0, 2.0, 3.0}, 0.25);
  const std::vector<double> x = {1.5, 2.0, 2.0};
  const double expected = -0.5 * ((0.25 + 0.0 + 1.0) / 0.25 + 3.0 * std::log(0.25) + 3.0 * kLog2Pi);
  EXPECT_NEAR(g.log_density(x), expected, 1e-12);
}

}  // namespace
}  // namespace genzoo::test
