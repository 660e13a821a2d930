// Tests for src/models/gan_augment.{h,cpp}: the augmented images against DiffAugment's own construction
// (a zero-padded shift, then a cutout square whose index ranges are clamped to the image), the draws'
// ranges, and the gradient autograd passes back through the gather (each shown pixel's gradient lands on
// its source pixel).
#include "models/gan_augment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "common/error.h"

namespace genzoo {
namespace {

// DiffAugment's rand_translation then rand_cutout on one image, written as that code does it: the shifted
// image read from a copy padded by one black pixel, indices clamped into the padding; the cutout's rows and
// columns arange(14) + c - 7 clamped to [0, 27].
std::vector<float> diffaugment_reference(const std::vector<float>& image, const int64_t* draw) {
  const int64_t side = kImageSide, tx = draw[0], ty = draw[1], cx = draw[2], cy = draw[3];
  std::vector<float> padded((side + 2) * (side + 2), 0.0f), out(kImagePixels);
  for (int64_t y = 0; y < side; ++y) {
    for (int64_t x = 0; x < side; ++x) padded[(y + 1) * (side + 2) + x + 1] = image[y * side + x];
  }
  for (int64_t y = 0; y < side; ++y) {
    for (int64_t x = 0; x < side; ++x) {
      const int64_t gy = std::clamp<int64_t>(y + ty + 1, 0, side + 1), gx = std::clamp<int64_t>(x + tx + 1, 0, side + 1);
      out[y * side + x] = padded[gy * (side + 2) + gx];
    }
  }
  if (cx != kNoCutout) {
    for (int64_t i = 0; i < kCutoutSide; ++i) {
      for (int64_t j = 0; j < kCutoutSide; ++j) {
        const int64_t y = std::clamp<int64_t>(i + cy - kCutoutSide / 2, 0, side - 1);
        const int64_t x = std::clamp<int64_t>(j + cx - kCutoutSide / 2, 0, side - 1);
        out[y * side + x] = 0.0f;
      }
    }
  }
  return out;
}

TEST(GanAugment, PoliciesParse) {
  EXPECT_FALSE(augment_policy("none").any());
  EXPECT_TRUE(augment_policy("translation").translation && !augment_policy("translation").cutout);
  EXPECT_TRUE(augment_policy("cutout").cutout && !augment_policy("cutout").translation);
  EXPECT_TRUE(augment_policy("translation,cutout").translation && augment_policy("translation,cutout").cutout);
  EXPECT_THROW(augment_policy("color"), JobError);
}

TEST(GanAugment, DrawsCoverDiffAugmentsRanges) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
  const int64_t batch = 4000;
  const auto both = draw_augmentation(augment_policy("translation,cutout"), batch, generator);
  ASSERT_EQ(both.sizes(), (std::vector<int64_t>{batch, 4}));
  for (int64_t column : {0, 1}) {
    EXPECT_EQ(both.select(1, column).min().item<int64_t>(), -kAugmentShift);
    EXPECT_EQ(both.select(1, column).max().item<int64_t>(), kAugmentShift);
  }
  for (int64_t column : {2, 3}) {
    EXPECT_EQ(both.select(1, column).min().item<int64_t>(), 0);
    EXPECT_EQ(both.select(1, column).max().item<int64_t>(), kImageSide);
  }
  const auto shifts = draw_augmentation(augment_policy("translation"), batch, generator);
  EXPECT_TRUE((shifts.select(1, 2) == kNoCutout).all().item<bool>());
  EXPECT_GT(shifts.select(1, 0).abs().sum().item<int64_t>(), 0);
  const auto cuts = draw_augmentation(augment_policy("cutout"), batch, generator);
  EXPECT_TRUE((cuts.narrow(1, 0, 2) == 0).all().item<bool>());
  // The same generator state gives the same draws (both training paths draw from the model's generator).
  auto a = at::make_generator<at::CPUGeneratorImpl>(11), b = at::make_generator<at::CPUGeneratorImpl>(11);
  EXPECT_TRUE(torch::equal(draw_augmentation(augment_policy("translation,cutout"), 64, a),
                           draw_augmentation(augment_policy("translation,cutout"), 64, b)));
}

TEST(GanAugment, AugmentedImagesMatchDiffAugmentsConstruction) {
  torch::manual_seed(3);
  const int64_t models = 2, batch = 40;
  const auto images = torch::rand({models, batch, kImagePixels}) + 0.5;  // no black pixel of its own
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  std::vector<torch::Tensor> rows;
  for (int64_t m = 0; m < models; ++m) rows.push_back(draw_augmentation(augment_policy("translation,cutout"), batch, generator));
  auto draws = torch::stack(rows);
  // Corner cases among the random ones: no shift and a cutout off the corner; the largest shifts.
  draws[0][0] = torch::tensor({0, 0, 0, 0});
  draws[0][1] = torch::tensor({-kAugmentShift, kAugmentShift, kImageSide, kImageSide});
  draws[1][0] = torch::tensor({kAugmentShift, -kAugmentShift, kNoCutout, kNoCutout});
  const auto out = augmented(images, draws);
  ASSERT_EQ(out.sizes(), images.sizes());
  int64_t black = 0;
  for (int64_t m = 0; m < models; ++m) {
    for (int64_t b = 0; b < batch; ++b) {
      const auto image = images[m][b].contiguous();
      const std::vector<float> pixels(image.data_ptr<float>(), image.data_ptr<float>() + kImagePixels);
      const auto draw = draws[m][b].contiguous();
      const std::vector<float> expected = diffaugment_reference(pixels, draw.data_ptr<int64_t>());
      const auto got = out[m][b].contiguous();
      for (int64_t p = 0; p < kImagePixels; ++p) {
        ASSERT_EQ(got.data_ptr<float>()[p], expected[p]) << "model " << m << ", image " << b << ", pixel " << p;
        black += expected[p] == 0.0f;
      }
    }
  }
  EXPECT_GT(black, models * batch * 49);  // cutouts of up to 196 pixels and shifted-in borders
  EXPECT_TRUE(torch::equal(augmented(images, torch::Tensor()), images));
}

TEST(GanAugment, GradientReturnsToTheSourcePixels) {
  torch::manual_seed(4);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(9);
  const auto draws = draw_augmentation(augment_policy("translation,cutout"), 8, generator).unsqueeze(0);
  const auto images = torch::rand({1, 8, kImagePixels}).requires_grad_(true);
  const auto weights = torch::rand({1, 8, kImagePixels});
  (augmented(images, draws) * weights).sum().backward();
  const auto grad = images.grad().contiguous();
  const auto w = weights.contiguous();
  for (int64_t b = 0; b < 8; ++b) {
    std::vector<float> expected(kImagePixels, 0.0f);
    for (int64_t y = 0; y < kImageSide; ++y) {
      for (int64_t x = 0; x < kImageSide; ++x) {
        const int64_t source = augmented_source(draws[0][b].contiguous().data_ptr<int64_t>(), y, x);
        if (source >= 0) expected[source] += w.data_ptr<float>()[b * kImagePixels + y * kImageSide + x];
      }
    }
    for (int64_t p = 0; p < kImagePixels; ++p) {
      ASSERT_EQ(grad.data_ptr<float>()[b * kImagePixels + p], expected[p]) << "image " << b << ", pixel " << p;
    }
  }
}

}  // namespace
}  // namespace genzoo
