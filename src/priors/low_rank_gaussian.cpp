#include "priors/low_rank_gaussian.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/cholesky.h"
#include "common/error.h"

namespace genzoo::priors {

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// x = C⁻¹ b for C = L Lᵀ (forward, then backward substitution).
std::vector<double> cholesky_solve(const std::vector<double>& l, int64_t r, std::vector<double> b) {
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t k = 0; k < i; ++k) b[i] -= l[i * r + k] * b[k];
    b[i] /= l[i * r + i];
  }
  for (int64_t i = r - 1; i >= 0; --i) {
    for (int64_t k = i + 1; k < r; ++k) b[i] -= l[k * r + i] * b[k];
    b[i] /= l[i * r + i];
  }
  return b;
}

// L⁻¹ of a lower triangular r x r matrix.
std::vector<double> lower_inverse(const std::vector<double>& l, int64_t r) {
  std::vector<double> inv(r * r, 0.0);
  for (int64_t j = 0; j < r; ++j) {
    inv[j * r + j] = 1.0 / l[j * r + j];
    for (int64_t i = j + 1; i < r; ++i) {
      double s = 0.0;
      for (int64_t k = j; k < i; ++k) s += l[i * r + k] * inv[k * r + j];
      inv[i * r + j] = -s / l[i * r + i];
    }
  }
  return inv;
}

// I + Fᵀ D⁻¹ F over the rows `rows` of g (all rows when null), Cholesky-factored.
std::vector<double> capacitance_factor(const LowRankGaussian& g, const std::vector<int64_t>* rows) {
  const int64_t r = g.rank;
  std::vector<double> c(r * r, 0.0);
  const auto add_row = [&](int64_t i) {
    const double* f = g.factor.data() + i * r;
    const double w = 1.0 / g.diag[i];
    for (int64_t a = 0; a < r; ++a)
      for (int64_t b = 0; b <= a; ++b) c[a * r + b] += w * f[a] * f[b];
  };
  if (rows) {
    for (int64_t i : *rows) add_row(i);
  } else {
    for (int64_t i = 0; i < g.size(); ++i) add_row(i);
  }
  for (int64_t a = 0; a < r; ++a) {
    c[a * r + a] += 1.0;
    for (int64_t b = a + 1; b < r; ++b) c[a * r + b] = c[b * r + a];
  }
  if (!cholesky_in_place(c, r)) throw ReduceError("low-rank Gaussian: I + Fᵀ D⁻¹ F is not positive definite");
  return c;
}

void check_indices(const std::vector<int64_t>& indices, int64_t size, const char* what) {
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= size || (i > 0 && indices[i] <= indices[i - 1])) {
      throw ReduceError(std::string("low-rank Gaussian: ") + what + " indices must be ascending, unique and below " +
                                  std::to_string(size) + " (index " + std::to_string(indices[i]) + ")");
    }
  }
}

}  // namespace

void symmetric_eigen(std::vector<double> a, int64_t n, std::vector<double>& values, std::vector<double>& vectors) {
  vectors.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) vectors[i * n + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, total = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) (i == j ? total : off) += a[i * n + j] * a[i * n + j];
    if (off <= 1e-30 * (total + off) || off == 0.0) break;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0.0) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = vectors[k * n + p], vkq = vectors[k * n + q];
          vectors[k * n + p] = c * vkp - s * vkq;
          vectors[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[x * n + x] > a[y * n + y]; });
  values.resize(n);
  std::vector<double> sorted(n * n);
  for (int64_t j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (int64_t k = 0; k < n; ++k) sorted[k * n + j] = vectors[k * n + order[j]];
  }
  vectors = std::move(sorted);
}

double LowRankGaussian::covariance(int64_t i, int64_t j) const {
  double s = i == j ? diag[i] : 0.0;
  for (int64_t k = 0; k < rank; ++k) s += factor[i * rank + k] * factor[j * rank + k];
  return s;
}

void LowRankGaussian::check() const {
  const int64_t p = size();
  if (static_cast<int64_t>(diag.size()) != p || static_cast<int64_t>(factor.size()) != p * rank || rank < 0) {
    throw ReduceError("low-rank Gaussian: mean " + std::to_string(p) + ", diagonal " +
                                std::to_string(diag.size()) + ", factor " + std::to_string(factor.size()) +
                                " values for rank " + std::to_string(rank));
  }
  for (int64_t i = 0; i < p; ++i) {
    if (!(diag[i] > 0.0) || !std::isfinite(diag[i])) {
      throw ReduceError("low-rank Gaussian: diagonal entry " + std::to_string(i) + " is " +
                                  std::to_string(diag[i]) + " (must be positive and finite)");
    }
  }
}

