// Tests for src/priors/students.cpp: the zoo's families aligned to narrower students land in the
// student family's own layout, a φ sequence equals conditioning and marginalizing all removed units at
// once, and the orders and refusals behave.
#include "priors/students.h"
#include "priors/orders.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "models/family.h"

namespace genzoo::test {
namespace {

using priors::LowRankGaussian;

FamilyConfig family(const std::string& name, int64_t latent, int64_t channels = 8, int64_t hidden = 256) {
  FamilyConfig config;
  config.name = name;
  config.latent = latent;
  config.channels = channels;
  config.hidden = hidden;
  return config;
}

// A vae with a second decoder layer (decoder_layers = 2).
FamilyConfig deep_vae(int64_t latent, int64_t hidden) {
  FamilyConfig config = family("vae", latent, 8, hidden);
  config.decoder_layers = 2;
  return config;
}

LowRankGaussian random_gaussian(int64_t p, int64_t r, uint64_t seed) {
  Rng rng(seed);
  LowRankGaussian g;
  g.rank = r;
  for (int64_t i = 0; i < p; ++i) g.mean.push_back(rng.uniform() - 0.5), g.diag.push_back(0.01 + 0.1 * rng.uniform());
  for (int64_t i = 0; i < p * r; ++i) g.factor.push_back(0.2 * (rng.uniform() - 0.5));
  return g;
}

bool same_layout(const Layout& a, const Layout& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].shape != b[i].shape || a[i].offset != b[i].offset) return false;
  }
  return true;
}

// linear_ae 8 -> 5, last units first: the same as conditioning decoder columns 5..7 on 0 and dropping
// encoder rows 5..7 and biases 5..7 in one step.
TEST(Students, LinearCodeNarrowingIsOneConditionalMarginal) {
  const FamilyConfig teacher = family("linear_ae", 8), student = family("linear_ae", 5);
  const Layout layout = find_family("linear_ae").layout(teacher);
  const LowRankGaussian g = random_gaussian(layout_size(layout), 3, 3);
  const priors::AlignedPrior aligned = priors::align(g, teacher, student, "last", 1);
  EXPECT_TRUE(same_layout(aligned.layout, find_family("linear_ae").layout(student)));
  EXPECT_EQ(aligned.steps, (std::vector<std::string>{"phi(code, 7)", "phi(code, 6)", "phi(code, 5)"}));

  std::vector<int64_t> leaving, kept_after;
  for (int64_t j = 5; j < 8; ++j) {
    for (int64_t i : priors::slice_indices(layout, {"decoder.weight", 1}, j)) leaving.push_back(i);
  }
  std::sort(leaving.begin(), leaving.end());
  const LowRankGaussian conditioned = priors::condition(g, leaving, std::vector<double>(leaving.size(), 0.0));
  const int64_t enc = 8 * 784;
  for (int64_t i = 0, position = 0; i < g.size(); ++i) {
    if (std::binary_search(leaving.begin(), leaving.end(), i)) continue;
    const bool entering = (i >= 5 * 784 && i < enc) || (i >= enc + 5 && i < enc + 8);
    if (!entering) kept_after.push_back(position);
    ++position;
  }
  const LowRankGaussian direct = priors::marginal(conditioned, kept_after);
  ASSERT_EQ(direct.size(), aligned.gaussian.size());
  double worst = 0.0;
  for (int64_t i = 0; i < direct.size(); ++i) {
    worst = std::max(worst, std::fabs(direct.mean[i] - aligned.gaussian.mean[i]));
    worst = std::max(worst, std::fabs(direct.covariance(i, i) - aligned.gaussian.covariance(i, i)));
    worst = std::max(worst, std::fabs(direct.covariance(i, (i * 7919) % direct.size()) -
                                      aligned.gaussian.covariance(i, (i * 7919) % direct.size())));
  }
  EXPECT_LT(worst, 1e-12);
}

