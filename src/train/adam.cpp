#include "train/adam.h"

#include <algorithm>
#include <cmath>

#include "job/job.h"
#include "kernels/adam.h"

namespace genzoo {

AdamSettings adam_settings(const FamilyConfig& config, int64_t updates_per_step) {
  AdamSettings settings;
  settings.beta1 = config.adam_beta1;
  settings.beta2 = config.adam_beta2;
  settings.updates = config.steps * updates_per_step;
  settings.decay_updates = std::llround(config.lr_decay * static_cast<double>(config.steps)) * updates_per_step;
  return settings;
}

double lr_schedule_factor(const AdamSettings& settings, int64_t step) {
  const int64_t left = settings.updates - step + 1;  // this update and those after it
  if (settings.decay_updates <= 0 || left > settings.decay_updates) return 1.0;
  return static_cast<double>(std::max<int64_t>(left, 1)) / static_cast<double>(settings.decay_updates + 1);
}

void adam_step(float* params, const float* grads, float* m, float* v, int64_t models, int64_t count,
               const float* lr, int64_t step, const AdamSettings& settings, int64_t stride) {
  if (stride <= 0) stride = count;
  kernels::AdamCoefficients c{};
  c.beta1 = static_cast<float>(settings.beta1), c.beta2 = static_cast<float>(settings.beta2);
  // 1 - beta in double, then rounded (as torch does): 1.0f - 0.999f is 1.0000467e-3, not 1e-3.
  c.one_minus_beta1 = static_cast<float>(1.0 - settings.beta1);
  c.one_minus_beta2 = static_cast<float>(1.0 - settings.beta2);
  const double bias1 = 1.0 - std::pow(settings.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(settings.beta2, static_cast<double>(step));
  c.inv_sqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
  c.eps = static_cast<float>(settings.eps);
  const double schedule = lr_schedule_factor(settings, step);
  for (int64_t model = 0; model < models; ++model) {
    c.step_size = static_cast<float>(lr[model] * schedule / bias1);
    const int64_t base = model * stride;
    kernels::adam_update(params + base, grads + base, m + base, v + base, count, c);
  }
}

}  // namespace genzoo
