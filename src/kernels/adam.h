// The fused Adam pass over one model's parameters (the kernel behind train/adam.h's adam_step).
#pragma once

#include <cstdint>

namespace genzoo::kernels {

// One step's coefficients, already in float: m = beta1 m + one_minus_beta1 g, v = beta2 v +
// one_minus_beta2 g^2, p -= step_size m / (sqrt(v) inv_sqrt_bias2 + eps).
struct AdamCoefficients {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, inv_sqrt_bias2, eps;
};

void adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamCoefficients& c);

}  // namespace genzoo::kernels
