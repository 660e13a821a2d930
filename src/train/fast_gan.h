// Hand-written CPU training of gan (no autograd): the generator is conv_ae's decoder and the
// discriminator its encoder with leaky ReLUs and one output, run on the lane-vector kernels of
// conv_kernels.h, 16 samples at a time, with the adversarial schedule of the LibTorch path.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is an unconditional gan with a 16-wide code and a batch of whole 16-sample
// lane blocks.
std::unique_ptr<FastStep> make_gan_step(const FamilyConfig& config);

}  // namespace genzoo
