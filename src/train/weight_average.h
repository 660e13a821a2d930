// FamilyConfig::ema_decay: the final weights a model is stored with are the exponential moving average of its
// training iterates, a_t = d a_(t-1) + (1 - d) w_t from a_0 = 0, read bias-corrected as a_t / (1 - d^t)
// (as Adam's moments are): a weighted mean of w_1 .. w_t with weights proportional to d^(t-s), no weight
// on the initialization. Averaging smooths out the last steps' noise and, for a GAN's generator, the
// oscillation between modes (Yazici et al. 2019). Training itself never sees the average.
#pragma once

#include <cstdint>

namespace genzoo {

class WeightAverage {
 public:
  explicit WeightAverage(double decay) : decay_(decay) {}
  bool enabled() const { return decay_ > 0.0; }
  double decay() const { return decay_; }
  // a = d a + (1 - d) w over count floats (one more iterate).
  void accumulate(float* average, const float* iterate, int64_t count) const;
  // The bias-corrected average after `steps` accumulations, a / (1 - d^steps), into out (may be average).
  void read(const float* average, int64_t count, int64_t steps, float* out) const;
  // 1 / (1 - d^steps): the factor read applies.
  double correction(int64_t steps) const;

 private:
  double decay_;
};

}  // namespace genzoo
