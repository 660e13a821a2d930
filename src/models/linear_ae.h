// linear_ae family: layout shared by the LibTorch implementation and the fast CPU kernels.
#pragma once

#include <cstdint>

#include "store/layout.h"
#include "data/image.h"

namespace genzoo {

constexpr int64_t kLinearAeInput = kImagePixels;

// encoder.weight [k, 784], encoder.bias [k], decoder.weight [784, k], decoder.bias [784]
Layout linear_ae_layout(int64_t latent);

}  // namespace genzoo
