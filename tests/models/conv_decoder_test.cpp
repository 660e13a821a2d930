// Tests for src/models/conv_decoder.cpp, the decoder conv_ae, gan's generator and vae's decoder = "conv"
// share: the model-batched (grouped) decoder against each model decoded alone with ungrouped LibTorch
// ops, its layout, and its multiply-add count against a count of every tap.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "data/image.h"
#include "job/job.h"
#include "models/conv_decoder.h"
#include "models/family.h"

namespace genzoo::test {
namespace {

TEST(ConvDecoder, LayoutIsFcThenTwoTransposedConvolutions) {
  Layout layout;
  add_conv_decoder(layout, "decoder", "decoder", 3, 5);
  ASSERT_EQ(layout.size(), 6u);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"decoder.fc.weight", {2 * 3 * 49, 5}}, {"decoder.fc.bias", {2 * 3 * 49}},
      {"decoder.convt1.weight", {6, 3, 4, 4}}, {"decoder.convt1.bias", {3}},
      {"decoder.convt2.weight", {3, 1, 4, 4}}, {"decoder.convt2.bias", {1}}};
  int64_t offset = 0;
  for (size_t i = 0; i < layout.size(); ++i) {
    EXPECT_EQ(layout[i].name, expected[i].first);
    EXPECT_EQ(layout[i].shape, expected[i].second) << layout[i].name;
    EXPECT_EQ(layout[i].role, "decoder");
    EXPECT_EQ(layout[i].offset, offset) << layout[i].name;
    offset += layout[i].numel();
  }
}

// Three models with their own random weights: the grouped decoder equals each model's decoder run alone.
TEST(ConvDecoder, EachModelDecodesWithItsOwnWeights) {
  torch::manual_seed(3);
  const int64_t models = 3, samples = 5, c = 2, k = 4;
  Layout layout;
  add_conv_decoder(layout, "g", "generator", c, k);
  const torch::Tensor flat = 0.3 * torch::randn({models, layout_size(layout)});
  const StackedParams p = view_params(flat, layout);
  const torch::Tensor code = torch::randn({models, samples, k});
  const torch::Tensor logits = conv_decoder_logits(p, "g", code);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{models, samples, kImagePixels}));
  for (int64_t m = 0; m < models; ++m) {
    auto h = torch::relu(torch::addmm(p.at("g.fc.bias")[m], code[m], p.at("g.fc.weight")[m].t()));
    h = h.reshape({samples, 2 * c, 7, 7});
    h = torch::relu(torch::conv_transpose2d(h, p.at("g.convt1.weight")[m], p.at("g.convt1.bias")[m], 2, 1));
    h = torch::conv_transpose2d(h, p.at("g.convt2.weight")[m], p.at("g.convt2.bias")[m], 2, 1);
    EXPECT_LE((h.reshape({samples, kImagePixels}) - logits[m]).abs().max().item<double>(), 1e-5) << "model " << m;
  }
}

// Every multiply-add of the forward pass, counted tap by tap: the fc layer's, and for each transposed
// convolution every (input pixel, input channel, output channel, tap) whose output lands anywhere (the
// padding's taps are computed too, as the kernels do).
TEST(ConvDecoder, MultiplyAddsCountEveryTap) {
  for (const auto& [c, k] : std::vector<std::pair<int64_t, int64_t>>{{8, 16}, {3, 5}}) {
    double count = 2.0 * c * 49 * k;
    const auto convt = [&](int64_t in_side, int64_t in_channels, int64_t out_channels) {
      for (int64_t pixel = 0; pixel < in_side * in_side; ++pixel) count += static_cast<double>(in_channels * out_channels * 16);
    };
    convt(7, 2 * c, c);
    convt(14, c, 1);
    EXPECT_DOUBLE_EQ(conv_decoder_multiply_adds(c, k), count) << "c " << c << ", k " << k;
  }
  // conv_ae's cost model counts its decoder as half of its forward pass, 2 flops per multiply-add, times
  // 3 passes (forward, weight and input gradients).
  FamilyConfig config;
  config.name = "conv_ae";
  config.channels = 8;
  config.latent = 16;
  EXPECT_DOUBLE_EQ(find_family("conv_ae").flops_per_sample(config), 12.0 * conv_decoder_multiply_adds(8, 16));
}

}  // namespace
}  // namespace genzoo::test