namespace {

// (x - m)ᵀ Σ⁻¹ (x - m) = dᵀ D⁻¹ d - uᵀ C⁻¹ u with u = Fᵀ D⁻¹ d, C = I + Fᵀ D⁻¹ F (Woodbury);
// log|Σ| = Σ log D_i + log|C| (matrix determinant lemma). x = null: the point 0.
void quadratic_and_log_det(const LowRankGaussian& g, const std::vector<double>* x, double* quadratic, double* log_det) {
  const int64_t p = g.size(), r = g.rank;
  if (x && static_cast<int64_t>(x->size()) != p) {
    throw ReduceError("low-rank Gaussian: a point of " + std::to_string(x->size()) + " values for a density over " +
                      std::to_string(p));
  }
  double q = 0.0, ld = 0.0;
  std::vector<double> u(r, 0.0);
  for (int64_t i = 0; i < p; ++i) {
    const double d = (x ? (*x)[i] : 0.0) - g.mean[i], w = d / g.diag[i];
    q += d * w;
    if (log_det) ld += std::log(g.diag[i]);
    for (int64_t k = 0; k < r; ++k) u[k] += g.factor[i * r + k] * w;
  }
  if (r > 0) {
    const std::vector<double> l = capacitance_factor(g, nullptr);
    const std::vector<double> c_inv_u = cholesky_solve(l, r, u);
    for (int64_t k = 0; k < r; ++k) {
      q -= u[k] * c_inv_u[k];
      if (log_det) ld += 2.0 * std::log(l[k * r + k]);
    }
  }
  *quadratic = q;
  if (log_det) *log_det = ld;
}

}  // namespace

double LowRankGaussian::log_density(const std::vector<double>& x) const {
  double quadratic = 0.0, log_det = 0.0;
  quadratic_and_log_det(*this, &x, &quadratic, &log_det);
  return -0.5 * (quadratic + log_det + static_cast<double>(size()) * kLog2Pi);
}

double LowRankGaussian::mahalanobis(const std::vector<double>* x) const {
  double quadratic = 0.0;
  quadratic_and_log_det(*this, x, &quadratic, nullptr);
  return quadratic;
}

PrecisionFactor precision_factor(const LowRankGaussian& g) {
  const int64_t p = g.size(), r = g.rank;
  PrecisionFactor out{std::vector<double>(p * r), std::vector<double>(p), 0.0};
  for (int64_t i = 0; i < p; ++i) {
    out.log_det += std::log(g.diag[i]);
    out.precision_diag[i] = 1.0 / g.diag[i];
  }
  if (r == 0) return out;
  const std::vector<double> l = capacitance_factor(g, nullptr);
  const std::vector<double> l_inv = lower_inverse(l, r);
  for (int64_t k = 0; k < r; ++k) out.log_det += 2.0 * std::log(l[k * r + k]);
  // Row i of C = (L⁻¹ F_iᵀ / D_i)ᵀ.
  for (int64_t i = 0; i < p; ++i) {
    for (int64_t k = 0; k < r; ++k) {
      double s = 0.0;
      for (int64_t q = 0; q <= k; ++q) s += l_inv[k * r + q] * g.factor[i * r + q];
      out.woodbury[i * r + k] = s / g.diag[i];
      out.precision_diag[i] -= out.woodbury[i * r + k] * out.woodbury[i * r + k];
    }
  }
  return out;
}

std::vector<double> precision_diagonal(const LowRankGaussian& g) { return precision_factor(g).precision_diag; }

std::vector<double> principal_variance_shares(const LowRankGaussian& g) {
  const int64_t p = g.size(), r = g.rank;
  std::vector<double> out(p, 0.0);
  if (r == 0) return out;
  // Fᵀ F = V diag(σ²) Vᵀ; the top direction of F Fᵀ is u₁ = F v₁ / σ₁, so σ₁² U_i1² = (F v₁)_i².
  std::vector<double> gram(r * r, 0.0);
  for (int64_t i = 0; i < p; ++i)
    for (int64_t a = 0; a < r; ++a)
      for (int64_t b = 0; b < r; ++b) gram[a * r + b] += g.factor[i * r + a] * g.factor[i * r + b];
  std::vector<double> values, vectors;
  symmetric_eigen(gram, r, values, vectors);
  for (int64_t i = 0; i < p; ++i) {
    double projection = 0.0, variance = g.diag[i];
    for (int64_t k = 0; k < r; ++k) {
      projection += g.factor[i * r + k] * vectors[k * r];
      variance += g.factor[i * r + k] * g.factor[i * r + k];
    }
    out[i] = projection * projection / variance;
  }
  return out;
}

