// The weights of M students trained together under Adam: a point estimate θ per student, or a mean-field
// Gaussian q(w) = N(θ, diag σ²) (log σ trained too) for variational students, each under its own prior
// (or none). The data term comes from the caller (a family's reconstructions, or any likelihood), so the
// same update serves `genzoo distill` and tests against closed forms. Per step and student m:
//   w_m = θ_m + σ_m ⊙ ε_m (variational; ε from the student's own generator), else θ_m; θ_m = start_m + s_m ⊙ z_m
//   L_m = data_m(w_m) + reg_m / n_m,  reg_m = KL(q_m ‖ p_m) (variational) or ½ (θ_m - m)ᵀ Σ⁻¹ (θ_m - m)
// where data_m is the caller's per-sample negative log-likelihood (nats) or loss.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "distill/prior_terms.h"

namespace genzoo::distill {

struct StudentWeightsSpec {
  std::vector<float> start;                        // [P] θ's start
  // Prior preconditioning: θ = start + scale ⊙ z with Adam on z, so that a step moves each weight in
  // units of its prior standard deviation (Adam's per-coordinate steps of ~lr would otherwise jitter the
  // weights a tight prior pins far beyond their prior spread). Empty: θ itself.
  std::vector<float> scale;
  bool variational = false;
  const priors::LowRankGaussian* prior = nullptr;  // required for variational students
  double samples = 1.0;                            // n: the prior counts once against n samples
  double lr = 1e-3;                                // Adam's rate on θ (or z)
  double sigma_lr = 1e-2;                          // on log σ (variational)
};

// Variational students start with σ_i = 0.1 sqrt(D_i), a tenth of the prior's diagonal standard deviation:
// small, so that training starts near the prior mean and the data decide how far q spreads. log σ_i.
float initial_log_sigma(const priors::LowRankGaussian& prior, int64_t i);

class StudentWeights {
 public:
  StudentWeights(const std::vector<StudentWeightsSpec>& specs, const torch::Device& device);

  int64_t size() const { return z_.size(0); }
  // This step's weights [M, P] (differentiable), drawing ε from generators[m] for variational students.
  torch::Tensor draw(std::vector<torch::Generator>& generators);
  // Adds the prior terms to data [M] (computed from the last draw), backpropagates and takes one Adam step.
  void step(const torch::Tensor& data);
  torch::Tensor mean() const { return (start_ + scale_ * z_.detach()); }
  torch::Tensor std() const { return torch::exp(log_sigma_.detach()); }

 private:
  torch::Tensor start_, scale_, z_, log_sigma_, variational_;
  torch::Tensor theta_;  // start + scale ⊙ z of the last draw (differentiable in z)
  torch::Tensor adam_m_, adam_v_, sigma_m_, sigma_v_;  // on the CPU (the fused adam_step)
  std::vector<float> lr_, lr_sigma_;
  std::vector<int64_t> bayesian_rows_;
  PriorTensors prior_;
  torch::Tensor bayes_index_, bayes_variational_, bayes_samples_;
  int64_t step_ = 0;
  bool any_variational_ = false;
};

}  // namespace genzoo::distill
