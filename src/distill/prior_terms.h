// Seed 004's prior terms for a batch of M students, each under its own Gaussian prior N(m, Σ) with
// Σ = D + F Fᵀ (diagonal plus rank r; an isotropic prior has r = 0), as LibTorch tensors that are
// differentiable in the students' weights. With Σ⁻¹ = D⁻¹ - C Cᵀ (priors::precision_factor) every term
// costs O(P r) per student; no P x P matrix is formed.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "priors/low_rank_gaussian.h"

namespace genzoo::distill {

struct PriorTensors {
  torch::Tensor mean;            // m [M, P]
  torch::Tensor inv_diag;        // D⁻¹ [M, P]
  torch::Tensor woodbury;        // C [M, P, r]: r the largest rank of the batch, zero-padded
  torch::Tensor precision_diag;  // diag Σ⁻¹ [M, P]
  torch::Tensor log_det;         // log|Σ| [M]
};

// The priors of M students (one each, all of one size P). Throws DistillError for differing sizes.
PriorTensors prior_tensors(const std::vector<const priors::LowRankGaussian*>& priors, const torch::Device& device);

// (w - m)ᵀ Σ⁻¹ (w - m) = dᵀ D⁻¹ d - ‖Cᵀ d‖² per student: [M] for w [M, P].
torch::Tensor prior_quadratic(const PriorTensors& prior, const torch::Tensor& w);

// KL(q ‖ p) for the mean-field q = N(μ, diag σ²) and p = N(m, Σ), per student [M]:
//   KL = ½ [tr(Σ⁻¹ diag σ²) + (μ - m)ᵀ Σ⁻¹ (μ - m) - P + log|Σ| - Σ_i log σ_i²],  tr(Σ⁻¹ diag σ²) = Σ_i (Σ⁻¹)_ii σ_i².
torch::Tensor kl_mean_field(const PriorTensors& prior, const torch::Tensor& mu, const torch::Tensor& log_sigma);

}  // namespace genzoo::distill
