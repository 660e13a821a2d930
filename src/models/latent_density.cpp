#include "models/latent_density.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/cholesky.h"
#include "common/rng.h"

namespace genzoo {

namespace {

// The conjugate pull of every M-step, in points: negligible beside a component with tens of points,
// decisive for one with none.
constexpr double kPullPoints = 1e-2;
constexpr double kRidge = 1e-6;  // relative to the sample covariance's mean variance
// A point this unlikely under a component adds nothing visible to its scatter (the sums are of order 1).
constexpr double kNegligibleResponsibility = 1e-12;

// Cholesky factor L (lower, [d, d]) of a symmetric positive definite a; adds a growing ridge until the
// factorization succeeds (a covariance that rounding made semi-definite).
std::vector<double> cholesky(std::vector<double> a, int64_t d, double ridge) {
  for (int attempt = 0;; ++attempt) {
    std::vector<double> l = a;
    if (cholesky_in_place(l, d)) return l;
    if (attempt >= 30) {  // not reached for a covariance of finite points; a finite diagonal factor all the same
      std::fill(l.begin(), l.end(), 0.0);
      for (int64_t i = 0; i < d; ++i) l[i * d + i] = std::sqrt(std::max(std::fabs(a[i * d + i]), ridge));
      return l;
    }
    for (int64_t i = 0; i < d; ++i) a[i * d + i] += ridge * std::pow(10.0, attempt);
  }
}

// log N(x | μ, L Lᵀ) = -½ |L⁻¹ (x - μ)|² + normalizer, normalizer = -Σ log L_ii - (d/2) log 2π (per component,
// computed once: the logarithms would otherwise dominate the E-step).
double log_normal(const double* x, const double* mean, const double* l, int64_t d, double normalizer, std::vector<double>& y) {
  double quadratic = 0.0;
  for (int64_t i = 0; i < d; ++i) {
    double v = x[i] - mean[i];
    for (int64_t k = 0; k < i; ++k) v -= l[i * d + k] * y[k];
    y[i] = v / l[i * d + i];
    quadratic += y[i] * y[i];
  }
  return -0.5 * quadratic + normalizer;
}

// logits[c] + each component's normalizer.
std::vector<double> log_weight_and_normalizer(const GaussianMixture& m) {
  const int64_t d = m.dim;
  std::vector<double> out(m.components);
  for (int64_t c = 0; c < m.components; ++c) {
    double log_det = 0.0;
    for (int64_t i = 0; i < d; ++i) log_det += std::log(m.scale_tril[(c * d + i) * d + i]);
    out[c] = m.logits[c] - log_det - 0.5 * static_cast<double>(d) * std::log(2.0 * M_PI);
  }
  return out;
}

// log p(x) terms of one point: log π_c + log N(x | μ_c, Σ_c) for every c, into terms.
void component_terms(const GaussianMixture& m, const std::vector<double>& constants, const double* x, std::vector<double>& y,
                     std::vector<double>& terms) {
  const int64_t d = m.dim;
  for (int64_t c = 0; c < m.components; ++c) {
    terms[c] = log_normal(x, &m.means[c * d], &m.scale_tril[c * d * d], d, constants[c], y);
  }
}

// log Σ exp(v); with `normalized`, also each exp(v_c) / Σ exp(v) into it (one exponential per term). A
// point no term can explain (every v_c -inf, or a NaN on top) gets equal shares, not last round's.
double log_sum_exp(const std::vector<double>& v, double* normalized = nullptr) {
  const double top = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(top)) {
    if (normalized) std::fill(normalized, normalized + v.size(), 1.0 / static_cast<double>(v.size()));
    return top;
  }
  double sum = 0.0;
  for (size_t c = 0; c < v.size(); ++c) {
    const double e = std::exp(v[c] - top);
    sum += e;
    if (normalized) normalized[c] = e;
  }
  if (normalized) {
    for (size_t c = 0; c < v.size(); ++c) normalized[c] /= sum;
  }
  return top + std::log(sum);
}

double squared_distance(const double* a, const double* b, int64_t d) {
  double distance = 0.0;
  for (int64_t i = 0; i < d; ++i) distance += (a[i] - b[i]) * (a[i] - b[i]);
  return distance;
}

}  // namespace

