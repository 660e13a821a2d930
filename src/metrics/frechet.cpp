#include "metrics/frechet.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>

#include "common/error.h"

namespace genzoo {
namespace {

at::Tensor double_tensor(const double* data, at::IntArrayRef shape) {
  // from_blob does not copy; clone so the caller's buffer is never written or aliased.
  return at::from_blob(const_cast<double*>(data), shape, at::kDouble).clone();
}

// Square root of a symmetric positive semidefinite matrix: V diag(sqrt(max(lambda, 0))) V^T.
at::Tensor symmetric_sqrt(const at::Tensor& matrix) {
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(matrix, "L");
  const at::Tensor roots = eigenvalues.clamp_min(0.0).sqrt();
  return at::matmul(eigenvectors * roots.unsqueeze(0), eigenvectors.transpose(0, 1));
}

at::Tensor symmetrized(const at::Tensor& matrix) { return (matrix + matrix.transpose(0, 1)) * 0.5; }

}  // namespace

double frechet_distance(const double* mean1, const double* cov1, const double* mean2, const double* cov2,
                        int64_t dim) {
  if (dim < 1) throw Error("frechet_distance: dimension must be >= 1, got " + std::to_string(dim));
  const at::Tensor m1 = double_tensor(mean1, {dim});
  const at::Tensor m2 = double_tensor(mean2, {dim});
  const at::Tensor s1 = symmetrized(double_tensor(cov1, {dim, dim}));
  const at::Tensor s2 = symmetrized(double_tensor(cov2, {dim, dim}));
  // eigh would throw on NaN/Inf; a metric of a diverged model is NaN, not an exception.
  if (!at::isfinite(m1).all().item<bool>() || !at::isfinite(m2).all().item<bool>() ||
      !at::isfinite(s1).all().item<bool>() || !at::isfinite(s2).all().item<bool>()) {
    return std::nan("");
  }

  const double mean_term = (m1 - m2).pow(2).sum().item<double>();
  // R cov2 R is similar to cov1 cov2 (same eigenvalues) but symmetric PSD, so eigh applies.
  const at::Tensor root1 = symmetric_sqrt(s1);
  const at::Tensor middle = symmetrized(at::matmul(at::matmul(root1, s2), root1));
  const at::Tensor middle_eigenvalues = at::linalg_eigvalsh(middle, "L");
  const double trace_sqrt_product = middle_eigenvalues.clamp_min(0.0).sqrt().sum().item<double>();
  const double covariance_term = s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * trace_sqrt_product;
  return std::max(0.0, mean_term + covariance_term);
}

GaussianStats gaussian_stats(const float* features, int64_t n, int64_t dim) {
  if (n < 2) throw Error("gaussian_stats: need at least 2 feature vectors for a covariance, got " + std::to_string(n));
  if (dim < 1) throw Error("gaussian_stats: dimension must be >= 1, got " + std::to_string(dim));
  const at::Tensor x = at::from_blob(const_cast<float*>(features), {n, dim}, at::kFloat).to(at::kDouble);
  const at::Tensor mean = x.mean(0);
  const at::Tensor centered = x - mean.unsqueeze(0);
  const at::Tensor covariance = at::matmul(centered.transpose(0, 1), centered) / static_cast<double>(n - 1);

  GaussianStats stats;
  stats.dim = dim;
  stats.count = n;
  stats.mean.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + dim);
  const at::Tensor contiguous = covariance.contiguous();
  stats.covariance.assign(contiguous.data_ptr<double>(), contiguous.data_ptr<double>() + dim * dim);
  return stats;
}

double fid(const GaussianStats& a, const GaussianStats& b) {
  if (a.dim != b.dim) {
    throw Error("fid: feature dimensions differ (" + std::to_string(a.dim) + " vs " + std::to_string(b.dim) + ")");
  }
  for (const GaussianStats* stats : {&a, &b}) {
    if (static_cast<int64_t>(stats->mean.size()) != stats->dim ||
        static_cast<int64_t>(stats->covariance.size()) != stats->dim * stats->dim) {
      throw Error("fid: statistics of dimension " + std::to_string(stats->dim) + " hold " +
                  std::to_string(stats->mean.size()) + " mean and " + std::to_string(stats->covariance.size()) +
                  " covariance entries");
    }
  }
  return frechet_distance(a.mean.data(), a.covariance.data(), b.mean.data(), b.covariance.data(), a.dim);
}

}  // namespace genzoo
