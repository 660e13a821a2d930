// linear_ae's hand-written CPU training step (no autograd): forward, backward and Adam with the
// register-blocked kernels of kernels/linear.h.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is linear_ae with a regularizer the kernels implement (none, sparse, contractive).
std::unique_ptr<FastStep> make_linear_ae_step(const FamilyConfig& config);

}  // namespace genzoo
