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
};

// The family's adam_beta1 and adam_beta2 (job.h).
AdamSettings adam_settings(const FamilyConfig& config);

// params, grads, m, v: [models, count] rows, consecutive rows `stride` floats apart (default: count;
// larger to update a column range of each model); lr: [models]; step counts from 1.
void adam_step(float* params, const float* grads, float* m, float* v, int64_t models, int64_t count,
               const float* lr, int64_t step, const AdamSettings& settings = {}, int64_t stride = 0);

}  // namespace genzoo
