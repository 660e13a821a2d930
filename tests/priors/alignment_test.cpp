// Tests for src/priors/alignment.cpp: φ against the dense conditional-then-marginal formula of seed 004
// on a small two-layer model, its layouts, the order independence of removals, and the seed's example.
#include "priors/alignment.h"

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

// Seed 004: teacher (10, 6, 7, 10), student (10, 4, 6, 10): τ1 = (φ(2), φ(2), φ(3)).
TEST(Alignment, TheSeedsExampleSequence) {
  EXPECT_EQ(priors::unit_removals({10, 6, 7, 10}, {10, 4, 6, 10}), (std::vector<int>{2, 2, 3}));
  EXPECT_TRUE(priors::unit_removals({784, 16, 784}, {784, 16, 784}).empty());
}

TEST(Alignment, UnreachableStudentsAreRefusedNamingTheLayer) {
  try {
    priors::unit_removals({10, 6, 7, 10}, {10, 4, 8, 10});
    FAIL() << "a wider student layer was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(priors::unit_removals({10, 6, 10}, {10, 6, 6, 10}), ReduceError);
  EXPECT_THROW(priors::unit_removals({10, 6, 10}, {12, 6, 10}), ReduceError);
}

}  // namespace
}  // namespace genzoo::test
