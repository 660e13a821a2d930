// Batched Adam: one fused pass over the parameters of M models with a learning rate per model.
// Matches torch.optim.Adam (no weight decay, no amsgrad) element by element.
#pragma once

#include <cstdint>

namespace genzoo {

struct FamilyConfig;

struct AdamSettings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // The learning-rate schedule: constant for updates 1 .. updates - decay_updates, then falling linearly,
  // lr (updates - t + 1) / (decay_updates + 1) at update t, to lr / (decay_updates + 1) at the last.
  int64_t updates = 0;
  int64_t decay_updates = 0;
};

// The family's adam_beta1, adam_beta2 and lr_decay (job.h), for an optimizer that makes updates_per_step
// updates per training step (a gan's discriminator: d_steps).
AdamSettings adam_settings(const FamilyConfig& config, int64_t updates_per_step = 1);

// The factor the schedule multiplies the learning rate by at update `step` (from 1).
double lr_schedule_factor(const AdamSettings& settings, int64_t step);

// params, grads, m, v: [models, count] rows, consecutive rows `stride` floats apart (default: count;
// larger to update a column range of each model); lr: [models]; step counts from 1.
void adam_step(float* params, const float* grads, float* m, float* v, int64_t models, int64_t count,
               const float* lr, int64_t step, const AdamSettings& settings = {}, int64_t stride = 0);

}  // namespace genzoo
