// Seed 004's single-teacher posterior by a diagonal Laplace approximation at a trained model's final
// weights w*: with the family's per-sample training loss ℓ_i as the negative log-likelihood and a
// N(0, λ⁻¹ I) prior, p(w | D) ≈ N(w*, H⁻¹) with H ≈ diag(Σ_i ∇ℓ_i(w*)²) + λ I, the empirical Fisher over
// the model's own training samples (zoo.h5 stores their indices). Per-sample gradients come from one
// LibTorch pass over the model stacked once per sample.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "priors/low_rank_gaussian.h"
#include "store/layout.h"

namespace genzoo {
struct FamilyConfig;
struct ImageSet;
}  // namespace genzoo

namespace genzoo::priors {

// Whether the family has a per-sample likelihood to take a Laplace approximation of (not adversarial ones).
bool has_likelihood(const std::string& family);

// Per-weight moments of the per-sample gradients ∇ℓ_i(w) over the model's training samples: the
// empirical Fisher diagonal Σ_i g_i² and the diagonal of the gradient covariance (seed 004's fifth
// order: weights whose gradients vary least matter least).
struct GradientMoments {
  std::vector<double> sum_squares, sum;
  int64_t samples = 0;
  std::vector<double> variance() const;  // (1/N) Σ g² - ((1/N) Σ g)²
};
GradientMoments gradient_moments(const FamilyConfig& config, const Layout& layout, const float* weights,
                                 const ImageSet& train, const std::vector<int64_t>& samples, uint64_t seed);

// Throws ReduceError for an adversarial family (no likelihood), no samples or a non-finite gradient.
LowRankGaussian laplace_posterior(const FamilyConfig& config, const Layout& layout, const float* weights,
                                  const ImageSet& train, const std::vector<int64_t>& samples, double prior_precision,
                                  uint64_t seed);

}  // namespace genzoo::priors
