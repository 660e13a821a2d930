#include "distill/prior_terms.h"

#include <algorithm>

#include "common/error.h"

namespace genzoo::distill {

PriorTensors prior_tensors(const std::vector<const priors::LowRankGaussian*>& priors, const torch::Device& device) {
  const auto m = static_cast<int64_t>(priors.size());
  if (m == 0) throw DistillError("distill: no priors for a batch");
  const int64_t p = priors.front()->size();
  int64_t r = 0;
  for (const auto* g : priors) {
    if (g->size() != p) {
      throw DistillError("distill: priors over " + std::to_string(g->size()) + " and " + std::to_string(p) +
                         " weights in one batch");
    }
    r = std::max(r, g->rank);
  }
  auto mean = torch::empty({m, p}), inv_diag = torch::empty({m, p}), precision_diag = torch::empty({m, p});
  auto woodbury = torch::zeros({m, p, std::max<int64_t>(r, 1)});
  auto log_det = torch::empty({m});
  for (int64_t s = 0; s < m; ++s) {
    const priors::LowRankGaussian& g = *priors[s];
    const priors::PrecisionFactor factor = priors::precision_factor(g);
    float* mean_row = mean[s].data_ptr<float>();
    float* inv_row = inv_diag[s].data_ptr<float>();
    float* precision_row = precision_diag[s].data_ptr<float>();
    float* c = woodbury[s].data_ptr<float>();
    const int64_t stride = woodbury.size(2);
    for (int64_t i = 0; i < p; ++i) {
      mean_row[i] = static_cast<float>(g.mean[i]);
      inv_row[i] = static_cast<float>(1.0 / g.diag[i]);
      for (int64_t k = 0; k < g.rank; ++k) c[i * stride + k] = static_cast<float>(factor.woodbury[i * g.rank + k]);
      precision_row[i] = static_cast<float>(factor.precision_diag[i]);
    }
    log_det[s] = factor.log_det;
  }
  return {mean.to(device), inv_diag.to(device), woodbury.to(device), precision_diag.to(device), log_det.to(device)};
}

torch::Tensor prior_quadratic(const PriorTensors& prior, const torch::Tensor& w) {
  const auto d = w - prior.mean;
  // Cᵀ d: [M, r] = [M, 1, P] x [M, P, r]
  const auto projected = torch::bmm(d.unsqueeze(1), prior.woodbury).squeeze(1);
  return (d * d * prior.inv_diag).sum(1) - projected.pow(2).sum(1);
}

torch::Tensor kl_mean_field(const PriorTensors& prior, const torch::Tensor& mu, const torch::Tensor& log_sigma) {
  const auto p = static_cast<double>(mu.size(1));
  const auto trace = (prior.precision_diag * torch::exp(2.0 * log_sigma)).sum(1);
  return 0.5 * (trace + prior_quadratic(prior, mu) - p + prior.log_det - 2.0 * log_sigma.sum(1));
}

}  // namespace genzoo::distill