// A vae with conv_ae's decoder (decoder = "conv") of `channels` channels.
FamilyConfig conv_vae(int64_t latent, int64_t channels, int64_t hidden) {
  FamilyConfig config = family("vae", latent, channels, hidden);
  config.decoder = "conv";
  return config;
}

// Every alignable family and key reaches the student family's own layout.
TEST(Students, EveryAlignableStudentGetsItsFamilysLayout) {
  const std::vector<std::pair<FamilyConfig, FamilyConfig>> pairs = {
      {family("linear_ae", 16), family("linear_ae", 4)},
      {family("conv_ae", 8, 4), family("conv_ae", 4, 2)},
      {family("vae", 4, 8, 32), family("vae", 2, 8, 16)},
      {deep_vae(4, 32), deep_vae(2, 16)},  // both decoder hidden layers narrowed
      {conv_vae(4, 8, 32), conv_vae(2, 4, 16)},  // the encoder's width, the code and the conv decoder's channels
      {conv_vae(4, 8, 32), conv_vae(4, 8, 16)},  // the encoder's width alone: the decoder is untouched
  };
  for (const auto& [teacher, student] : pairs) {
    const LowRankGaussian g = random_gaussian(layout_size(find_family(teacher.name).layout(teacher)), 2, 5);
    for (const std::string& order : priors::removal_orders()) {
      const std::vector<double> variance = order == "gradient_covariance" ? std::vector<double>(g.size(), 1.0) : std::vector<double>();
      const priors::AlignedPrior aligned = priors::align(g, teacher, student, order, 11, variance);
      EXPECT_TRUE(same_layout(aligned.layout, find_family(student.name).layout(student))) << teacher.name << " " << order;
      EXPECT_EQ(aligned.gaussian.size(), layout_size(aligned.layout)) << teacher.name;
      EXPECT_EQ(aligned.gaussian.rank, 2);
      aligned.gaussian.check();
    }
  }
}

// density_ratio removes first the unit whose weights sit at zero under the posterior.
TEST(Students, DensityRatioOrderRemovesTheUnitNearestZeroFirst) {
  const FamilyConfig teacher = family("linear_ae", 6), student = family("linear_ae", 5);
  const Layout layout = find_family("linear_ae").layout(teacher);
  LowRankGaussian g = random_gaussian(layout_size(layout), 1, 8);
  for (double& m : g.mean) m += m > 0 ? 1.0 : -1.0;  // every weight far from zero...
  for (const auto& slice : std::vector<priors::TensorSlice>{{"encoder.weight", 0}, {"encoder.bias", 0}, {"decoder.weight", 1}}) {
    for (int64_t i : priors::slice_indices(layout, slice, 2)) g.mean[i] = 0.0;  // ...but unit 2's
  }
  EXPECT_EQ(priors::align(g, teacher, student, "density_ratio", 1).steps, (std::vector<std::string>{"phi(code, 2)"}));
}

// OBD removes the unit of least saliency Σ h_ii m_i² / 2 (a mean at zero has none); gradient_covariance
// the one whose gradients vary least, following the variances through the earlier removals.
TEST(Students, ObdAndGradientCovarianceOrdersPickTheLeastImportantUnit) {
  const FamilyConfig teacher = family("linear_ae", 6), student = family("linear_ae", 4);
  const Layout layout = find_family("linear_ae").layout(teacher);
  LowRankGaussian g = random_gaussian(layout_size(layout), 1, 8);
  for (double& m : g.mean) m += m > 0 ? 1.0 : -1.0;
  const std::vector<priors::TensorSlice> unit = {{"encoder.weight", 0}, {"encoder.bias", 0}, {"decoder.weight", 1}};
  for (const auto& slice : unit) {
    for (int64_t i : priors::slice_indices(layout, slice, 1)) g.mean[i] = 0.0;
  }
  EXPECT_EQ(priors::align(g, teacher, student, "obd", 1).steps.front(), "phi(code, 1)");

  std::vector<double> variance(layout_size(layout), 1.0);
  for (const auto& slice : unit) {
    for (int64_t i : priors::slice_indices(layout, slice, 4)) variance[i] = 0.0;  // unit 4 first
    for (int64_t i : priors::slice_indices(layout, slice, 0)) variance[i] = 0.5;  // then unit 0
  }
  EXPECT_EQ(priors::align(g, teacher, student, "gradient_covariance", 1, variance).steps,
            (std::vector<std::string>{"phi(code, 4)", "phi(code, 0)"}));
  try {
    priors::align(g, teacher, student, "gradient_covariance", 1);
    FAIL() << "gradient_covariance without variances was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("gradient_covariance"), std::string::npos) << e.what();
  }
}

