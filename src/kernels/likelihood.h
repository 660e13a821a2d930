// The decoder likelihoods of the generative families on flat [n] arrays of logits l and targets x,
// fused with their gradient (one pass, vectorized per instruction set like every kernel here):
//   Bernoulli:  -log p(x | l) = softplus(l) - l x = max(l, 0) - l x + log1p(e^{-|l|}),
//               d_logits = scale (σ(l) - x)
//   Gaussian (unit variance on σ(l)):  ½ (σ(l) - x)²,  d_logits = scale (σ(l) - x) σ(l) (1 - σ(l))
//   Gaussian with a learned variance e^v per pixel on σ(l), over rows images of `pixels` values each:
//               ½ [(σ(l) - x)² e^{-v} + v] (the constant ½ log 2π dropped),
//               d_logits = scale (σ(l) - x) e^{-v} σ(l) (1 - σ(l)),
//               d_logvar [pixels] = scale Σ_rows ½ [1 - (σ(l) - x)² e^{-v}]
// All return the sum over the values (double). d_logits may be logits (in place).
#pragma once

#include <cstdint>

namespace genzoo::kernels {

double bernoulli_logit_loss(const float* logits, const float* target, int64_t n, float scale, float* d_logits);
double sigmoid_squared_loss(const float* logits, const float* target, int64_t n, float scale, float* d_logits);
double learned_gaussian_loss(const float* logits, const float* target, int64_t rows, int64_t pixels, const float* logvar,
                             float scale, float* d_logits, float* d_logvar);

}  // namespace genzoo::kernels
