// Hand-written CPU training step of linear_ae (no autograd): forward, backward and Adam with the
// register-blocked kernels of linear_kernels.h.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is linear_ae with a latent width the kernels take (a multiple of 16) and a
// regularizer they implement (none, sparse, contractive).
std::unique_ptr<FastStep> make_linear_ae_step(const FamilyConfig& config);

}  // namespace genzoo
