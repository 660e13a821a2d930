#include "information/theorem.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "common/error.h"

namespace genzoo {

namespace {

constexpr double kLog2PiE = 2.8378770664093453;  // log(2πe)

torch::Tensor matrix_of(const std::vector<double>& values, int64_t rows, int64_t cols) {
  if (static_cast<int64_t>(values.size()) != rows * cols) {
    throw ReduceError("theorem: a matrix of " + std::to_string(rows) + " x " + std::to_string(cols) + " has " +
                      std::to_string(values.size()) + " values");
  }
  return torch::from_blob(const_cast<double*>(values.data()), {rows, cols}, torch::kFloat64).clone();
}

}  // namespace

std::vector<double> symmetric_eigenvalues(const std::vector<double>& matrix, int64_t d) {
  const torch::Tensor values = std::get<0>(torch::linalg_eigh(matrix_of(matrix, d, d))).flip(0).contiguous();
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + d);
}

double gaussian_entropy(const std::vector<double>& eigenvalues) {
  double log_det = 0.0;
  for (double l : eigenvalues) {
    if (!(l > 0.0)) throw ReduceError("theorem: Σ must be positive definite (eigenvalue " + std::to_string(l) + ")");
    log_det += std::log(l);
  }
  return 0.5 * (static_cast<double>(eigenvalues.size()) * kLog2PiE + log_det);
}

double theorem_subset_information(int64_t n, double p, const std::vector<double>& eigenvalues) {
  return static_cast<double>(n) * p * gaussian_entropy(eigenvalues);
}

WeightInformation theorem_weight_information(int64_t m, const std::vector<double>& sigma, const std::vector<double>& w1,
                                             const std::vector<double>& w2, int64_t d, int64_t k) {
  const torch::Tensor s = matrix_of(sigma, d, d);
  const torch::Tensor residual = torch::eye(d, torch::kFloat64) - torch::matmul(matrix_of(w2, d, k), matrix_of(w1, k, d));
  const torch::Tensor covariance = torch::matmul(torch::matmul(residual, s), residual.t());
  const std::vector<double> mu = symmetric_eigenvalues(std::vector<double>(covariance.data_ptr<double>(),
                                                                           covariance.data_ptr<double>() + d * d), d);
  const std::vector<double> lambda = symmetric_eigenvalues(sigma, d);
  double log_det_sigma = 0.0;
  for (double l : lambda) log_det_sigma += std::log(l);
  WeightInformation out;
  const double floor = 1e-9 * std::max(mu.front(), 0.0);
  double log_det_residual = 0.0, log_det_kept = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double v = mu[j];
    if (v > floor && v > 0.0) ++out.residual_rank;
    log_det_residual += v > 0.0 ? std::log(v) : -std::numeric_limits<double>::infinity();
    if (j < d - k) log_det_kept += v > 0.0 ? std::log(v) : -std::numeric_limits<double>::infinity();
  }
  const double half_m = 0.5 * static_cast<double>(m);
  out.nats = out.residual_rank < d ? std::numeric_limits<double>::infinity() : half_m * (log_det_sigma - log_det_residual);
  out.residual_subspace = half_m * (log_det_sigma - log_det_kept);
  return out;
}

double theorem_singular_information(int64_t m, int64_t k, std::vector<double> eigenvalues) {
  if (k < 1 || k > static_cast<int64_t>(eigenvalues.size())) throw ReduceError("theorem: k must be 1 to d");
  std::sort(eigenvalues.begin(), eigenvalues.end(), std::greater<double>());
  double sum = static_cast<double>(k) * kLog2PiE;
  for (int64_t i = 0; i < k; ++i) sum += 2.0 * std::log(eigenvalues[i]);
  return 0.25 * static_cast<double>(m) * sum;
}

}  // namespace genzoo
