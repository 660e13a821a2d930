// The Cholesky factorization shared by the priors' low-rank Gaussians and the vae's latent density.
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// a (n x n, row-major, symmetric) becomes its lower Cholesky factor L, a = L Lᵀ, with the upper triangle
// zeroed. Returns false, leaving a partly overwritten, when a is not positive definite.
bool cholesky_in_place(std::vector<double>& a, int64_t n);

}  // namespace genzoo
