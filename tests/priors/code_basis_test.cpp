// Tests for src/priors/code_basis.cpp: the principal basis of codes, and a linear_ae prior re-expressed in
// it against the dense affine map A w + c built by hand (mean, factor and marginal variances), with the
// reconstruction of every weight vector unchanged.
#include "priors/code_basis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "models/family.h"
#include "priors/students.h"

namespace genzoo::test {
namespace {

using priors::CodeBasis;
using priors::LowRankGaussian;

constexpr int64_t kInput = 5, kCode = 3;

// linear_ae 5 -> 3 -> 5: encoder.weight [3, 5] at 0, encoder.bias [3] at 15, decoder.weight [5, 3] at 18,
// decoder.bias [5] at 33; 38 weights.
FamilyConfig small_linear_ae(int64_t latent = kCode) {
  FamilyConfig config;
  config.name = "linear_ae";
  config.latent = latent;
  config.input_dim = kInput;
  return config;
}

std::vector<double> reconstruct(const std::vector<double>& w, const std::vector<double>& x) {
  std::vector<double> code(kCode), out(kInput);
  for (int64_t i = 0; i < kCode; ++i) {
    code[i] = w[15 + i];
    for (int64_t f = 0; f < kInput; ++f) code[i] += w[i * kInput + f] * x[f];
  }
  for (int64_t g = 0; g < kInput; ++g) {
    out[g] = w[33 + g];
    for (int64_t i = 0; i < kCode; ++i) out[g] += w[18 + g * kCode + i] * code[i];
  }
  return out;
}

std::vector<double> codes_of(const std::vector<double>& w, const std::vector<std::vector<double>>& xs) {
  std::vector<double> codes;
  for (const auto& x : xs) {
    for (int64_t i = 0; i < kCode; ++i) {
      double c = w[15 + i];
      for (int64_t f = 0; f < kInput; ++f) c += w[i * kInput + f] * x[f];
      codes.push_back(c);
    }
  }
  return codes;
}

TEST(CodeBasis, PrincipalBasisDiagonalizesTheCodesCovarianceInDescendingOrder) {
  Rng rng(3);
  std::vector<double> codes;
  const int64_t count = 400;
  for (int64_t n = 0; n < count; ++n) {  // correlated codes with unequal spreads and a mean
    const double a = rng.normal(), b = rng.normal(), c = rng.normal();
    codes.insert(codes.end(), {1.0 + 3 * a + b, -2.0 + a - 0.5 * c, 0.5 + 0.2 * b + 2 * c});
  }
  const CodeBasis basis = priors::principal_code_basis(codes, count, kCode);
  for (int64_t i = 0; i < kCode; ++i) {
    for (int64_t j = 0; j < kCode; ++j) {
      double dot = 0.0;
      for (int64_t t = 0; t < kCode; ++t) dot += basis.rotation[i * kCode + t] * basis.rotation[j * kCode + t];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-10) << i << ", " << j;
    }
  }
  EXPECT_GE(basis.variance[0], basis.variance[1]);
  EXPECT_GE(basis.variance[1], basis.variance[2]);
  // The rotated, centred codes: mean 0, covariance diag(variance).
  std::vector<double> rotated_cov(kCode * kCode, 0.0), rotated_mean(kCode, 0.0);
  for (int64_t n = 0; n < count; ++n) {
    std::vector<double> z(kCode, 0.0);
    for (int64_t i = 0; i < kCode; ++i) {
      for (int64_t t = 0; t < kCode; ++t) z[i] += basis.rotation[i * kCode + t] * (codes[n * kCode + t] - basis.mean[t]);
      rotated_mean[i] += z[i] / count;
    }
    for (int64_t i = 0; i < kCode; ++i) {
      for (int64_t j = 0; j < kCode; ++j) rotated_cov[i * kCode + j] += z[i] * z[j] / (count - 1);
    }
  }
  for (int64_t i = 0; i < kCode; ++i) {
    EXPECT_NEAR(rotated_mean[i], 0.0, 1e-10);
    for (int64_t j = 0; j < kCode; ++j) {
      EXPECT_NEAR(rotated_cov[i * kCode + j], i == j ? basis.variance[i] : 0.0, 1e-8 * basis.variance[0]) << i << ", " << j;
    }
  }
  EXPECT_THROW(priors::principal_code_basis({1.0, 2.0, 3.0}, 1, kCode), ReduceError);
}

TEST(CodeBasis, RotatedPriorIsTheAffineMapOfTheTeachersAndKeepsEveryReconstruction) {
  const FamilyConfig config = small_linear_ae();
  const Layout layout = find_family("linear_ae").layout(config);
  ASSERT_EQ(layout_size(layout), 38);
  Rng rng(11);
  LowRankGaussian g;
  g.rank = 2;
  for (int64_t i = 0; i < 38; ++i) g.mean.push_back(rng.normal()), g.diag.push_back(0.01 + 0.1 * rng.uniform());
  for (int64_t i = 0; i < 38 * 2; ++i) g.factor.push_back(0.3 * rng.normal());
  std::vector<std::vector<double>> xs(50, std::vector<double>(kInput));
  for (auto& x : xs) for (double& v : x) v = rng.normal();
  const CodeBasis basis = priors::principal_code_basis(codes_of(g.mean, xs), 50, kCode);
  const priors::UnitKind code = priors::unit_kinds(config, small_linear_ae(2)).front();
  ASSERT_EQ(code.leaving_bias, "decoder.bias");
  const LowRankGaussian out = priors::rotate_code(g, layout, code, basis);

  // The dense map by hand: E' = R E, b_e' = R b_e - R μ, D' = D Rᵀ, b_d' = b_d + D μ.
  const auto& R = basis.rotation;
  const auto& mu = basis.mean;
  std::vector<double> A(38 * 38, 0.0), c(38, 0.0);
  for (int64_t i = 0; i < kCode; ++i) {
    for (int64_t j = 0; j < kCode; ++j) {
      for (int64_t f = 0; f < kInput; ++f) A[(i * kInput + f) * 38 + j * kInput + f] = R[i * kCode + j];
      A[(15 + i) * 38 + 15 + j] = R[i * kCode + j];
      c[15 + i] -= R[i * kCode + j] * mu[j];
      for (int64_t row = 0; row < kInput; ++row) A[(18 + row * kCode + i) * 38 + 18 + row * kCode + j] = R[i * kCode + j];
    }
  }
  for (int64_t row = 0; row < kInput; ++row) {
    A[(33 + row) * 38 + 33 + row] = 1.0;
    for (int64_t j = 0; j < kCode; ++j) A[(33 + row) * 38 + 18 + row * kCode + j] = mu[j];
  }
  for (int64_t a = 0; a < 38; ++a) {
    double mean = c[a], variance = 0.0;
    for (int64_t b = 0; b < 38; ++b) {
      mean += A[a * 38 + b] * g.mean[b];
      variance += A[a * 38 + b] * A[a * 38 + b] * g.diag[b];
    }
    EXPECT_NEAR(out.mean[a], mean, 1e-10) << a;
    EXPECT_NEAR(out.diag[a], variance, 1e-12) << a;
    for (int64_t r = 0; r < 2; ++r) {
      double factor = 0.0;
      for (int64_t b = 0; b < 38; ++b) factor += A[a * 38 + b] * g.factor[b * 2 + r];
      EXPECT_NEAR(out.factor[a * 2 + r], factor, 1e-10) << a << ", " << r;
    }
  }
  // Any weight vector (here the mean and a draw-like point) reconstructs as before through the map.
  std::vector<double> w = g.mean;
  for (int64_t i = 0; i < 38; ++i) w[i] += g.factor[i * 2];
  std::vector<double> w_rotated(38);
  for (int64_t a = 0; a < 38; ++a) {
    w_rotated[a] = c[a];
    for (int64_t b = 0; b < 38; ++b) w_rotated[a] += A[a * 38 + b] * w[b];
  }
  for (const auto& x : xs) {
    const auto before = reconstruct(g.mean, x), after = reconstruct(out.mean, x);
    const auto w_before = reconstruct(w, x), w_after = reconstruct(w_rotated, x);
    for (int64_t f = 0; f < kInput; ++f) {
      EXPECT_NEAR(after[f], before[f], 1e-9);
      EXPECT_NEAR(w_after[f], w_before[f], 1e-9);
    }
  }
  // The rotated mean's codes are centred and uncorrelated, strongest first.
  const CodeBasis again = priors::principal_code_basis(codes_of(out.mean, xs), 50, kCode);
  for (int64_t i = 0; i < kCode; ++i) {
    EXPECT_NEAR(again.mean[i], 0.0, 1e-9);
    EXPECT_NEAR(again.variance[i], basis.variance[i], 1e-8 * basis.variance[0]);
    EXPECT_NEAR(std::fabs(again.rotation[i * kCode + i]), 1.0, 1e-6);
  }
}

// Narrowing 3 -> 2 in the principal basis drops the weakest component: the aligned mean reconstructs the
// probe points as the rank-2 truncation of the teacher mean's codes (the dropped component at its mean).
TEST(CodeBasis, AlignmentDropsTheWeakestComponent) {
  const FamilyConfig teacher = small_linear_ae(), student = small_linear_ae(2);
  Rng rng(5);
  LowRankGaussian g;
  g.rank = 1;
  for (int64_t i = 0; i < 38; ++i) g.mean.push_back(rng.normal()), g.diag.push_back(1e-6);
  for (int64_t i = 0; i < 38; ++i) g.factor.push_back(1e-5 * rng.normal());  // conditioning barely moves the rest
  std::vector<std::vector<double>> xs(200, std::vector<double>(kInput));
  for (auto& x : xs) for (int64_t f = 0; f < kInput; ++f) x[f] = (f == 0 ? 3.0 : 1.0) * rng.normal();
  const CodeBasis basis = priors::principal_code_basis(codes_of(g.mean, xs), 200, kCode);
  const priors::AlignedPrior aligned = priors::align(g, teacher, student, "density_ratio", 1, {}, &basis);
  ASSERT_EQ(aligned.steps.size(), 2u);
  EXPECT_EQ(aligned.steps[0], "principal(code)");
  EXPECT_EQ(aligned.steps[1], "phi(code, 2)");
  // The student's reconstruction = teacher's with the weakest centred component set to 0: its error
  // against the teacher is that component's share, the smallest of the three.
  double dropped = 0.0;
  for (const auto& x : xs) {
    const auto full = reconstruct(g.mean, x);
    std::vector<double> code(2), out(kInput);
    const auto& w = aligned.gaussian.mean;  // student layout: E [2, 5] at 0, b_e [2] at 10, D [5, 2] at 12, b_d [5] at 22
    for (int64_t i = 0; i < 2; ++i) {
      code[i] = w[10 + i];
      for (int64_t f = 0; f < kInput; ++f) code[i] += w[i * kInput + f] * x[f];
    }
    for (int64_t row = 0; row < kInput; ++row) {
      out[row] = w[22 + row];
      for (int64_t i = 0; i < 2; ++i) out[row] += w[12 + row * 2 + i] * code[i];
      dropped += (out[row] - full[row]) * (out[row] - full[row]);
    }
  }
  // ‖D r₃‖² λ₃ per point on average (r₃ the weakest direction), by the teacher mean's decoder.
  double decoder_norm = 0.0;
  for (int64_t row = 0; row < kInput; ++row) {
    double v = 0.0;
    for (int64_t j = 0; j < kCode; ++j) v += g.mean[18 + row * kCode + j] * basis.rotation[2 * kCode + j];
    decoder_norm += v * v;
  }
  EXPECT_NEAR(dropped / 200.0, decoder_norm * basis.variance[2] * 199.0 / 200.0, 0.02 * decoder_norm * basis.variance[2]);
}

}  // namespace
}  // namespace genzoo::test
