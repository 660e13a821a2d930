// CPU training of vae without autograd: one model at a time on cache-sized tensors, the forward
// pass and its hand-derived gradients on the linear kernels and OpenBLAS (an MLP decoder) or the
// lane-block conv kernels (decoder = "conv"), the likelihood on kernels/likelihood.h, with the LibTorch
// path's reparametrization noise.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is vae.
std::unique_ptr<FastStep> make_vae_step(const FamilyConfig& config);

}  // namespace genzoo
