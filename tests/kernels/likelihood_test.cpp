// Tests for src/kernels/likelihood.cpp under every instruction set: both fused losses against a
// double-precision reference on logits from -30 to 30 (softplus's two branches, saturated sigmoids),
// at lengths with and without a partial last vector.
//
// Tolerance: the loss sums n terms in float lanes (relative error ~n * 2^-24 of the sum of |terms|,
// 3e-4 for n = 2357) plus the exp/log1p polynomials' ~1e-7 relative error per term: 1e-4 of the sum
// of |terms| is met by every target with room. Gradients are single terms: 2e-6 absolute plus 1e-5 relative.
#include "kernels/likelihood.h"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "common/rng.h"
#include "helpers.h"

namespace genzoo::test {
namespace {

class Likelihood : public EveryIsa {};

TEST_P(Likelihood, BothLossesMatchTheDoubleReference) {
  for (const int64_t n : {int64_t{1}, int64_t{37}, int64_t{64}, int64_t{2357}}) {
    Rng rng(static_cast<uint64_t>(n));
    std::vector<float> logits(n), target(n), grad(n);
    for (int64_t i = 0; i < n; ++i) {
      logits[i] = static_cast<float>(60.0 * rng.uniform() - 30.0);
      target[i] = static_cast<float>(rng.uniform());
    }
    const float scale = 0.25f;
    double ref = 0.0, magnitude = 0.0;
    const double bernoulli = kernels::bernoulli_logit_loss(logits.data(), target.data(), n, scale, grad.data());
    for (int64_t i = 0; i < n; ++i) {
      const double l = logits[i], x = target[i], sigma = 1.0 / (1.0 + std::exp(-l));
      const double term = std::max(l, 0.0) - l * x + std::log1p(std::exp(-std::fabs(l)));
      ref += term, magnitude += std::fabs(term);
      EXPECT_NEAR(grad[i], scale * (sigma - x), 2e-6 + 1e-5 * std::fabs(scale * (sigma - x))) << "bernoulli n=" << n << " i=" << i;
    }
    EXPECT_NEAR(bernoulli, ref, 1e-4 * magnitude + 1e-9) << "n=" << n;

    ref = magnitude = 0.0;
    const double gaussian = kernels::sigmoid_squared_loss(logits.data(), target.data(), n, scale, grad.data());
    for (int64_t i = 0; i < n; ++i) {
      const double sigma = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[i]))), diff = sigma - target[i];
      ref += 0.5 * diff * diff, magnitude += 0.5 * diff * diff;
      const double g = scale * diff * sigma * (1.0 - sigma);
      EXPECT_NEAR(grad[i], g, 2e-6 + 1e-5 * std::fabs(g)) << "gaussian n=" << n << " i=" << i;
    }
    EXPECT_NEAR(gaussian, ref, 1e-4 * magnitude + 1e-9) << "n=" << n;
  }
}

// The vae step writes the gradient over the logits: in place gives the same loss and gradient.
TEST_P(Likelihood, InPlaceGradientEqualsSeparateBuffers) {
  const int64_t n = 2357;  // a partial last vector on every target
  Rng rng(9);
  std::vector<float> logits(n), target(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    logits[i] = static_cast<float>(20.0 * rng.uniform() - 10.0);
    target[i] = static_cast<float>(rng.uniform());
  }
  for (const bool bernoulli : {true, false}) {
    const auto loss = bernoulli ? kernels::bernoulli_logit_loss : kernels::sigmoid_squared_loss;
    std::vector<float> in_place = logits;
    const double separate_loss = loss(logits.data(), target.data(), n, 0.5f, grad.data());
    EXPECT_EQ(loss(in_place.data(), target.data(), n, 0.5f, in_place.data()), separate_loss) << bernoulli;
    EXPECT_EQ(in_place, grad) << bernoulli;
  }
}

// The learned-variance Gaussian (vae likelihood = "gaussian_learned") over rows x pixels, pixel counts with
// and without a partial last vector, log variances from -4 to 2 (precisions up to e^4), gradient in place
// as the vae step calls it. d_logvar sums rows terms: 1e-5 of the sum of their magnitudes.
TEST_P(Likelihood, LearnedGaussianMatchesTheDoubleReference) {
  for (const auto& [rows, pixels] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 37}, {5, 64}, {4, 784}}) {
    Rng rng(static_cast<uint64_t>(rows * 1000 + pixels));
    const int64_t n = rows * pixels;
    std::vector<float> logits(n), target(n), logvar(pixels), d_logvar(pixels);
    for (int64_t i = 0; i < n; ++i) {
      logits[i] = static_cast<float>(60.0 * rng.uniform() - 30.0);
      target[i] = static_cast<float>(rng.uniform());
    }
    for (float& v : logvar) v = static_cast<float>(6.0 * rng.uniform() - 4.0);
    const float scale = 0.25f;
    std::vector<float> grad = logits;
    const double loss =
        kernels::learned_gaussian_loss(grad.data(), target.data(), rows, pixels, logvar.data(), scale, grad.data(), d_logvar.data());
    double ref = 0.0, magnitude = 0.0;
    for (int64_t p = 0; p < pixels; ++p) {
      const double v = logvar[p], precision = std::exp(-v);
      double g_v = 0.0, g_v_magnitude = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r * pixels + p;
        const double sigma = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[i]))), diff = sigma - target[i];
        const double weighted = diff * diff * precision, term = 0.5 * (weighted + v);
        ref += term, magnitude += std::fabs(term);
        g_v += 0.5 * (1.0 - weighted), g_v_magnitude += 0.5 * (1.0 + weighted);
        const double g = scale * diff * precision * sigma * (1.0 - sigma);
        EXPECT_NEAR(grad[i], g, 2e-6 + 1e-5 * std::fabs(g)) << "rows=" << rows << " pixels=" << pixels << " i=" << i;
      }
      EXPECT_NEAR(d_logvar[p], scale * g_v, 1e-5 * scale * g_v_magnitude + 1e-7) << "pixels=" << pixels << " p=" << p;
    }
    EXPECT_NEAR(loss, ref, 1e-4 * magnitude + 1e-9) << "rows=" << rows << " pixels=" << pixels;
  }
}

GENZOO_INSTANTIATE_EVERY_ISA(Likelihood);

}  // namespace
}  // namespace genzoo::test
