// Tests for src/models/spectral_norm.{h,cpp}: σ is the largest singular value (against a matrix built
// from known singular values), W / σ has spectral norm 1, and the backward pass is the gradient of
// ⟨G, W / σ(W)⟩ with u, v held fixed (central differences), as LibTorch's autograd computes it.
#include "models/spectral_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/rng.h"

namespace genzoo {
namespace {

// W = σ1 a1 b1ᵀ + σ2 a2 b2ᵀ with orthonormal a's (rows 3) and b's (cols 4).
std::vector<float> two_singular_values(double s1, double s2) {
  const double a1[3] = {2.0 / 3, 2.0 / 3, 1.0 / 3}, a2[3] = {2.0 / 3, -1.0 / 3, -2.0 / 3};
  const double b1[4] = {0.5, 0.5, 0.5, 0.5}, b2[4] = {0.5, -0.5, 0.5, -0.5};
  std::vector<float> w(12);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) w[i * 4 + j] = static_cast<float>(s1 * a1[i] * b1[j] + s2 * a2[i] * b2[j]);
  }
  return w;
}

TEST(SpectralNorm, SigmaIsTheLargestSingularValue) {
  EXPECT_NEAR(spectral_factors(two_singular_values(3.0, 1.0).data(), 3, 4).sigma, 3.0, 1e-4);
  // The dominant right singular vector b2 sums to zero: a constant start would be orthogonal to it and
  // find σ = 1; the generic start converges (error shrinking 4x per iteration).
  const std::vector<float> w = two_singular_values(1.0, 2.0);
  const SpectralFactors f = spectral_factors(w.data(), 3, 4);
  EXPECT_NEAR(f.sigma, 2.0, 1e-3);
  std::vector<float> out(12);
  spectral_divide(w.data(), 12, f, out.data());
  EXPECT_NEAR(spectral_factors(out.data(), 3, 4).sigma, 1.0, 1e-3);
  const std::vector<float> row = {3.0f, 4.0f};  // a single row: σ = its norm, exactly
  EXPECT_NEAR(spectral_factors(row.data(), 1, 2).sigma, 5.0, 1e-5);
  EXPECT_NEAR(std::abs(f.u[0] * 2.0f / 3 - f.u[1] / 3.0f - f.u[2] * 2.0f / 3), 1.0, 1e-3);  // u = ±a2
}

TEST(SpectralNorm, BackwardIsTheGradientWithTheFactorsFixed) {
  Rng rng(3);
  const int64_t rows = 3, cols = 5;
  std::vector<float> w(rows * cols), g(rows * cols);
  for (float& v : w) v = static_cast<float>(rng.normal());
  for (float& v : g) v = static_cast<float>(rng.normal());
  const SpectralFactors f = spectral_factors(w.data(), rows, cols);
  // L(W) = ⟨G, W / (uᵀ W v)⟩ with u, v the factors at w.
  const auto loss = [&](const std::vector<double>& x) {
    double sigma = 0.0, inner = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) sigma += f.u[i] * x[i * cols + j] * f.v[j];
    }
    for (int64_t i = 0; i < rows * cols; ++i) inner += g[i] * x[i];
    return inner / sigma;
  };
  std::vector<float> grad = g;
  spectral_backward(w.data(), rows, cols, f, grad.data());
  std::vector<double> x(w.begin(), w.end());
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double h = 1e-5, keep = x[i];
    x[i] = keep + h;
    const double up = loss(x);
    x[i] = keep - h;
    const double down = loss(x);
    x[i] = keep;
    EXPECT_NEAR(grad[i], (up - down) / (2 * h), 1e-4) << i;
  }
}

}  // namespace
}  // namespace genzoo
