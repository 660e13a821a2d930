#include "train/weight_average.h"

#include <cmath>

namespace genzoo {

void WeightAverage::accumulate(float* average, const float* iterate, int64_t count) const {
  const float keep = static_cast<float>(decay_), take = static_cast<float>(1.0 - decay_);
  for (int64_t i = 0; i < count; ++i) average[i] = keep * average[i] + take * iterate[i];
}

double WeightAverage::correction(int64_t steps) const {
  return 1.0 / (1.0 - std::pow(decay_, static_cast<double>(steps)));
}

void WeightAverage::read(const float* average, int64_t count, int64_t steps, float* out) const {
  const float scale = static_cast<float>(correction(steps));
  for (int64_t i = 0; i < count; ++i) out[i] = average[i] * scale;
}

}  // namespace genzoo
