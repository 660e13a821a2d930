// Spectral normalization of the gan discriminator's weights (Miyato et al. 2018, `d_norm = "spectral"`):
// every weight tensor W, read as a matrix [rows = its first dimension, cols = the rest], is used as
// W / σ(W). σ is estimated at every step by kSpectralIterations power iterations from a fixed generic
// start v₀ = spectral_start(cols) (u = Wv/‖Wv‖, v = Wᵀu/‖Wᵀu‖), then σ = uᵀ W v. As in torch.nn.utils.spectral_norm, the
// iteration is not differentiated: u and v are constants, so ∂σ/∂W = u vᵀ and the gradient of W from the
// gradient g of W/σ is  g/σ − (⟨g, W⟩ / σ²) u vᵀ.  The start is fixed (no u carried between steps) so that
// the LibTorch path (gan.cpp, on stacked tensors) and the hand-written one (gan_cpu.cpp, this header)
// compute the same σ from the same weights.
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// Each iteration shrinks the error of v by (σ₂/σ₁)²; D's matrices are at most a few hundred wide, so ten
// cost nothing next to the convolutions.
constexpr int kSpectralIterations = 10;

// The start: unit-norm, from a fixed seed, so that no weight matrix is likely orthogonal to it (a
// constant vector is, whenever the top singular vector's entries sum to zero).
std::vector<float> spectral_start(int64_t cols);

struct SpectralFactors {
  std::vector<float> u, v;  // [rows], [cols]
  float sigma = 1.0f;
};

// The power iteration on W [rows, cols] (row-major) from spectral_start(cols).
SpectralFactors spectral_factors(const float* w, int64_t rows, int64_t cols);
// The same from a given start (spectral_start(cols), cols entries, computed once by a caller that repeats
// it), into f (its vectors keep their storage: no allocation per step). u = Wv and σ are summed in double,
// v = Wᵀu in float row by row (reading W in storage order), as LibTorch's float bmm sums both.
void spectral_factors(const float* w, int64_t rows, int64_t cols, const std::vector<float>& start, SpectralFactors& f);

// out = W / σ.
void spectral_divide(const float* w, int64_t count, const SpectralFactors& f, float* out);

// grad (of W / σ on entry, of W on return) = grad/σ − (⟨grad, W⟩ / σ²) u vᵀ.
void spectral_backward(const float* w, int64_t rows, int64_t cols, const SpectralFactors& f, float* grad);

}  // namespace genzoo
