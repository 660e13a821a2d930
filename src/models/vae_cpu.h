// CPU training of vae without autograd: one model at a time on cache-sized tensors, the forward
// pass and its hand-derived gradients as BLAS GEMMs and vectorized LibTorch element-wise ops, with
// the LibTorch path's reparametrization noise.
#pragma once

#include <memory>

#include "train/fast_trainer.h"

namespace genzoo {

// Null unless config is vae.
std::unique_ptr<FastStep> make_vae_step(const FamilyConfig& config);

}  // namespace genzoo