// mlp students follow seed 004's theorem on its own networks (with biases): φ of layer 2 down to the
// student's width, then ψ(3) when the student lacks the second hidden layer.
TEST(Students, MlpStudentsAreSeed004sLayeredAlignment) {
  FamilyConfig teacher = family("mlp", 16, 8, 16), student = family("mlp", 16, 8, 6);
  teacher.hidden2 = 8;
  student.hidden2 = 0;
  priors::check_alignable(teacher, student);
  const LowRankGaussian g = random_gaussian(layout_size(find_family("mlp").layout(teacher)), 2, 3);
  const priors::AlignedPrior aligned = priors::align(g, teacher, student, "density_ratio", 4);
  EXPECT_TRUE(same_layout(aligned.layout, find_family("mlp").layout(student)));
  EXPECT_EQ(aligned.gaussian.size(), layout_size(aligned.layout));
  aligned.gaussian.check();
  // 10 φ on layer 2 (16 -> 6), 2 on layer 3 (8 -> 6, its matrix square), then ψ(3).
  ASSERT_EQ(aligned.steps.size(), 13u);
  EXPECT_EQ(aligned.steps.back(), "psi(3)");
  EXPECT_EQ(aligned.steps.front().rfind("phi(2, ", 0), 0u) << aligned.steps.front();

  // A student's hidden layer wider than the teacher's second one cannot be reached by ψ.
  FamilyConfig wide = student;
  wide.hidden = 12;
  EXPECT_THROW(priors::check_alignable(teacher, wide), ReduceError);
  FamilyConfig deeper = teacher;
  deeper.hidden2 = 4;
  EXPECT_THROW(priors::check_alignable(student, deeper), ReduceError);
}

TEST(Students, UnalignableStudentsAreRefusedNamingTheKey) {
  try {
    priors::unit_kinds(family("conv_ae", 8, 4), family("conv_ae", 8, 6));
    FAIL() << "a wider student was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("channels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(priors::unit_kinds(family("gan", 16), family("gan", 8)), ReduceError);
  EXPECT_THROW(priors::unit_kinds(family("vae", 8), family("conv_ae", 8)), ReduceError);
  try {
    priors::unit_kinds(conv_vae(8, 4, 32), conv_vae(8, 6, 32));
    FAIL() << "a conv-decoder vae student with more channels was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("channels"), std::string::npos) << e.what();
  }
  try {
    priors::unit_kinds(family("vae", 8, 8, 32), family("vae", 8, 4, 32));
    FAIL() << "channels on a vae with an MLP decoder were accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("channels"), std::string::npos) << e.what();
  }
  try {
    priors::unit_kinds(conv_vae(8, 4, 32), family("vae", 8, 4, 32));
    FAIL() << "a vae student with another decoder was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("decoder = \"mlp\""), std::string::npos) << e.what();
  }
  try {
    priors::unit_kinds(deep_vae(8, 32), family("vae", 8, 8, 16));
    FAIL() << "a vae student with another decoder depth was accepted";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("decoder_layers"), std::string::npos) << e.what();
  }
  const FamilyConfig teacher = family("linear_ae", 4);
  const LowRankGaussian g = random_gaussian(layout_size(find_family("linear_ae").layout(teacher)), 1, 2);
  EXPECT_THROW(priors::align(g, teacher, family("linear_ae", 2), "fisher_magic", 1), ReduceError);
}

}  // namespace
}  // namespace genzoo::test
