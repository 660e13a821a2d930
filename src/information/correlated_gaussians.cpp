#include "information/correlated_gaussians.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "common/text.h"

namespace genzoo {

namespace {

// A uniformly random rotation of R^d (Gram-Schmidt on a Gaussian matrix), row-major.
std::vector<double> random_rotation(int64_t d, Rng& rng) {
  std::vector<double> q(static_cast<size_t>(d * d));
  for (double& v : q) v = rng.normal();
  for (int64_t i = 0; i < d; ++i) {
    double* row = &q[i * d];
    for (int64_t pass = 0; pass < 2; ++pass) {  // twice: orthogonal to rounding
      for (int64_t p = 0; p < i; ++p) {
        const double* prev = &q[p * d];
        double dot = 0.0;
        for (int64_t j = 0; j < d; ++j) dot += row[j] * prev[j];
        for (int64_t j = 0; j < d; ++j) row[j] -= dot * prev[j];
      }
    }
    double norm = 0.0;
    for (int64_t j = 0; j < d; ++j) norm += row[j] * row[j];
    norm = std::sqrt(norm);
    for (int64_t j = 0; j < d; ++j) row[j] /= norm;
  }
  return q;
}

void rotate_rows(std::vector<double>& values, int64_t n, int64_t d, const std::vector<double>& q) {
  std::vector<double> row(static_cast<size_t>(d));
  for (int64_t i = 0; i < n; ++i) {
    double* v = &values[i * d];
    for (int64_t a = 0; a < d; ++a) {
      double s = 0.0;
      for (int64_t b = 0; b < d; ++b) s += q[a * d + b] * v[b];
      row[a] = s;
    }
    std::copy(row.begin(), row.end(), v);
  }
}

double transformed(double t, const std::string& transform) {
  if (transform == "half_cube") return std::copysign(std::pow(std::abs(t), 1.5), t);
  if (transform == "asinh") return std::asinh(t);
  return t;
}

}  // namespace

const std::vector<std::string>& sample_transforms() {
  static const std::vector<std::string> transforms = {"none", "half_cube", "asinh"};
  return transforms;
}

PairedSamples correlated_gaussians(const CorrelatedGaussianSpec& spec) {
  const int64_t pairs = spec.pairs == 0 ? std::min(spec.dx, spec.dy) : spec.pairs;
  if (spec.dx < 1 || spec.dy < 1) throw ReduceError("correlated gaussians: dx and dy must be at least 1");
  if (spec.samples < 1) throw ReduceError("correlated gaussians: samples must be at least 1");
  if (pairs < 1 || pairs > std::min(spec.dx, spec.dy)) {
    throw ReduceError("correlated gaussians: pairs must be in [1, min(dx, dy)] (got " + std::to_string(pairs) + ")");
  }
  if (!(spec.nuisance_scale > 0.0)) throw ReduceError("correlated gaussians: nuisance_scale must be > 0");
  if (!(spec.mutual_information >= 0.0)) throw ReduceError("correlated gaussians: mutual_information must be >= 0");
  const auto& known = sample_transforms();
  if (std::find(known.begin(), known.end(), spec.transform) == known.end()) {
    throw ReduceError("correlated gaussians: unknown transform '" + spec.transform + "' (known: " + join(known) + ")");
  }
  const double rho = std::sqrt(-std::expm1(-2.0 * spec.mutual_information / static_cast<double>(pairs)));
  const double noise = std::sqrt(std::exp(-2.0 * spec.mutual_information / static_cast<double>(pairs)));  // sqrt(1 - ρ²)
  Rng rng(mix_seed(spec.seed, 0x4d49));
  PairedSamples s{spec.samples, spec.dx, spec.dy, {}, {}, 0.0};
  s.x.resize(static_cast<size_t>(s.n * s.dx));
  s.y.resize(static_cast<size_t>(s.n * s.dy));
  for (int64_t i = 0; i < s.n; ++i) {
    for (int64_t j = 0; j < s.dx; ++j) s.x[i * s.dx + j] = rng.normal();
    for (int64_t j = 0; j < s.dy; ++j) {
      const double e = rng.normal();
      s.y[i * s.dy + j] = j < pairs ? rho * s.x[i * s.dx + j] + noise * e : spec.nuisance_scale * e;
    }
    for (int64_t j = pairs; j < s.dx; ++j) s.x[i * s.dx + j] *= spec.nuisance_scale;
  }
  if (spec.rotate) {
    rotate_rows(s.x, s.n, s.dx, random_rotation(s.dx, rng));
    rotate_rows(s.y, s.n, s.dy, random_rotation(s.dy, rng));
  }
  for (double& v : s.x) v = transformed(v, spec.transform);
  for (double& v : s.y) v = transformed(v, spec.transform);
  s.mutual_information = spec.mutual_information;
  return s;
}

}  // namespace genzoo
