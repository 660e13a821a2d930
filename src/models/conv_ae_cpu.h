// conv_ae's hand-written CPU training step (no autograd): the stride-2 convolutions, dense layers and
// their gradients with the lane-block kernels of kernels/conv.h, 16 samples at a time.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is conv_ae with a regularizer the kernels implement (none, sparse).
std::unique_ptr<FastStep> make_conv_ae_step(const FamilyConfig& config);

}  // namespace genzoo
