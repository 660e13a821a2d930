#include "information/theorem.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "common/error.h"
#include "information/estimators.h"
#include "information/flow_estimator.h"
#include "information/ksg.h"

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

std::vector<double> diagonal_matrix(const std::vector<double>& values) {
  const size_t d = values.size();
  std::vector<double> out(d * d, 0.0);
  for (size_t j = 0; j < d; ++j) out[j * d + j] = values[j];
  return out;
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

int64_t moment_dim(int64_t d) { return d + d * (d + 1) / 2; }

std::vector<double> subset_moments(const float* values, int64_t d, const std::vector<int64_t>& indices) {
  const double m = static_cast<double>(indices.size());
  std::vector<double> mean(static_cast<size_t>(d), 0.0), out;
  for (int64_t i : indices)
    for (int64_t a = 0; a < d; ++a) mean[a] += values[i * d + a] / m;
  out = mean;
  for (int64_t a = 0; a < d; ++a) {
    for (int64_t b = a; b < d; ++b) {
      double c = 0.0;
      for (int64_t i : indices) c += (values[i * d + a] - mean[a]) * (values[i * d + b] - mean[b]);
      out.push_back(c / m);
    }
  }
  return out;
}

TheoremCheck check_theorem(const TheoremZoo& zoo, int neighbours, int64_t flow_steps, uint64_t seed) {
  const int64_t n = zoo.models(), d = zoo.d, k = zoo.k;
  if (n < 8) throw ReduceError("theorem check: needs at least 8 models, got " + std::to_string(n));
  if (static_cast<int64_t>(zoo.w1.size()) != n * k * d || static_cast<int64_t>(zoo.w2.size()) != n * d * k ||
      static_cast<int64_t>(zoo.moments.size()) != n * moment_dim(d) || static_cast<int64_t>(zoo.sigma.size()) != d * d) {
    throw ReduceError("theorem check: the zoo's weights, moments or covariance do not match its " + std::to_string(n) +
                      " models in d = " + std::to_string(d));
  }
  TheoremCheck out;
  const std::vector<double> lambda = symmetric_eigenvalues(zoo.sigma, d);
  out.subset_closed = theorem_subset_information(zoo.n, zoo.p, lambda);
  const torch::Tensor w1 = torch::tensor(zoo.w1, torch::kFloat64).view({n, k, d});
  const torch::Tensor w2 = torch::tensor(zoo.w2, torch::kFloat64).view({n, d, k});
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<double> a(zoo.w1.begin() + i * k * d, zoo.w1.begin() + (i + 1) * k * d);
    const std::vector<double> b(zoo.w2.begin() + i * d * k, zoo.w2.begin() + (i + 1) * d * k);
    const WeightInformation w = theorem_weight_information(zoo.m[i], zoo.sigma, a, b, d, k);
    out.weight_closed.push_back(w.nats);
    out.weight_residual.push_back(w.residual_subspace);
    out.singular_closed.push_back(theorem_singular_information(zoo.m[i], k, lambda));
  }
  // Two statements: an argument list may read `components` before principal_components has set it.
  int64_t components = 0;
  const std::vector<double> moment_components = principal_components(zoo.moments, n, moment_dim(d), 4, &components);
  const std::vector<double> x = standardize_columns(moment_components, n, components);
  const auto estimate = [&](const torch::Tensor& statistic, double* ksg, double* flow) {
    // The statistic on its first k principal axes over the zoo (P has d² coordinates).
    const torch::Tensor centered = statistic - statistic.mean(0);
    const int64_t c = std::min<int64_t>(k, statistic.size(1));
    const torch::Tensor axes = std::get<2>(torch::linalg_svd(centered, false)).narrow(0, 0, c);
    const torch::Tensor projected = torch::matmul(centered, axes.t()).contiguous();
    const std::vector<double> y = standardize_columns(
        std::vector<double>(projected.data_ptr<double>(), projected.data_ptr<double>() + n * c), n, c);
    *ksg = components == 0 ? 0.0 : ksg_mutual_information(x, components, y, c, n, neighbours);
    *flow = std::nan("");
    if (components > 0 && n >= flow_min_samples(components, c)) {
      FlowEstimatorOptions options;
      options.steps = flow_steps;
      options.hidden = 32;
      options.seed = seed;
      *flow = flow_mutual_information(x, components, y, c, n, options).mi_heldout_nats;
    }
  };
  estimate(torch::linalg_svdvals(w1), &out.s_ksg, &out.s_flow);
  estimate(torch::bmm(w2, w1).reshape({n, d * d}), &out.p_ksg, &out.p_flow);
  return out;
}

}  // namespace genzoo
