// Tests for src/priors/alignment.cpp: φ against the dense conditional-then-marginal formula of seed 004
// on a small two-layer model, its layouts, the order independence of removals, and the seed's example.
#include "priors/alignment.h"
#include "priors/orders.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"

namespace genzoo::test {
namespace {

using priors::LowRankGaussian;

// An autoencoder-shaped layout: 5 inputs -> 3 code units -> 5 outputs (linear_ae's tensors, small).
Layout small_layout() {
  Layout layout;
  add_param(layout, "encoder.weight", "encoder", {3, 5});
  add_param(layout, "encoder.bias", "encoder", {3});
  add_param(layout, "decoder.weight", "decoder", {5, 3});
  add_param(layout, "decoder.bias", "decoder", {5});
  return layout;
}

const priors::UnitSlices kCodeUnit{{{"encoder.weight", 0}, {"encoder.bias", 0}}, {{"decoder.weight", 1}}};

LowRankGaussian random_gaussian(int64_t p, int64_t r, uint64_t seed) {
  Rng rng(seed);
  LowRankGaussian g;
  g.rank = r;
  for (int64_t i = 0; i < p; ++i) g.mean.push_back(2.0 * rng.uniform() - 1.0), g.diag.push_back(0.2 + rng.uniform());
  for (int64_t i = 0; i < p * r; ++i) g.factor.push_back(rng.uniform() - 0.5);
  return g;
}

TEST(Alignment, SliceIndicesAreTheRowOrColumnInLayoutOrder) {
  const Layout layout = small_layout();
  EXPECT_EQ(priors::slice_indices(layout, {"encoder.weight", 0}, 1), (std::vector<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(priors::slice_indices(layout, {"encoder.bias", 0}, 2), (std::vector<int64_t>{17}));
  // decoder.weight starts at 18: column 1 of [5, 3].
  EXPECT_EQ(priors::slice_indices(layout, {"decoder.weight", 1}, 1), (std::vector<int64_t>{19, 22, 25, 28, 31}));
  EXPECT_THROW(priors::slice_indices(layout, {"decoder.weight", 1}, 3), ReduceError);
  EXPECT_THROW(priors::slice_indices(layout, {"encoder.fc.weight", 0}, 0), ReduceError);
}

// φ = condition the leaving weights on 0, then integrate out the entering ones: the result must be
// the teacher's conditional Gaussian restricted to the kept weights (brute force through condition on
// every coordinate's covariance, which LowRankGaussian tests check against dense algebra).
TEST(Alignment, RemovingAUnitConditionsItsOutgoingWeightsAndDropsItsIncomingOnes) {
  const Layout layout = small_layout();
  const LowRankGaussian g = random_gaussian(layout_size(layout), 3, 7);
  const auto student = priors::remove_unit(g, layout, kCodeUnit, 1);
  ASSERT_EQ(student.layout.size(), 4u);
  EXPECT_EQ(student.layout[0].shape, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(student.layout[1].shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(student.layout[2].shape, (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(student.layout[3].offset, 22);  // 10 + 2 + 10
  ASSERT_EQ(student.gaussian.size(), layout_size(student.layout));
  EXPECT_EQ(student.gaussian.rank, 3);

  const std::vector<int64_t> leaving = priors::slice_indices(layout, {"decoder.weight", 1}, 1);
  const LowRankGaussian conditioned = priors::condition(g, leaving, std::vector<double>(leaving.size(), 0.0));
  // Teacher coordinates the student keeps, in order; and their positions after conditioning.
  std::vector<int64_t> kept_teacher, kept_position;
  for (int64_t i = 0, position = 0; i < g.size(); ++i) {
    const bool leaves = std::find(leaving.begin(), leaving.end(), i) != leaving.end();
    const bool enters = (i >= 5 && i < 10) || i == 16;
    if (!leaves && !enters) kept_teacher.push_back(i), kept_position.push_back(position);
    if (!leaves) ++position;
  }
  EXPECT_EQ(student.kept, kept_teacher);
  ASSERT_EQ(static_cast<int64_t>(kept_teacher.size()), student.gaussian.size());
  for (size_t a = 0; a < kept_position.size(); ++a) {
    EXPECT_NEAR(student.gaussian.mean[a], conditioned.mean[kept_position[a]], 1e-12);
    for (size_t b = 0; b < kept_position.size(); ++b) {
      EXPECT_NEAR(student.gaussian.covariance(a, b), conditioned.covariance(kept_position[a], kept_position[b]), 1e-12);
    }
  }
  // The student's encoder.bias[1] is the teacher's encoder.bias[2] (index 17).
  EXPECT_EQ(kept_teacher[11], 17);
}

// Removing units 0 and 1 in either order gives the same student (φ ∘ φ commutes).
TEST(Alignment, RemovalsCommute) {
  const Layout layout = small_layout();
  const LowRankGaussian g = random_gaussian(layout_size(layout), 2, 9);
  const auto first_zero = priors::remove_unit(priors::remove_unit(g, layout, kCodeUnit, 0).gaussian,
                                              priors::remove_unit(g, layout, kCodeUnit, 0).layout, kCodeUnit, 0);
  const auto one = priors::remove_unit(g, layout, kCodeUnit, 1);
  const auto first_one = priors::remove_unit(one.gaussian, one.layout, kCodeUnit, 0);
  ASSERT_EQ(first_zero.gaussian.size(), first_one.gaussian.size());
  for (int64_t i = 0; i < first_zero.gaussian.size(); ++i) {
    EXPECT_NEAR(first_zero.gaussian.mean[i], first_one.gaussian.mean[i], 1e-12);
    for (int64_t j = 0; j < first_zero.gaussian.size(); ++j)
      EXPECT_NEAR(first_zero.gaussian.covariance(i, j), first_one.gaussian.covariance(i, j), 1e-12);
  }
}

std::string text(const std::vector<priors::AlignmentStep>& steps) {
  std::string out;
  for (const auto& step : steps) out += (out.empty() ? "" : " ") + std::string(step.remove_layer ? "psi" : "phi") + std::to_string(step.layer);
  return out;
}

// Seed 004: teacher (10, 6, 7, 10), student (10, 4, 6, 10): τ1 = (φ(2), φ(2), φ(3)); the thesis's
// (10, 100, 50, 1) -> (10, 50, 1): φ(2) fifty times, then ψ(3).
TEST(Alignment, TheSeedsExampleSequences) {
  EXPECT_EQ(text(priors::alignment_steps({10, 6, 7, 10}, {10, 4, 6, 10})), "phi2 phi2 phi3");
  EXPECT_TRUE(priors::alignment_steps({784, 16, 784}, {784, 16, 784}).empty());
  std::string expected;
  for (int i = 0; i < 50; ++i) expected += "phi2 ";
  EXPECT_EQ(text(priors::alignment_steps({10, 100, 50, 1}, {10, 50, 1})), expected + "psi3");
  // Two extra layers: both narrowed to the last hidden width, removed from the top.
  EXPECT_EQ(text(priors::alignment_steps({4, 3, 4, 3, 2}, {4, 3, 2})), "phi3 psi4 psi3");
}

TEST(Alignment, UnreachableStudentsAreRefusedNamingTheLayer) {
  const auto refused = [](const std::vector<int64_t>& teacher, const std::vector<int64_t>& student, const std::string& needle) {
    try {
      priors::alignment_steps(teacher, student);
      ADD_FAILURE() << "accepted";
    } catch (const ReduceError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused({10, 6, 7, 10}, {10, 4, 8, 10}, "layer 3");
  refused({10, 6, 10}, {10, 6, 6, 10}, "more than its teacher");
  refused({10, 6, 10}, {12, 6, 10}, "input");
  refused({10, 100, 40, 1}, {10, 50, 1}, "layer 3");  // the extra layer is narrower than n_{T-1}
  refused({10, 6, 6, 1}, {10, 1}, "at least 3");
}

// Σ as a dense matrix, and its conditional N(μ, Ξ) on x_A = a (seed 004's formulas, by Gauss-Jordan).
std::vector<double> dense_covariance(const LowRankGaussian& g) {
  const int64_t p = g.size();
  std::vector<double> c(p * p);
  for (int64_t i = 0; i < p; ++i)
    for (int64_t j = 0; j < p; ++j) c[i * p + j] = g.covariance(i, j);
  return c;
}

std::vector<double> solve_dense(std::vector<double> a, int64_t n, std::vector<double> b, int64_t columns) {
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r) if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col])) pivot = r;
    for (int64_t k = 0; k < n; ++k) std::swap(a[col * n + k], a[pivot * n + k]);
    for (int64_t k = 0; k < columns; ++k) std::swap(b[col * columns + k], b[pivot * columns + k]);
    for (int64_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = a[r * n + col] / a[col * n + col];
      for (int64_t k = 0; k < n; ++k) a[r * n + k] -= f * a[col * n + k];
      for (int64_t k = 0; k < columns; ++k) b[r * columns + k] -= f * b[col * columns + k];
    }
  }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < columns; ++k) b[r * columns + k] /= a[r * n + r];
  return b;
}

// ψ on a bias-free net 3 -> 2 -> 2 -> 2 (U_3 square) against the dense conditional on U_3 = I.
TEST(Alignment, PsiIsTheDenseConditionalOnTheIdentity) {
  const priors::LayeredNetwork net{{3, 2, 2, 2}, false, "relu"};
  const Layout layout = priors::layered_layout(net);
  const LowRankGaussian g = random_gaussian(layout_size(layout), 2, 21);
  const priors::AlignedGaussian out = priors::remove_layer(g, layout, 3, "relu");
  ASSERT_EQ(out.layout.size(), 2u);
  EXPECT_EQ(out.layout[0].name, "layer2.weight");
  EXPECT_EQ(out.layout[1].name, "layer3.weight");  // U_4 moved down
  const ParamLayout& u3 = find_param(layout, "layer3.weight");
  std::vector<int64_t> fixed, rest;
  std::vector<double> values;
  for (int64_t i = 0; i < g.size(); ++i) {
    if (i >= u3.offset && i < u3.offset + 4) {
      fixed.push_back(i);
      values.push_back((i - u3.offset) % 3 == 0 ? 1.0 : 0.0);  // [1 0; 0 1] row-major
    } else {
      rest.push_back(i);
    }
  }
  EXPECT_EQ(out.kept, rest);
  const std::vector<double> sigma = dense_covariance(g);
  const int64_t na = static_cast<int64_t>(fixed.size()), nb = static_cast<int64_t>(rest.size());
  std::vector<double> saa(na * na), sab(na * nb), delta(na);
  for (int64_t a = 0; a < na; ++a) {
    delta[a] = values[a] - g.mean[fixed[a]];
    for (int64_t b = 0; b < na; ++b) saa[a * na + b] = sigma[fixed[a] * g.size() + fixed[b]];
    for (int64_t b = 0; b < nb; ++b) sab[a * nb + b] = sigma[fixed[a] * g.size() + rest[b]];
  }
  const std::vector<double> w = solve_dense(saa, na, delta, 1), x = solve_dense(saa, na, sab, nb);
  ASSERT_EQ(out.gaussian.size(), nb);
  for (int64_t b = 0; b < nb; ++b) {
    double mu = g.mean[rest[b]];
    for (int64_t a = 0; a < na; ++a) mu += sab[a * nb + b] * w[a];
    EXPECT_NEAR(out.gaussian.mean[b], mu, 1e-10) << b;
    for (int64_t c = 0; c < nb; ++c) {
      double xi = sigma[rest[b] * g.size() + rest[c]];
      for (int64_t a = 0; a < na; ++a) xi -= sab[a * nb + b] * x[a * nb + c];
      EXPECT_NEAR(out.gaussian.covariance(b, c), xi, 1e-10) << b << "," << c;
    }
  }
}

TEST(Alignment, PsiNeedsASquareLayerAndAnIdempotentActivation) {
  const priors::LayeredNetwork net{{3, 2, 2, 2}, true, "relu"};
  const Layout layout = priors::layered_layout(net);
  const LowRankGaussian g = random_gaussian(layout_size(layout), 1, 4);
  EXPECT_THROW(priors::remove_layer(g, layout, 2, "relu"), ReduceError);  // U_2 is 2 x 3
  try {
    priors::remove_layer(g, layout, 3, "sigmoid");
    FAIL() << "psi under sigmoid was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("idempotent"), std::string::npos) << e.what();
  }
  const priors::AlignedGaussian out = priors::remove_layer(g, layout, 3, "identity");
  EXPECT_EQ(out.gaussian.size(), g.size() - 6);  // U_3 (4) and its bias (2)
}

// φ and ψ on disjoint weights commute: φ(2) then ψ(4) equals ψ(4) then φ(2) on (4, 5, 3, 3, 2).
TEST(Alignment, PhiThenPsiEqualsPsiThenPhi) {
  const priors::LayeredNetwork net{{4, 5, 3, 3, 2}, true, "relu"};
  const Layout layout = priors::layered_layout(net);
  const LowRankGaussian g = random_gaussian(layout_size(layout), 3, 17);
  const priors::UnitSlices unit{{{"layer2.weight", 0}, {"layer2.bias", 0}}, {{"layer3.weight", 1}}};
  const priors::AlignedGaussian phi = priors::remove_unit(g, layout, unit, 1);
  const priors::AlignedGaussian phi_psi = priors::remove_layer(phi.gaussian, phi.layout, 4, "relu");
  const priors::AlignedGaussian psi = priors::remove_layer(g, layout, 4, "relu");
  const priors::AlignedGaussian psi_phi = priors::remove_unit(psi.gaussian, psi.layout, unit, 1);
  ASSERT_EQ(phi_psi.gaussian.size(), psi_phi.gaussian.size());
  for (size_t i = 0; i < phi_psi.layout.size(); ++i) {
    EXPECT_EQ(phi_psi.layout[i].name, psi_phi.layout[i].name);
    EXPECT_EQ(phi_psi.layout[i].shape, psi_phi.layout[i].shape);
  }
  for (int64_t i = 0; i < phi_psi.gaussian.size(); ++i) {
    EXPECT_NEAR(phi_psi.gaussian.mean[i], psi_phi.gaussian.mean[i], 1e-10);
    for (int64_t j = 0; j < phi_psi.gaussian.size(); ++j)
      EXPECT_NEAR(phi_psi.gaussian.covariance(i, j), psi_phi.gaussian.covariance(i, j), 1e-10);
  }
}

// A small MLP teacher (6, 8, 4, 2) aligned to (6, 4, 2) under every order: the student's layout, a
// valid Gaussian, the sequence in the seed's notation.
TEST(Alignment, SmallMlpAlignsUnderEveryOrder) {
  const priors::LayeredNetwork teacher{{6, 8, 4, 2}, true, "relu"}, student{{6, 4, 2}, true, "relu"};
  const LowRankGaussian g = random_gaussian(layout_size(priors::layered_layout(teacher)), 2, 9);
  std::vector<double> gradient_variance(g.size());
  for (size_t i = 0; i < gradient_variance.size(); ++i) gradient_variance[i] = 0.1 + 0.01 * static_cast<double>(i % 7);
  for (const std::string& order : priors::removal_orders()) {
    const priors::AlignedPrior out = priors::align_layered(g, teacher, student, order, 3, gradient_variance);
    EXPECT_EQ(out.gaussian.size(), layout_size(priors::layered_layout(student))) << order;
    ASSERT_EQ(out.steps.size(), 5u) << order;
    EXPECT_EQ(out.steps.back(), "psi(3)");
    EXPECT_EQ(out.steps.front().substr(0, 6), "phi(2,");
    out.gaussian.check();
  }
  EXPECT_THROW(priors::align_layered(g, teacher, {{6, 4, 2}, true, "tanh"}, "last", 1), ReduceError);
  EXPECT_THROW(priors::align_layered(g, teacher, student, "gradient_covariance", 1), ReduceError);
}

// gradient_covariance removes the unit whose weights have the least gradient variance, and the
// variances follow the coordinates each step keeps.
TEST(Alignment, GradientCovarianceOrderFollowsTheVariancesThroughTheSteps) {
  const priors::LayeredNetwork teacher{{3, 4, 2}, true, "relu"}, student{{3, 2, 2}, true, "relu"};
  const Layout layout = priors::layered_layout(teacher);
  const LowRankGaussian g = random_gaussian(layout_size(layout), 1, 5);
  // Unit 1 of layer 2 is the quietest, then unit 2, which is unit 1 once unit 1 is gone: "phi(2, 1)" twice.
  std::vector<double> gradient_variance(g.size(), 1.0);
  const priors::UnitSlices unit = priors::layered_unit(2, true);
  for (int64_t i : priors::unit_weights(layout, unit, 1)) gradient_variance[i] = 0.01;
  for (int64_t i : priors::unit_weights(layout, unit, 2)) gradient_variance[i] = 0.1;
  const priors::AlignedPrior out = priors::align_layered(g, teacher, student, "gradient_covariance", 1, gradient_variance);
  ASSERT_EQ(out.steps.size(), 2u);
  EXPECT_EQ(out.steps[0], "phi(2, 1)");
  EXPECT_EQ(out.steps[1], "phi(2, 1)");
}

}  // namespace
}  // namespace genzoo::test
