// The images every family sees: Fashion-MNIST's 28x28 grey levels, flattened row-major.
#pragma once

#include <cstdint>

namespace genzoo {

constexpr int64_t kImageSide = 28;
constexpr int64_t kImagePixels = kImageSide * kImageSide;

}  // namespace genzoo
