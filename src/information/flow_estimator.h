// Mutual information through normalizing flows (seed 002; Butakov, Tolmachev et al. 2024): invertible
// maps f_X, f_Y carry x and y onto a Gaussian base whose only dependence is between paired coordinates,
//   (f_X(x), f_Y(y)) ~ N(0, R),  R = [[I, diag ρ], [diag ρ, I]],
// trained by maximum likelihood. Mutual information is invariant under invertible maps, so
//   I(X; Y) = I(f_X(X); f_Y(Y)) = -½ Σ_j log(1 - ρ_j²).
// Each flow: standardization, then per block a coordinate-wise sinh-arcsinh map and an affine coupling
// (RealNVP), then the seed's linear head L. The heads and ρ start at the canonical correlation analysis
// of the training split (the seed's "A chosen analytically at the start"), so step 0 is the Gaussian
// estimate and Adam then bends the flows. The parameters with the lowest validation NLL are kept.
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

struct FlowEstimatorOptions {
  int64_t blocks = 2;          // sinh-arcsinh + coupling per block and side; 0: the linear (Gaussian) estimate
  int64_t hidden = 64;         // coupling networks' width
  int64_t steps = 1500;        // Adam steps (0: the CCA start as it is)
  int64_t batch_size = 256;
  double lr = 1e-3;
  double validation_fraction = 0.2;  // held out for model selection and the held-out estimate
  int64_t evaluate_every = 50;
  uint64_t seed = 0;
};

struct FlowEstimate {
  double mi_nats = 0.0;             // -½ Σ log(1 - ρ_j²) of the kept parameters
  double mi_heldout_nats = 0.0;     // mean over the validation split of log p(x, y) - log p(x) - log p(y) under the model
  double mi_start_nats = 0.0;       // the CCA start (the Gaussian estimate on the training split)
  std::vector<double> correlations;  // ρ_j, descending at the start
  double validation_nll = 0.0;      // nats per sample (in standardized coordinates)
  int64_t best_step = 0;
};

// x [n, dx], y [n, dy] row-major. Throws ReduceError when the sizes do not match or n is too small to
// hold out a validation split (at least 4 samples each side of it).
FlowEstimate flow_mutual_information(const std::vector<double>& x, int64_t dx, const std::vector<double>& y, int64_t dy,
                                     int64_t n, const FlowEstimatorOptions& options = {});

}  // namespace genzoo
