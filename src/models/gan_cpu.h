// Hand-written CPU training of gan (no autograd): the generator is conv_ae's decoder and the
// discriminator its encoder with leaky ReLUs and one output, run on the lane-block kernels of
// kernels/conv.h, 16 samples at a time, with the adversarial schedule of the LibTorch path. With
// d_minibatch = "stddev" D's pass runs over the whole batch: every block's features first, then the
// batch's minibatch standard deviation, then each block's last layer and backward pass. With d_augment
// D reads each block's images augmented (gan_augment.h) and passes their gradient back through it.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is a gan.
std::unique_ptr<FastStep> make_gan_step(const FamilyConfig& config);

}  // namespace genzoo
