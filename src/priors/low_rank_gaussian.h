// Gaussians over a model's flattened weights with a diagonal-plus-low-rank covariance, the form of the
// zoo's priors (DESIGN.md section 6, seed 004): N(m, Σ) with Σ = D + F Fᵀ, D diagonal (P), F a P x r
// factor. Every operation the structure alignment of seed 004 needs stays in this form and costs
// O(P r²): Σ⁻¹ through Woodbury, log|Σ| through the matrix determinant lemma, conditioning and
// marginalization through r x r Cholesky factors; no P x P matrix is ever formed (linear_ae alone has
// P = 25,888). Doubles throughout: the priors are built once per node, not per step.
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo::priors {

struct LowRankGaussian {
  std::vector<double> mean;    // m [P]
  std::vector<double> diag;    // D [P], every entry > 0
  std::vector<double> factor;  // F [P, r] row-major
  int64_t rank = 0;            // r

  int64_t size() const { return static_cast<int64_t>(mean.size()); }
  // Σ_ij = δ_ij D_i + Σ_k F_ik F_jk.
  double covariance(int64_t i, int64_t j) const;
  // log N(x | m, Σ) = -½ [(x - m)ᵀ Σ⁻¹ (x - m) + log|Σ| + P log 2π].
  double log_density(const std::vector<double>& x) const;
  // (x - m)ᵀ Σ⁻¹ (x - m) alone (no determinant); x = null: at x = 0.
  double mahalanobis(const std::vector<double>* x) const;
  // Throws ReduceError naming the inconsistency (sizes, a non-positive or non-finite D).
  void check() const;
};

// Eigen-decomposition of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations: eigenvalues
// descending, eigenvectors as the columns of `vectors`. Accurate to a few ulps of the largest eigenvalue.
void symmetric_eigen(std::vector<double> a, int64_t n, std::vector<double>& values, std::vector<double>& vectors);

// Σ⁻¹ = D⁻¹ - C Cᵀ with C = D⁻¹ F L⁻ᵀ, L Lᵀ = I + Fᵀ D⁻¹ F (Woodbury), and log|Σ| = Σ log D_i + 2 Σ log L_kk
// (matrix determinant lemma): what quadratic forms and KL divergences over many weight vectors need,
// computed once. O(P r²).
struct PrecisionFactor {
  std::vector<double> woodbury;        // C [P, r] row-major
  std::vector<double> precision_diag;  // diag Σ⁻¹ [P]: (Σ⁻¹)_ii = 1/D_i - ‖C_i‖²
  double log_det = 0.0;                // log|Σ|
};
PrecisionFactor precision_factor(const LowRankGaussian& g);

// diag Σ⁻¹ by Woodbury (precision_factor's). O(P r²).
std::vector<double> precision_diagonal(const LowRankGaussian& g);

// Per coordinate, the share of its variance Σ_ii along the top principal direction of F Fᵀ:
// q_i = σ₁² U_i1² / Σ_ii with F = U diag(σ) Vᵀ (Belsley's variance-decomposition proportion for the
// largest condition index; all 0 for rank 0). O(P r² + r³).
std::vector<double> principal_variance_shares(const LowRankGaussian& g);

// N(m, σ² I): the isotropic baseline a node's prior must beat.
LowRankGaussian isotropic(std::vector<double> mean, double variance);

// The Gaussian of x_keep (indices ascending, unique) with the other coordinates integrated out:
// N(m_keep, D_keep + F_keep F_keepᵀ), rows kept as they are.
LowRankGaussian marginal(const LowRankGaussian& g, const std::vector<int64_t>& keep);

// The Gaussian of the other coordinates given x_fixed = values (indices ascending, unique):
//   μ = m_B + Σ_BA Σ_AA⁻¹ (a - m_A),   Ξ = Σ_BB - Σ_BA Σ_AA⁻¹ Σ_AB   (seed 004, A = fixed, B = rest).
// With Σ = D + F Fᵀ and M = F_Aᵀ D_A⁻¹ F_A (r x r): Σ_BA = F_B F_Aᵀ, F_Aᵀ Σ_AA⁻¹ = (I + M)⁻¹ F_Aᵀ D_A⁻¹, so
//   μ = m_B + F_B (I + M)⁻¹ F_Aᵀ D_A⁻¹ (a - m_A),   Ξ = D_B + F_B (I + M)⁻¹ F_Bᵀ,
// i.e. the same form with factor F_B L, L Lᵀ = (I + M)⁻¹. The remaining coordinates keep their order.
// drop (ascending, disjoint from fixed): coordinates also integrated out, in the same pass (seed
// 004's φ conditions a unit's leaving weights and marginalizes its entering ones at once).
LowRankGaussian condition(const LowRankGaussian& g, const std::vector<int64_t>& fixed, const std::vector<double>& values,
                          const std::vector<int64_t>& drop = {});

// The members' Gaussian: m = their mean, F = the top-r principal deviations (F Fᵀ = the rank-r part of
// the sample covariance S = Xcᵀ Xc / (n - 1)), D = (1 - shrinkage) diag(S - F Fᵀ) + shrinkage v̄ with v̄
// the mean variance over all coordinates (shrunk toward the pooled variance), floored at diag_floor.
// target: per-coordinate variances to shrink toward instead of v̄ (a hierarchy node: its root's
// sample variances). members: n rows of P floats; centred: their centred Gram matrix [n, n] when the caller has it
// (centred_gram), else it is computed. Throws ReduceError for r >= n, n < 2 (unless r = 0), a
// shrinkage outside [0, 1] or a non-positive floor. Cost O(n² P + n³) (O(n r P + n³) given the
// Gram); memory O(P r).
LowRankGaussian fit_members(const std::vector<const float*>& members, int64_t size, int64_t rank, double shrinkage,
                            double diag_floor, const std::vector<double>* centred = nullptr,
                            const std::vector<double>* target = nullptr);

// G_ab = (x_a - s)ᵀ (x_b - s) over the members' rows [n, P]: one O(n² P) pass per init group, from
// which every node's centred Gram follows in O(n²).
std::vector<double> shifted_gram(const std::vector<const float*>& members, int64_t size, const std::vector<double>& shift);
// The Gram matrix of the rows `subset` of a shifted Gram [n, n], centred on the subset's own mean.
std::vector<double> centred_gram(const std::vector<double>& gram, int64_t n, const std::vector<int64_t>& subset);

}  // namespace genzoo::priors
