// The vae's ex-post latent density (FamilyConfig::latent_density = "mixture"): a Gaussian mixture fitted
// by EM to the posterior means mu(x) of a trained model's training images, from which its generated
// images' codes are drawn instead of the prior N(0, I) (Ghosh et al. 2020, "From variational to
// deterministic autoencoders", section 4). A VAE's aggregate posterior rarely fills N(0, I): codes drawn
// from the prior land between the classes' clusters and decode to blends. LibTorch-free.
#pragma once

#include <cstdint>
#include <vector>

#include "store/layout.h"

namespace genzoo {

struct GaussianMixture {
  int64_t components = 0, dim = 0;
  std::vector<double> logits;      // [K] log mixture weights (log π_c, Σ_c π_c = 1)
  std::vector<double> means;       // [K, d] μ_c
  std::vector<double> scale_tril;  // [K, d, d] L_c, lower triangular, Σ_c = L_c L_cᵀ
};

// The standard normal N(0, I_d) as a K-component mixture: equal weights, zero means, identity factors
// (what the stored density holds before it is fitted, and for a model whose codes are not finite).
GaussianMixture standard_mixture(int64_t components, int64_t dim);

// EM for p(x) = Σ_c π_c N(x | μ_c, Σ_c) on points [n, d], from a k-means++ start drawn with `seed`.
// Each M-step pulls every component weakly (as if by kPullPoints = 0.01 extra points) towards the
// whole sample's mean and covariance, and adds a 1e-6 relative ridge: a component that loses all its
// points falls back to the sample's Gaussian, and one with fewer than d of them stays narrow but not singular. Stops
// after max_iterations or when the mean log-likelihood per point improves by less than tolerance (nats;
// scikit-learn's GaussianMixture defaults: 100 and 1e-3). shrinkage λ in [0, 1]: each M-step's covariance
// becomes (1 - λ) Σ_c + λ diag(Σ_c) (FamilyConfig::latent_shrinkage), after the pull and the ridge.
GaussianMixture fit_gaussian_mixture(const std::vector<double>& points, int64_t n, int64_t dim, int64_t components,
                                     uint64_t seed, double shrinkage = 0.0, int64_t max_iterations = 100,
                                     double tolerance = 1e-3);

// Mean log-likelihood per point of points [n, d] under the mixture.
double mixture_log_likelihood(const GaussianMixture& mixture, const std::vector<double>& points, int64_t n);

// In a model's layout the density is three tensors of this role, after every trained one:
// latent_density.logits [K], latent_density.means [K, d], latent_density.scale_tril [K, d, d]. They get
// no gradient (training leaves them as initialized: N(0, I)) and are written once training ends.
inline constexpr const char* kLatentDensityRole = "latent_density";
void add_latent_density(Layout& layout, int64_t components, int64_t dim);
bool has_latent_density(const Layout& layout);
// The leading canonical parameters training updates: all of a layout but its trailing latent density.
int64_t trained_param_count(const Layout& layout);
// The mixture into / out of one model's canonical weights (float).
void write_latent_density(const GaussianMixture& mixture, const Layout& layout, float* weights);
GaussianMixture read_latent_density(const Layout& layout, const float* weights);

}  // namespace genzoo
