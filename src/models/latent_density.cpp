#include "models/latent_density.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/blas.h"
#include "common/cholesky.h"
#include "common/rng.h"

namespace genzoo {

namespace {

// The conjugate pull of every M-step, in points: negligible beside a component with tens of points,
// decisive for one with none.
constexpr double kPullPoints = 1e-2;
constexpr double kRidge = 1e-6;  // relative to the sample covariance's mean variance
// A point whose responsibility for a component is below this adds nothing the M-step's doubles keep beside
// the ridge (1e-6 of a variance), so the component's sums skip it.
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

// logits[c] + each component's normalizer -Σ log L_ii - (d/2) log 2π (computed once per component: the
// logarithms would otherwise dominate the E-step).
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

// L⁻¹ of a lower-triangular L [d, d] (row-major), by forward substitution on the identity's columns.
std::vector<double> lower_inverse(const double* l, int64_t d) {
  std::vector<double> inverse(d * d, 0.0);
  for (int64_t column = 0; column < d; ++column) {
    for (int64_t i = column; i < d; ++i) {
      double v = i == column ? 1.0 : 0.0;
      for (int64_t j = column; j < i; ++j) v -= l[i * d + j] * inverse[j * d + column];
      inverse[i * d + column] = v / l[i * d + i];
    }
  }
  return inverse;
}

// terms [n, K] = log π_c + log N(x_p | μ_c, L_c L_cᵀ) of every point p and component c, where
// log N = -½ |y_pc|² + normalizer and y_pc = L_c⁻¹ (x_p - μ_c) = L_c⁻¹ x_p - L_c⁻¹ μ_c. The L_c⁻¹ x_p of all
// components come from one product per block of points, X_block [rows, d] · W [d, K d] with W's column block c
// = L_c⁻ᵀ (BLAS; a scalar solve per point and component was most of the fit's time at d = 32), blocks of
// kTermRows points keeping the product cache-sized. projected: scratch.
constexpr int64_t kTermRows = 256;
void component_terms(const GaussianMixture& m, const std::vector<double>& constants, const double* points, int64_t n,
                     std::vector<double>& projected, std::vector<double>& terms) {
  const int64_t d = m.dim, k = m.components, width = k * d;
  std::vector<double> w(d * width), shift(width);  // shift [K d]: L_c⁻¹ μ_c
  for (int64_t c = 0; c < k; ++c) {
    const std::vector<double> inverse = lower_inverse(&m.scale_tril[c * d * d], d);
    for (int64_t i = 0; i < d; ++i) {
      double v = 0.0;
      for (int64_t j = 0; j <= i; ++j) {
        w[j * width + c * d + i] = inverse[i * d + j];
        v += inverse[i * d + j] * m.means[c * d + j];
      }
      shift[c * d + i] = v;
    }
  }
  projected.resize(std::min(n, kTermRows) * width);
  terms.resize(n * k);
  for (int64_t first = 0; first < n; first += kTermRows) {
    const int64_t rows = std::min(kTermRows, n - first);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_size(rows), blas_size(width), blas_size(d), 1.0,
                points + first * d, blas_size(d), w.data(), blas_size(width), 0.0, projected.data(), blas_size(width));
    for (int64_t r = 0; r < rows; ++r) {
      const double* y = &projected[r * width];
      for (int64_t c = 0; c < k; ++c) {
        double quadratic = 0.0;
        for (int64_t i = 0; i < d; ++i) {
          const double v = y[c * d + i] - shift[c * d + i];
          quadratic += v * v;
        }
        terms[(first + r) * k + c] = -0.5 * quadratic + constants[c];
      }
    }
  }
}

// log Σ exp(v); with `normalized`, also each exp(v_c) / Σ exp(v) into it (one exponential per term). A
// point no term can explain (every v_c -inf, or a NaN on top) gets equal shares, not last round's.
double log_sum_exp(const double* v, int64_t count, double* normalized = nullptr) {
  const double top = *std::max_element(v, v + count);
  if (!std::isfinite(top)) {
    if (normalized) std::fill(normalized, normalized + count, 1.0 / static_cast<double>(count));
    return top;
  }
  // Terms more than kNegligibleLog below the largest add under 1e-30 of it to the sum: they are left out, and
  // so is their exponential's slow underflow path.
  constexpr double kNegligibleLog = -69.0;
  double sum = 0.0;
  for (int64_t c = 0; c < count; ++c) {
    const double e = v[c] - top > kNegligibleLog ? std::exp(v[c] - top) : 0.0;
    sum += e;
    if (normalized) normalized[c] = e;
  }
  if (normalized) {
    for (int64_t c = 0; c < count; ++c) normalized[c] /= sum;
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
  const int64_t k = mixture.components;
  std::vector<double> projected, terms;
  component_terms(mixture, log_weight_and_normalizer(mixture), points.data(), n, projected, terms);
  double total = 0.0;
  for (int64_t p = 0; p < n; ++p) total += log_sum_exp(&terms[p * k], k);
  return total / static_cast<double>(std::max<int64_t>(1, n));
}

GaussianMixture fit_gaussian_mixture(const std::vector<double>& points, int64_t n, int64_t dim, int64_t components,
                                     uint64_t seed, double shrinkage, int64_t max_iterations, double tolerance) {
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
  std::vector<double> offsets(n * d), projected, terms, sum(d), scatter(d * d);
  std::vector<double> weights(k);
  std::vector<std::vector<int64_t>> members(k);  // [K] lists of point indices
  double previous = -std::numeric_limits<double>::infinity();
  for (int64_t iteration = 0; iteration < max_iterations; ++iteration) {
    // M-step, pulled towards the sample's Gaussian by kPullPoints points.
    // Each component's points: those whose responsibility is not negligible (a point of a well-separated
    // mixture belongs to one or two of K components, so the sums below run over ~n/K points, not n).
    std::fill(weights.begin(), weights.end(), 0.0);
    for (auto& list : members) list.clear();
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t c = 0; c < k; ++c) {
        const double r = responsibility[p * k + c];
        weights[c] += r;
        if (r > kNegligibleResponsibility) members[c].push_back(p);
      }
    }
    for (int64_t c = 0; c < k; ++c) {
      const double weight = weights[c];
      const int64_t count = static_cast<int64_t>(members[c].size());
      std::fill(sum.begin(), sum.end(), 0.0);
      for (const int64_t p : members[c]) {
        const double r = responsibility[p * k + c];
        for (int64_t i = 0; i < d; ++i) sum[i] += r * points[p * d + i];
      }
      const double denominator = weight + kPullPoints;
      double* mu = &mixture.means[c * d];
      for (int64_t i = 0; i < d; ++i) mu[i] = (sum[i] + kPullPoints * mean[i]) / denominator;
      // scatter (lower triangle) = Σ_p r_pc (x_p - μ_c)(x_p - μ_c)ᵀ = Aᵀ A with rows a_p = √r_pc (x_p - μ_c)
      for (int64_t row = 0; row < count; ++row) {
        const int64_t p = members[c][row];
        const double root = std::sqrt(responsibility[p * k + c]);
        for (int64_t i = 0; i < d; ++i) offsets[row * d + i] = root * (points[p * d + i] - mu[i]);
      }
      std::fill(scatter.begin(), scatter.end(), 0.0);
      if (count > 0) {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, blas_size(d), blas_size(count), 1.0, offsets.data(), blas_size(d),
                    0.0, scatter.data(), blas_size(d));
      }
      for (int64_t i = 0; i < d; ++i) {
        for (int64_t j = 0; j <= i; ++j) {
          const double shift = kPullPoints * (mean[i] - mu[i]) * (mean[j] - mu[j]);
          scatter[i * d + j] = (scatter[i * d + j] + kPullPoints * covariance[i * d + j] + shift) / denominator;
          if (j < i) scatter[i * d + j] *= 1.0 - shrinkage;  // a convex mix of Σ_c and its diagonal: still positive definite
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
    component_terms(mixture, log_weight_and_normalizer(mixture), points.data(), n, projected, terms);
    for (int64_t p = 0; p < n; ++p) log_likelihood += log_sum_exp(&terms[p * k], k, &responsibility[p * k]);
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

namespace {
bool is_latent_density(const ParamLayout& param) { return param.role == kLatentDensityRole; }
}  // namespace

bool has_latent_density(const Layout& layout) { return std::any_of(layout.begin(), layout.end(), is_latent_density); }

int64_t trained_param_count(const Layout& layout) {
  const auto density = std::find_if(layout.begin(), layout.end(), is_latent_density);
  return density == layout.end() ? layout_size(layout) : density->offset;
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
