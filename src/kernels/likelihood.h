// The decoder likelihoods of the generative families on flat [n] arrays of logits l and targets x,
// fused with their gradient (one pass, vectorized per instruction set like every kernel here):
//   Bernoulli:  -log p(x | l) = softplus(l) - l x = max(l, 0) - l x + log1p(e^{-|l|}),
//               d_logits = scale (σ(l) - x)
//   Gaussian (unit variance on σ(l)):  ½ (σ(l) - x)²,  d_logits = scale (σ(l) - x) σ(l) (1 - σ(l))
// Both return the sum over the n values (double). d_logits may be logits (in place).
#pragma once

#include <cstdint>

namespace genzoo::kernels {

double bernoulli_logit_loss(const float* logits, const float* target, int64_t n, float scale, float* d_logits);
double sigmoid_squared_loss(const float* logits, const float* target, int64_t n, float scale, float* d_logits);

}  // namespace genzoo::kernels
