// Which unit structure alignment removes first (seed 004, "введение отношения порядка"): the seed orders
// single parameters; a φ step removes a whole unit, so each order scores a unit by its weights S
// (entering and leaving slices) under the current Gaussian N(m, Σ):
//   last          the highest index (no ordering; reproducible baseline)
//   random        uniform, from the prior's seed
//   density_ratio argmax p(0) / p(m): log ratio -½ m_Sᵀ Σ_S⁻¹ m_S (a mean near zero in the posterior's metric)
//   obd           optimal brain damage, argmin Σ_{i∈S} h_ii m_i² / 2 with h = diag Σ⁻¹ (the posterior
//                 precision: for a Laplace posterior exactly the empirical Fisher plus the prior precision)
//   belsley       argmax of the unit's mean variance-decomposition proportion on the top principal
//                 direction of Σ (Belsley's collinearity diagnostic: the weights whose variance the
//                 largest condition index explains are the redundant ones). With rank 0 there is no
//                 collinearity and every unit scores 0 (ties go to the highest index).
//   gradient_covariance  argmin Σ_{i∈S} Var(∂ℓ/∂u_i), the diagonal of the covariance of the per-sample
//                 gradients of the loss (over the teacher's, or a node's members', training samples):
//                 the unit whose weights the data move least goes first. Needs those variances.
// Ties go to the highest index, so every order reduces to "last" when nothing distinguishes the units.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"
#include "priors/alignment.h"

namespace genzoo::priors {

const std::vector<std::string>& removal_orders();
// Throws ReduceError naming the known orders.
void check_removal_order(const std::string& order);

// Every weight of unit j (entering and leaving), ascending.
std::vector<int64_t> unit_weights(const Layout& layout, const UnitSlices& slices, int64_t j);

// The unit (0 .. count-1) the order removes next. gradient_variance: per coordinate of g (for
// gradient_covariance; throws ReduceError when that order has none).
int64_t pick_unit(const std::string& order, const LowRankGaussian& g, const Layout& layout, const UnitSlices& slices,
                  int64_t count, Rng& rng, const std::vector<double>* gradient_variance = nullptr);

}  // namespace genzoo::priors
