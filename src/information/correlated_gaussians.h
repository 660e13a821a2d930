// Samples of known mutual information, the yardstick of the MI estimators (issue 15; the mutinfo
// benchmark's correlated normals, seed 002's experiments): x ~ N(0, I_dx) and, for the first `pairs`
// coordinates, y_j = ρ x_j + sqrt(1 - ρ²) ε_j (the rest of y independent noise), so that
//   I(X; Y) = -½ Σ_j log(1 - ρ_j²)
// with the information spread evenly, ρ = sqrt(1 - exp(-2 I / pairs)). Random rotations of x and y hide
// the pairing from a coordinate-wise method, and a coordinate-wise bijection (the mutinfo benchmark's
// "half-cube" |t|^{3/2} sign t, or asinh) leaves I unchanged while making the data non-Gaussian.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

struct CorrelatedGaussianSpec {
  int64_t dx = 1, dy = 1;
  int64_t samples = 1000;
  double mutual_information = 1.0;  // nats
  int64_t pairs = 0;                // coordinates carrying it; 0: min(dx, dy)
  // Scale of the coordinates that carry no information (x's beyond `pairs`, y's noise beyond `pairs`):
  // 1 spreads the variance evenly; below 1 the shared directions are also the principal ones (a
  // low-dimensional signal in high ambient dimension, seed 002's setting, where compression helps).
  double nuisance_scale = 1.0;
  bool rotate = true;
  std::string transform = "none";   // none | half_cube | asinh, applied after the rotation
  uint64_t seed = 0;
};

struct PairedSamples {
  int64_t n = 0, dx = 0, dy = 0;
  std::vector<double> x, y;  // [n, dx], [n, dy] row-major
  double mutual_information = 0.0;  // the exact value, nats
};

const std::vector<std::string>& sample_transforms();

// Throws ReduceError naming the field when the spec is impossible (dimension or pairs out of range,
// negative MI, unknown transform).
PairedSamples correlated_gaussians(const CorrelatedGaussianSpec& spec);

}  // namespace genzoo
