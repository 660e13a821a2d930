// Fréchet distance between Gaussians, and FID: the Fréchet distance between Gaussians fitted to two
// sets of feature vectors (generated vs real images embedded by the feature net, DESIGN.md section 3).
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// Mean and covariance of a set of feature vectors, in double precision.
struct GaussianStats {
  int64_t dim = 0;
  int64_t count = 0;                // how many vectors the statistics come from
  std::vector<double> mean;         // [dim]
  std::vector<double> covariance;   // [dim, dim], row-major, unbiased (divides by count - 1)
};

// Squared Fréchet (2-Wasserstein) distance between N(mean1, cov1) and N(mean2, cov2):
//   |mean1 - mean2|^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)).
// Means are [dim], covariances [dim, dim] row-major, symmetric positive semidefinite. Computed in double
// with symmetric eigendecompositions only: Tr((cov1 cov2)^(1/2)) = sum_i sqrt(eig_i(R cov2 R)) with
// R = cov1^(1/2), because cov1 cov2 is not symmetric and a general matrix square root of it is fragile
// for the singular, ill-conditioned covariances that few samples in many dimensions give. Eigenvalues
// that rounding pushes below zero are treated as zero, and so is a result that rounding makes negative.
// NaN in the input gives NaN.
double frechet_distance(const double* mean1, const double* cov1, const double* mean2, const double* cov2,
                        int64_t dim);

// Mean and unbiased covariance of features [n, dim] (row-major). Throws genzoo::Error when n < 2 or
// dim < 1.
GaussianStats gaussian_stats(const float* features, int64_t n, int64_t dim);

// Fréchet inception distance (here: with feature-net embeddings) between two fitted Gaussians.
// Throws genzoo::Error when their dimensions differ.
double fid(const GaussianStats& a, const GaussianStats& b);

}  // namespace genzoo
