#include "priors/code_basis.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "store/layout.h"

namespace genzoo::priors {

CodeBasis principal_code_basis(const std::vector<double>& codes, int64_t count, int64_t k) {
  if (count < 2 || static_cast<int64_t>(codes.size()) != count * k) {
    throw ReduceError("code basis: needs at least 2 codes of width " + std::to_string(k) + ", got " + std::to_string(count));
  }
  CodeBasis basis;
  basis.mean.assign(k, 0.0);
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t j = 0; j < k; ++j) basis.mean[j] += codes[n * k + j] / static_cast<double>(count);
  }
  std::vector<double> covariance(k * k, 0.0);
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t i = 0; i < k; ++i) {
      const double di = codes[n * k + i] - basis.mean[i];
      for (int64_t j = 0; j < k; ++j) covariance[i * k + j] += di * (codes[n * k + j] - basis.mean[j]) / static_cast<double>(count - 1);
    }
  }
  std::vector<double> values, vectors;  // descending; eigenvectors as columns
  symmetric_eigen(std::move(covariance), k, values, vectors);
  basis.rotation.resize(k * k);
  basis.variance.resize(k);
  for (int64_t i = 0; i < k; ++i) {
    basis.variance[i] = std::max(values[i], 0.0);
    for (int64_t j = 0; j < k; ++j) basis.rotation[i * k + j] = vectors[j * k + i];
  }
  return basis;
}

LowRankGaussian rotate_code(const LowRankGaussian& g, const Layout& layout, const UnitKind& code, const CodeBasis& basis) {
  const int64_t k = code.teacher_count;
  if (static_cast<int64_t>(basis.mean.size()) != k || static_cast<int64_t>(basis.rotation.size()) != k * k) {
    throw ReduceError("code basis: " + std::to_string(basis.mean.size()) + " components for a code of " + std::to_string(k) +
                      " units");
  }
  if (code.leaving_bias.empty()) throw ReduceError("code basis: the " + code.name + " units are not a linear code");
  // Per unit j: its entering coordinates (code weight row and bias, the same positions for every j), its
  // leaving ones (decoder column j: position g feeds decoder bias g), and the position of its bias.
  std::vector<std::vector<int64_t>> entering(k), leaving(k);
  for (int64_t j = 0; j < k; ++j) {
    entering[j] = slices_indices(layout, code.slices.entering, j);
    leaving[j] = slices_indices(layout, code.slices.leaving, j);
  }
  const std::vector<int64_t> bias_of_unit = [&] {
    std::vector<int64_t> out(k);
    for (int64_t j = 0; j < k; ++j) out[j] = slice_indices(layout, code.slices.entering.back(), j).front();
    return out;
  }();
  const ParamLayout& decoder_bias = find_param(layout, code.leaving_bias);
  if (decoder_bias.numel() != static_cast<int64_t>(leaving[0].size())) {
    throw ReduceError("code basis: " + code.leaving_bias + " has " + std::to_string(decoder_bias.numel()) +
                      " entries, the decoder's columns " + std::to_string(leaving[0].size()));
  }
  const auto& R = basis.rotation;
  const auto& mu = basis.mean;
  std::vector<double> R_squared(k * k);
  for (int64_t i = 0; i < k * k; ++i) R_squared[i] = R[i] * R[i];
  // One position of the k code units (units[j][pos] for unit j) replaced by C times them, C [k][k] row-major
  // (R, or R_squared for the variances): reads through `read`, writes through `write` (index -> double&).
  // Returns the old values.
  std::vector<double> old(k);
  const auto mix = [&](const std::vector<double>& C, const std::vector<std::vector<int64_t>>& units, size_t pos,
                       auto&& read, auto&& write) -> const std::vector<double>& {
    for (int64_t j = 0; j < k; ++j) old[j] = read(units[j][pos]);
    for (int64_t i = 0; i < k; ++i) {
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += C[i * k + j] * old[j];
      write(units[i][pos]) = sum;
    }
    return old;
  };
  // The linear part A applied in place to a vector v (one column: the mean, or a factor column with
  // stride r); bias_shift adds the constant c (the mean only).
  const auto apply = [&](auto&& at, bool bias_shift) {
    for (size_t pos = 0; pos < entering[0].size(); ++pos) mix(R, entering, pos, at, at);  // E' = R E, b_e' = R b_e (- R μ)
    if (bias_shift) {
      for (int64_t i = 0; i < k; ++i) {
        double shift = 0.0;
        for (int64_t j = 0; j < k; ++j) shift += R[i * k + j] * mu[j];
        at(bias_of_unit[i]) -= shift;
      }
    }
    for (size_t row = 0; row < leaving[0].size(); ++row) {  // b_d' = b_d + D μ, D' = D Rᵀ
      const auto& column = mix(R, leaving, row, at, at);
      double shift = 0.0;
      for (int64_t j = 0; j < k; ++j) shift += column[j] * mu[j];
      at(decoder_bias.offset + static_cast<int64_t>(row)) += shift;
    }
  };
  LowRankGaussian out = g;
  apply([&](int64_t i) -> double& { return out.mean[i]; }, true);
  for (int64_t c = 0; c < g.rank; ++c) {
    apply([&](int64_t i) -> double& { return out.factor[i * g.rank + c]; }, false);
  }
  // diag(A diag(d) Aᵀ): squared coefficients on the old variances.
  const auto old_variance = [&](int64_t i) { return g.diag[i]; };
  const auto variance = [&](int64_t i) -> double& { return out.diag[i]; };
  for (size_t pos = 0; pos < entering[0].size(); ++pos) mix(R_squared, entering, pos, old_variance, variance);
  for (size_t row = 0; row < leaving[0].size(); ++row) {
    const auto& column = mix(R_squared, leaving, row, old_variance, variance);
    double bias_variance = 0.0;
    for (int64_t j = 0; j < k; ++j) bias_variance += mu[j] * mu[j] * column[j];
    out.diag[decoder_bias.offset + static_cast<int64_t>(row)] += bias_variance;
  }
  return out;
}

}  // namespace genzoo::priors