GaussianMixture standard_mixture(int64_t components, int64_t dim) {
  GaussianMixture mixture{components, dim, std::vector<double>(components, -std::log(static_cast<double>(components))),
                          std::vector<double>(components * dim, 0.0), std::vector<double>(components * dim * dim, 0.0)};
  for (int64_t c = 0; c < components; ++c) {
    for (int64_t i = 0; i < dim; ++i) mixture.scale_tril[(c * dim + i) * dim + i] = 1.0;
  }
  return mixture;
}

double mixture_log_likelihood(const GaussianMixture& mixture, const std::vector<double>& points, int64_t n) {
  const int64_t d = mixture.dim, k = mixture.components;
  std::vector<double> y(d), terms(k);
  const std::vector<double> constants = log_weight_and_normalizer(mixture);
  double total = 0.0;
  for (int64_t p = 0; p < n; ++p) {
    component_terms(mixture, constants, &points[p * d], y, terms);
    total += log_sum_exp(terms);
  }
  return total / static_cast<double>(std::max<int64_t>(1, n));
}

GaussianMixture fit_gaussian_mixture(const std::vector<double>& points, int64_t n, int64_t dim, int64_t components,
                                     uint64_t seed, int64_t max_iterations, double tolerance) {
  const int64_t d = dim, k = components;
  const bool finite = std::all_of(points.begin(), points.begin() + n * d, [](double v) { return std::isfinite(v); });
  if (n < 1 || !finite) return standard_mixture(k, d);

  // The whole sample's Gaussian: the pull's target.
  std::vector<double> mean(d, 0.0), covariance(d * d, 0.0);
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t i = 0; i < d; ++i) mean[i] += points[p * d + i] / static_cast<double>(n);
  }
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        covariance[i * d + j] += (points[p * d + i] - mean[i]) * (points[p * d + j] - mean[j]) / static_cast<double>(n);
      }
    }
  }
  double mean_variance = 0.0;
  for (int64_t i = 0; i < d; ++i) mean_variance += covariance[i * d + i] / static_cast<double>(d);
  const double ridge = kRidge * std::max(mean_variance, 1e-12);

  // k-means++ start: each next centre a point drawn with probability proportional to its squared
  // distance from the nearest centre so far; then hard responsibilities to the nearest centre.
  Rng rng(seed);
  std::vector<int64_t> centres{rng.uniform_int(n)};
  std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
  while (static_cast<int64_t>(centres.size()) < k) {
    double total = 0.0;
    for (int64_t p = 0; p < n; ++p) {
      nearest[p] = std::min(nearest[p], squared_distance(&points[p * d], &points[centres.back() * d], d));
      total += nearest[p];
    }
    int64_t pick = rng.uniform_int(n);
    if (total > 0.0) {
      double target = rng.uniform() * total;
      for (pick = 0; pick + 1 < n && (target -= nearest[pick]) > 0.0; ++pick) {
      }
    }
    centres.push_back(pick);
  }
  std::vector<double> responsibility(n * k, 0.0);  // [n, K]
  for (int64_t p = 0; p < n; ++p) {
    int64_t best = 0;
    double best_distance = std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < k; ++c) {
      const double distance = squared_distance(&points[p * d], &points[centres[c] * d], d);
      if (distance < best_distance) best_distance = distance, best = c;
    }
    responsibility[p * k + best] = 1.0;
  }

  GaussianMixture mixture = standard_mixture(k, d);
  std::vector<double> y(d), terms(k);
  double previous = -std::numeric_limits<double>::infinity();
  for (int64_t iteration = 0; iteration < max_iterations; ++iteration) {
    // M-step, pulled towards the sample's Gaussian by kPullPoints points.
    for (int64_t c = 0; c < k; ++c) {
      double weight = 0.0;
      std::vector<double> sum(d, 0.0);
      for (int64_t p = 0; p < n; ++p) {
        const double r = responsibility[p * k + c];
        weight += r;
        for (int64_t i = 0; i < d; ++i) sum[i] += r * points[p * d + i];
      }
      const double denominator = weight + kPullPoints;
      double* mu = &mixture.means[c * d];
      for (int64_t i = 0; i < d; ++i) mu[i] = (sum[i] + kPullPoints * mean[i]) / denominator;
      std::vector<double> scatter(d * d, 0.0);
      for (int64_t p = 0; p < n; ++p) {
        const double r = responsibility[p * k + c];
        if (r < kNegligibleResponsibility) continue;
        for (int64_t i = 0; i < d; ++i) {
          const double a = r * (points[p * d + i] - mu[i]);
          for (int64_t j = 0; j <= i; ++j) scatter[i * d + j] += a * (points[p * d + j] - mu[j]);
        }
      }
      for (int64_t i = 0; i < d; ++i) {
        for (int64_t j = 0; j <= i; ++j) {
          const double shift = kPullPoints * (mean[i] - mu[i]) * (mean[j] - mu[j]);
          scatter[i * d + j] = (scatter[i * d + j] + kPullPoints * covariance[i * d + j] + shift) / denominator;
          scatter[j * d + i] = scatter[i * d + j];
        }
        scatter[i * d + i] += ridge;
      }
      const std::vector<double> l = cholesky(scatter, d, ridge);
      std::copy(l.begin(), l.end(), mixture.scale_tril.begin() + c * d * d);
      mixture.logits[c] = std::log((weight + kPullPoints / static_cast<double>(k)) / (static_cast<double>(n) + kPullPoints));
    }
    // E-step: responsibilities and the log-likelihood they came from.
    double log_likelihood = 0.0;
    const std::vector<double> constants = log_weight_and_normalizer(mixture);
    for (int64_t p = 0; p < n; ++p) {
      component_terms(mixture, constants, &points[p * d], y, terms);
      log_likelihood += log_sum_exp(terms, &responsibility[p * k]);
    }
    log_likelihood /= static_cast<double>(n);
    if (log_likelihood - previous < tolerance) break;
    previous = log_likelihood;
  }
  return mixture;
}

