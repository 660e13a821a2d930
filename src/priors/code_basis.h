// A linear code's principal basis (distill.code_basis = "principal"): before φ narrows an autoencoder's
// code, the teacher prior is re-expressed in the basis of the principal components of its mean model's
// codes, centred, so that φ can drop the weakest components first instead of arbitrary code units.
// With z = E h + b_e the code (linear: linear_ae, conv_ae), μ and C = Vᵀ Λ V its mean and covariance on
// probe images, R = V (rows: eigenvectors, variance descending), the reparametrization
//   E' = R E,  b_e' = R (b_e − μ),  D' = D Rᵀ,  b_d' = b_d + D μ
// gives codes z' = R (z − μ) and the same reconstruction x̂ for every weight vector (D the decoder's
// weights on the code, b_d its bias). On N(m, Σ) with Σ = diag(d) + F Fᵀ the map w' = A w + c is exact for
// the mean and F (m' = A m + c, F' = A F) and keeps diag(A diag(d) Aᵀ) of the diagonal part: the
// coordinate mixing of diag(d) is dropped, the marginal variances stay exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "priors/low_rank_gaussian.h"
#include "priors/students.h"

namespace genzoo::priors {

struct CodeBasis {
  std::vector<double> rotation;  // [k][k] row-major: row i = the i-th principal direction (variance descending)
  std::vector<double> mean;      // [k] μ, the codes' mean
  std::vector<double> variance;  // [k] λ_i, descending
};

// The principal basis of codes [count][k] (row-major). Throws ReduceError for fewer than 2 codes.
CodeBasis principal_code_basis(const std::vector<double>& codes, int64_t count, int64_t k);

// g re-expressed in the basis (above) for the code unit kind `code` (its entering slices: the code's
// weight rows and bias; its leaving slices: the decoder's columns; its leaving_bias: the decoder's bias).
// Throws ReduceError when the basis does not match the kind's unit count.
LowRankGaussian rotate_code(const LowRankGaussian& g, const Layout& layout, const UnitKind& code, const CodeBasis& basis);

}  // namespace genzoo::priors
