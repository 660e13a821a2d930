#include "information/ksg.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"
#include "common/rng.h"

namespace genzoo {

double digamma(double x) {
  // Recurrence psi(x) = psi(x + 1) - 1/x up to x >= 6, then the asymptotic series.
  double result = 0.0;
  while (x < 6.0) {
    result -= 1.0 / x;
    x += 1.0;
  }
  const double f = 1.0 / (x * x);
  return result + std::log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

double ksg_mutual_information(const std::vector<double>& x, int64_t dx, const std::vector<double>& y, int64_t dy,
                              int64_t n, int k) {
  if (k < 1 || n <= k) {
    throw ReduceError("KSG mutual information needs more samples than neighbours (n = " + std::to_string(n) +
                      ", k = " + std::to_string(k) + ")");
  }
  if (static_cast<int64_t>(x.size()) != n * dx || static_cast<int64_t>(y.size()) != n * dy) {
    throw ReduceError("KSG mutual information: x or y does not hold n rows");
  }
  // Ties (identical rows, e.g. models of one probe dataset sharing proportions) break the k-NN counts;
  // like scikit-learn, add noise 1e-10 times the column scale (deterministic seed).
  Rng rng(0x4b5347);
  const auto jittered = [&rng, n](std::vector<double> values, int64_t d) {
    for (int64_t j = 0; j < d; ++j) {
      double scale = 0.0;
      for (int64_t i = 0; i < n; ++i) scale += std::abs(values[i * d + j]) / static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i) values[i * d + j] += 1e-10 * std::max(1.0, scale) * rng.normal();
    }
    return values;
  };
  const std::vector<double> xs = jittered(x, dx), ys = jittered(y, dy);
  const auto max_norm = [](const double* a, const double* b, int64_t d) {
    double m = 0.0;
    for (int64_t j = 0; j < d; ++j) m = std::max(m, std::abs(a[j] - b[j]));
    return m;
  };
  // Row by row (O(n) memory: 10^4 samples would need 1.6 GB of stored distances): the joint space's
  // k-th neighbour distance epsilon, then the points strictly closer than epsilon in each marginal.
  double sum = 0.0;
#pragma omp parallel reduction(+ : sum)
  {
    std::vector<double> distance_x(static_cast<size_t>(n)), distance_y(static_cast<size_t>(n)), joint(static_cast<size_t>(n - 1));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      int64_t m = 0;
      for (int64_t j = 0; j < n; ++j) {
        distance_x[j] = max_norm(&xs[i * dx], &xs[j * dx], dx);
        distance_y[j] = max_norm(&ys[i * dy], &ys[j * dy], dy);
        if (j != i) joint[m++] = std::max(distance_x[j], distance_y[j]);
      }
      std::nth_element(joint.begin(), joint.begin() + (k - 1), joint.end());
      const double epsilon = joint[k - 1];
      int64_t nx = 0, ny = 0;
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        nx += distance_x[j] < epsilon;
        ny += distance_y[j] < epsilon;
      }
      sum += digamma(static_cast<double>(nx + 1)) + digamma(static_cast<double>(ny + 1));
    }
  }
  return digamma(k) + digamma(static_cast<double>(n)) - sum / static_cast<double>(n);
}

std::vector<double> standardize_columns(std::vector<double> values, int64_t n, int64_t dim) {
  for (int64_t j = 0; j < dim; ++j) {
    double mean = 0.0, variance = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += values[i * dim + j] / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) variance += (values[i * dim + j] - mean) * (values[i * dim + j] - mean) / static_cast<double>(n);
    const double scale = variance > 0.0 ? 1.0 / std::sqrt(variance) : 0.0;
    for (int64_t i = 0; i < n; ++i) values[i * dim + j] = (values[i * dim + j] - mean) * scale;
  }
  return values;
}

std::vector<double> principal_components(const std::vector<double>& values, int64_t n, int64_t dim,
                                         int64_t max_components, int64_t* components, double* kept_share) {
  if (static_cast<int64_t>(values.size()) != n * dim) throw ReduceError("principal components: the values do not hold n rows");
  auto data = torch::from_blob(const_cast<double*>(values.data()), {n, dim}, torch::kFloat64);
  const auto std = data.std(0, /*unbiased=*/false);
  const auto keep = (std > 1e-12 * (1.0 + data.abs().amax(0))).nonzero().squeeze(1);
  data = data.index_select(1, keep);
  data = (data - data.mean(0)) / std.index_select(0, keep);
  const int64_t count = std::min({max_components, data.size(1), n});
  *components = count;
  if (kept_share) *kept_share = data.size(1) == 0 ? 1.0 : 0.0;
  if (count == 0) return {};
  // Right singular vectors of the standardized data = principal axes, in decreasing variance.
  const auto svd = torch::linalg_svd(data, /*full_matrices=*/false);
  if (kept_share) {  // a component's variance is its singular value squared over n
    const auto variance = std::get<1>(svd).pow(2);
    *kept_share = (variance.narrow(0, 0, count).sum() / variance.sum()).item<double>();
  }
  const auto projected = torch::matmul(data, std::get<2>(svd).narrow(0, 0, count).transpose(0, 1)).contiguous();
  return std::vector<double>(projected.data_ptr<double>(), projected.data_ptr<double>() + n * count);
}

std::vector<double> principal_components(const std::vector<float>& values, int64_t n, int64_t dim,
                                         int64_t max_components, int64_t* components, double* kept_share) {
  return principal_components(std::vector<double>(values.begin(), values.end()), n, dim, max_components, components, kept_share);
}

}  // namespace genzoo
