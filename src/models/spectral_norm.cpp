#include "models/spectral_norm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common/rng.h"

namespace genzoo {

namespace {

// x / ‖x‖ (x left as it is when zero: a zero matrix has σ = 0 and no direction).
void normalize(std::vector<float>& x) {
  double norm = 0.0;
  for (float v : x) norm += static_cast<double>(v) * v;
  norm = std::sqrt(norm);
  if (norm > 0.0) {
    for (float& v : x) v = static_cast<float>(v / norm);
  }
}

}  // namespace

std::vector<float> spectral_start(int64_t cols) {
  Rng rng(0x73706563ULL);  // "spec"
  std::vector<float> v(cols);
  for (float& x : v) x = static_cast<float>(rng.normal());
  normalize(v);
  return v;
}

SpectralFactors spectral_factors(const float* w, int64_t rows, int64_t cols) {
  SpectralFactors f;
  spectral_factors(w, rows, cols, spectral_start(cols), f);
  return f;
}

void spectral_factors(const float* w, int64_t rows, int64_t cols, const std::vector<float>& start, SpectralFactors& f) {
  if (static_cast<int64_t>(start.size()) != cols) {
    throw std::invalid_argument("spectral_factors: a start of " + std::to_string(start.size()) + " entries for " +
                                std::to_string(cols) + " columns");
  }
  f.v = start;
  f.u.assign(rows, 0.0f);
  for (int it = 0; it < kSpectralIterations; ++it) {
    for (int64_t i = 0; i < rows; ++i) {
      double sum = 0.0;
      for (int64_t j = 0; j < cols; ++j) sum += static_cast<double>(w[i * cols + j]) * f.v[j];
      f.u[i] = static_cast<float>(sum);
    }
    normalize(f.u);
    // v = Wᵀu row by row: W is read in its storage order.
    std::fill(f.v.begin(), f.v.end(), 0.0f);
    for (int64_t i = 0; i < rows; ++i) {
      const float ui = f.u[i];
      const float* row = w + i * cols;
      for (int64_t j = 0; j < cols; ++j) f.v[j] += row[j] * ui;
    }
    normalize(f.v);
  }
  double sigma = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) sigma += static_cast<double>(f.u[i]) * w[i * cols + j] * f.v[j];
  }
  f.sigma = static_cast<float>(sigma);
}

void spectral_divide(const float* w, int64_t count, const SpectralFactors& f, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = w[i] / f.sigma;
}

void spectral_backward(const float* w, int64_t rows, int64_t cols, const SpectralFactors& f, float* grad) {
  double inner = 0.0;
  for (int64_t i = 0; i < rows * cols; ++i) inner += static_cast<double>(grad[i]) * w[i];
  const double sigma = f.sigma, scale = inner / (sigma * sigma);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      grad[i * cols + j] = static_cast<float>(grad[i * cols + j] / sigma - scale * f.u[i] * f.v[j]);
    }
  }
}

}  // namespace genzoo