LowRankGaussian isotropic(std::vector<double> mean, double variance) {
  LowRankGaussian g;
  g.diag.assign(mean.size(), variance);
  g.mean = std::move(mean);
  g.check();
  return g;
}

LowRankGaussian marginal(const LowRankGaussian& g, const std::vector<int64_t>& keep) {
  check_indices(keep, g.size(), "kept");
  LowRankGaussian out;
  out.rank = g.rank;
  out.mean.reserve(keep.size());
  out.diag.reserve(keep.size());
  out.factor.reserve(keep.size() * g.rank);
  for (int64_t i : keep) {
    out.mean.push_back(g.mean[i]);
    out.diag.push_back(g.diag[i]);
    out.factor.insert(out.factor.end(), g.factor.begin() + i * g.rank, g.factor.begin() + (i + 1) * g.rank);
  }
  return out;
}

LowRankGaussian condition(const LowRankGaussian& g, const std::vector<int64_t>& fixed, const std::vector<double>& values,
                          const std::vector<int64_t>& drop) {
  check_indices(fixed, g.size(), "fixed");
  if (values.size() != fixed.size()) {
    throw ReduceError("low-rank Gaussian: " + std::to_string(values.size()) + " values for " +
                                std::to_string(fixed.size()) + " fixed coordinates");
  }
  check_indices(drop, g.size(), "dropped");
  const int64_t r = g.rank;
  std::vector<int64_t> rest;
  rest.reserve(g.size());
  for (int64_t i = 0, f = 0, d = 0; i < g.size(); ++i) {
    const bool is_fixed = f < static_cast<int64_t>(fixed.size()) && fixed[f] == i;
    const bool is_dropped = d < static_cast<int64_t>(drop.size()) && drop[d] == i;
    f += is_fixed;
    d += is_dropped;
    if (is_fixed && is_dropped) throw ReduceError("low-rank Gaussian: coordinate " + std::to_string(i) + " both fixed and dropped");
    if (!is_fixed && !is_dropped) rest.push_back(i);
  }
  LowRankGaussian out = marginal(g, rest);
  if (r == 0) return out;  // independent coordinates: conditioning changes nothing else
  const std::vector<double> l = capacitance_factor(g, &fixed);
  // c = (I + M)⁻¹ F_Aᵀ D_A⁻¹ (a - m_A)
  std::vector<double> v(r, 0.0);
  for (size_t f = 0; f < fixed.size(); ++f) {
    const int64_t i = fixed[f];
    const double w = (values[f] - g.mean[i]) / g.diag[i];
    for (int64_t k = 0; k < r; ++k) v[k] += g.factor[i * r + k] * w;
  }
  const std::vector<double> c = cholesky_solve(l, r, v);
  // New factor F_B L⁻ᵀ: (L⁻ᵀ)(L⁻ᵀ)ᵀ = (L Lᵀ)⁻¹ = (I + M)⁻¹.
  const std::vector<double> l_inv = lower_inverse(l, r);
  std::vector<double> row(r);
  for (size_t b = 0; b < rest.size(); ++b) {
    double* f = out.factor.data() + b * r;
    for (int64_t k = 0; k < r; ++k) out.mean[b] += f[k] * c[k];
    for (int64_t k = 0; k < r; ++k) {
      double s = 0.0;
      for (int64_t q = 0; q <= k; ++q) s += f[q] * l_inv[k * r + q];  // (F L⁻ᵀ)_bk = Σ_q F_bq (L⁻¹)_kq
      row[k] = s;
    }
    std::copy(row.begin(), row.end(), f);
  }
  return out;
}

std::vector<double> shifted_gram(const std::vector<const float*>& members, int64_t size, const std::vector<double>& shift) {
  const int64_t n = static_cast<int64_t>(members.size());
  std::vector<double> gram(n * n, 0.0), a_row(size);
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t i = 0; i < size; ++i) a_row[i] = members[a][i] - shift[i];
    for (int64_t b = 0; b <= a; ++b) {
      double s = 0.0;
      for (int64_t i = 0; i < size; ++i) s += a_row[i] * (members[b][i] - shift[i]);
      gram[a * n + b] = gram[b * n + a] = s;
    }
  }
  return gram;
}

