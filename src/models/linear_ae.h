// linear_ae family: layout shared by the LibTorch implementation and the fast CPU kernels.
#pragma once

#include <cstdint>

#include "store/layout.h"
#include "data/image.h"

namespace genzoo {

constexpr int64_t kLinearAeInput = kImagePixels;

// encoder.weight [k, D], encoder.bias [k], decoder.weight [D, k], decoder.bias [D]; D = 784 pixels, or
// data.dimension on the gaussian source (the hand-written CPU step is for 784 only).
Layout linear_ae_layout(int64_t latent, int64_t input = kLinearAeInput);

}  // namespace genzoo
