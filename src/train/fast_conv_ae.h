// Hand-written CPU training step of conv_ae (no autograd): the stride-2 convolutions, dense layers
// and their gradients with the lane-vector kernels of conv_kernels.h, 16 samples at a time.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is conv_ae with a 16-wide code, a batch of whole 16-sample lane blocks and a
// regularizer the kernels implement (none, sparse).
std::unique_ptr<FastStep> make_conv_ae_step(const FamilyConfig& config);

}  // namespace genzoo
