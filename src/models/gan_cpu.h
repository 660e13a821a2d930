// Hand-written CPU training of gan (no autograd): the generator is conv_ae's decoder and the
// discriminator its encoder with leaky ReLUs and one output, run on the lane-block kernels of
// kernels/conv.h, 16 samples at a time, with the adversarial schedule of the LibTorch path.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is an unconditional gan (class-conditional ones train on LibTorch).
std::unique_ptr<FastStep> make_gan_step(const FamilyConfig& config);

}  // namespace genzoo
