// Differentiable augmentation of the images the gan discriminator sees (DiffAugment, Zhao et al. 2020;
// `d_augment`): every image D scores, real or generated, in the discriminator's and in the generator's
// step, is first translated and/or cut out, with fresh draws per image. The generator is trained through
// the same augmentation, so it still learns the unaugmented images; D, seeing many more distinct inputs,
// overfits a small training set less. Both training paths (gan.cpp on stacked tensors, gan_cpu.cpp on
// lane blocks) draw the same parameters from the model's noise generator and map pixels with
// augmented_source, so they see the same augmented images.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "data/image.h"

namespace genzoo {

// DiffAugment's ratios on 28 x 28 images: translation by up to int(28 / 8 + 0.5) = 4 pixels per axis;
// a cutout square of int(28 / 2 + 0.5) = 14 pixels.
constexpr int64_t kAugmentShift = 4;
constexpr int64_t kCutoutSide = 14;
// A draw's cutout centre when the policy has no cutout.
constexpr int64_t kNoCutout = -kCutoutSide;

struct AugmentPolicy {
  bool translation = false, cutout = false;
  bool any() const { return translation || cutout; }
};
// "none", "translation", "cutout" or "translation,cutout" (the job validates the value).
AugmentPolicy augment_policy(const std::string& d_augment);

// Per image (a row of 4 int64): tx, ty uniform in [-4, 4] (0 without translation) and the cutout square's
// centre cx, cy uniform in [0, 28] (kNoCutout without cutout), drawn in that order, each as one
// torch::randint over the batch: [batch, 4], on the CPU.
torch::Tensor draw_augmentation(const AugmentPolicy& policy, int64_t batch, torch::Generator& generator);

// The pixel of the original image that augmented pixel (y, x) shows, or -1 where it is black:
//   out(y, x) = 0                      if cx - 7 <= x < cx + 7 and cy - 7 <= y < cy + 7   (cutout),
//             = in(y + ty, x + tx)     if that pixel is inside the image,                (translation)
//             = 0                      otherwise (zero padding).
inline int64_t augmented_source(const int64_t* draw, int64_t y, int64_t x) {
  const int64_t tx = draw[0], ty = draw[1], cx = draw[2], cy = draw[3], half = kCutoutSide / 2;
  if (x >= cx - half && x < cx + half && y >= cy - half && y < cy + half) return -1;
  const int64_t sy = y + ty, sx = x + tx;
  if (sy < 0 || sy >= kImageSide || sx < 0 || sx >= kImageSide) return -1;
  return sy * kImageSide + sx;
}

// images [M, B, 784] augmented with draws [M, B, 4] (differentiable: a gather from the images padded with
// one black pixel); images itself when draws is undefined.
torch::Tensor augmented(const torch::Tensor& images, const torch::Tensor& draws);

}  // namespace genzoo
