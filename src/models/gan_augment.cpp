#include "models/gan_augment.h"

#include <vector>

#include "common/error.h"

namespace genzoo {

AugmentPolicy augment_policy(const std::string& d_augment) {
  if (d_augment == "none") return {};
  if (d_augment == "translation") return {true, false};
  if (d_augment == "cutout") return {false, true};
  if (d_augment == "translation,cutout") return {true, true};
  throw JobError("d_augment: unknown policy '" + d_augment + "' (none, translation, cutout, translation,cutout)");
}

torch::Tensor draw_augmentation(const AugmentPolicy& policy, int64_t batch, torch::Generator& generator) {
  const auto options = torch::TensorOptions().dtype(torch::kLong);
  const auto uniform = [&](int64_t low, int64_t high_inclusive) {
    return torch::randint(low, high_inclusive + 1, {batch}, generator, options);
  };
  torch::Tensor tx = torch::zeros({batch}, options), ty = tx;
  torch::Tensor cx = torch::full({batch}, kNoCutout, options), cy = cx;
  if (policy.translation) tx = uniform(-kAugmentShift, kAugmentShift), ty = uniform(-kAugmentShift, kAugmentShift);
  if (policy.cutout) cx = uniform(0, kImageSide), cy = uniform(0, kImageSide);
  return torch::stack({tx, ty, cx, cy}, 1).contiguous();
}

torch::Tensor augmented(const torch::Tensor& images, const torch::Tensor& draws) {
  if (!draws.defined()) return images;
  const auto cpu_draws = draws.to(torch::kCPU).to(torch::kLong).contiguous();
  const int64_t rows = cpu_draws.size(0) * cpu_draws.size(1);
  // The gather index: each augmented pixel's source, kImagePixels (the padding's black pixel) where it is black.
  auto index = torch::empty({cpu_draws.size(0), cpu_draws.size(1), kImagePixels}, torch::kLong);
  const int64_t* draw = cpu_draws.data_ptr<int64_t>();
  int64_t* out = index.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r, draw += 4) {
    for (int64_t y = 0; y < kImageSide; ++y) {
      for (int64_t x = 0; x < kImageSide; ++x) {
        const int64_t source = augmented_source(draw, y, x);
        *out++ = source < 0 ? kImagePixels : source;
      }
    }
  }
  const auto padded = torch::cat({images, torch::zeros({images.size(0), images.size(1), 1}, images.options())}, 2);
  return padded.gather(2, index.to(images.device()));
}

}  // namespace genzoo