std::vector<double> centred_gram(const std::vector<double>& gram, int64_t n, const std::vector<int64_t>& subset) {
  const int64_t s = static_cast<int64_t>(subset.size());
  std::vector<double> out(s * s), row_mean(s, 0.0);
  double total = 0.0;
  for (int64_t a = 0; a < s; ++a) {
    for (int64_t b = 0; b < s; ++b) row_mean[a] += gram[subset[a] * n + subset[b]];
    total += row_mean[a];
    row_mean[a] /= static_cast<double>(s);
  }
  total /= static_cast<double>(s) * static_cast<double>(s);
  // (x_a - x̄)ᵀ(x_b - x̄) = G_ab - r_a - r_b + t with r the row means and t the mean of the subset's G.
  for (int64_t a = 0; a < s; ++a)
    for (int64_t b = 0; b < s; ++b) out[a * s + b] = gram[subset[a] * n + subset[b]] - row_mean[a] - row_mean[b] + total;
  return out;
}

LowRankGaussian fit_members(const std::vector<const float*>& members, int64_t size, int64_t rank, double shrinkage,
                            double diag_floor, const std::vector<double>* centred, const std::vector<double>* target) {
  const int64_t n = static_cast<int64_t>(members.size()), p = size;
  if (n < 1) throw ReduceError("prior: a node without members");
  if (rank < 0 || (rank > 0 && rank >= n)) {
    throw ReduceError("prior: rank " + std::to_string(rank) + " needs more than " + std::to_string(rank) +
                                " members, the node has " + std::to_string(n));
  }
  if (!(shrinkage >= 0.0 && shrinkage <= 1.0)) {
    throw ReduceError("prior: shrinkage " + std::to_string(shrinkage) + " outside [0, 1]");
  }
  if (!(diag_floor > 0.0)) throw ReduceError("prior: diagonal floor " + std::to_string(diag_floor) + " must be positive");
  if (target && static_cast<int64_t>(target->size()) != size) {
    throw ReduceError("prior: a shrinkage target of " + std::to_string(target->size()) + " variances for " +
                      std::to_string(size) + " weights");
  }
  if (centred && static_cast<int64_t>(centred->size()) != n * n) {
    throw ReduceError("prior: a Gram matrix of " + std::to_string(centred->size()) + " values for " + std::to_string(n) +
                      " members");
  }
  LowRankGaussian g;
  g.rank = rank;
  g.mean.assign(p, 0.0);
  for (const float* m : members)
    for (int64_t i = 0; i < p; ++i) g.mean[i] += m[i];
  for (double& v : g.mean) v /= static_cast<double>(n);
  // Sample variances (zero for a single member: the floor decides).
  std::vector<double> variance(p, 0.0);
  const double dof = n > 1 ? static_cast<double>(n - 1) : 1.0;
  for (const float* m : members)
    for (int64_t i = 0; i < p; ++i) variance[i] += (m[i] - g.mean[i]) * (m[i] - g.mean[i]) / dof;
  g.factor.assign(p * rank, 0.0);
  if (rank > 0) {
    // Principal deviations from the n x n Gram matrix of the centred members: with Xc = U S Vᵀ,
    // F = V_r S_r / sqrt(n - 1) = Xcᵀ U_r / sqrt(n - 1), so F Fᵀ is the rank-r part of S.
    std::vector<double> values, vectors;
    symmetric_eigen(centred ? *centred : shifted_gram(members, p, g.mean), n, values, vectors);
    const double scale = 1.0 / std::sqrt(dof);
    for (int64_t a = 0; a < n; ++a) {
      const float* m = members[a];
      for (int64_t k = 0; k < rank; ++k) {
        // A direction without variance (eigenvalue at rounding level) contributes nothing: its
        // eigenvector is arbitrary, and the floor on D covers it.
        if (!(values[k] > 1e-12 * std::max(values[0], 0.0)) || !(values[k] > 0.0)) continue;
        const double w = vectors[a * n + k] * scale;
        if (w == 0.0) continue;
        for (int64_t i = 0; i < p; ++i) g.factor[i * rank + k] += (m[i] - g.mean[i]) * w;
      }
    }
  }
  const double pooled = std::accumulate(variance.begin(), variance.end(), 0.0) / static_cast<double>(p);
  g.diag.resize(p);
  for (int64_t i = 0; i < p; ++i) {
    double low_rank = 0.0;
    for (int64_t k = 0; k < rank; ++k) low_rank += g.factor[i * rank + k] * g.factor[i * rank + k];
    const double residual = std::max(variance[i] - low_rank, 0.0);
    g.diag[i] = std::max(diag_floor, (1.0 - shrinkage) * residual + shrinkage * (target ? (*target)[i] : pooled));
  }
  return g;
}

}  // namespace genzoo::priors