void add_latent_density(Layout& layout, int64_t components, int64_t dim) {
  add_param(layout, "latent_density.logits", kLatentDensityRole, {components});
  add_param(layout, "latent_density.means", kLatentDensityRole, {components, dim});
  add_param(layout, "latent_density.scale_tril", kLatentDensityRole, {components, dim, dim});
}

bool has_latent_density(const Layout& layout) {
  return std::any_of(layout.begin(), layout.end(), [](const ParamLayout& p) { return p.role == kLatentDensityRole; });
}

void write_latent_density(const GaussianMixture& mixture, const Layout& layout, float* weights) {
  const auto put = [&](const char* name, const std::vector<double>& values) {
    const ParamLayout& param = find_param(layout, name);
    for (int64_t i = 0; i < param.numel(); ++i) weights[param.offset + i] = static_cast<float>(values[i]);
  };
  put("latent_density.logits", mixture.logits);
  put("latent_density.means", mixture.means);
  put("latent_density.scale_tril", mixture.scale_tril);
}

GaussianMixture read_latent_density(const Layout& layout, const float* weights) {
  const ParamLayout& means = find_param(layout, "latent_density.means");
  GaussianMixture mixture{means.shape[0], means.shape[1], {}, {}, {}};
  const auto get = [&](const char* name, std::vector<double>& values) {
    const ParamLayout& param = find_param(layout, name);
    values.assign(weights + param.offset, weights + param.offset + param.numel());
  };
  get("latent_density.logits", mixture.logits);
  get("latent_density.means", mixture.means);
  get("latent_density.scale_tril", mixture.scale_tril);
  return mixture;
}

}  // namespace genzoo
