#include "train/adam.h"

#include <cmath>

namespace genzoo {

void adam_step(float* params, const float* grads, float* m, float* v, int64_t models, int64_t count,
               const float* lr, int64_t step, const AdamSettings& settings, int64_t stride) {
  if (stride <= 0) stride = count;
  const float beta1 = static_cast<float>(settings.beta1), beta2 = static_cast<float>(settings.beta2);
  // 1 - beta in double, then rounded (as torch does): 1.0f - 0.999f is 1.0000467e-3, not 1e-3.
  const float one_minus_beta1 = static_cast<float>(1.0 - settings.beta1);
  const float one_minus_beta2 = static_cast<float>(1.0 - settings.beta2);
  const double bias1 = 1.0 - std::pow(settings.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(settings.beta2, static_cast<double>(step));
  const float inv_sqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
  const float eps = static_cast<float>(settings.eps);
  for (int64_t model = 0; model < models; ++model) {
    const float step_size = static_cast<float>(lr[model] / bias1);
    const int64_t base = model * stride;
    float* __restrict p = params + base;
    const float* __restrict g = grads + base;
    float* __restrict mm = m + base;
    float* __restrict vv = v + base;
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
      const float gi = g[i];
      const float mi = beta1 * mm[i] + one_minus_beta1 * gi;
      const float vi = beta2 * vv[i] + one_minus_beta2 * gi * gi;
      mm[i] = mi;
      vv[i] = vi;
      p[i] -= step_size * mi / (std::sqrt(vi) * inv_sqrt_bias2 + eps);
    }
  }
}

}  // namespace genzoo
