// Tests for src/kernels/conv.cpp, under every instruction set: every kernel against LibTorch in double precision on random
// inputs (conv2d, conv_transpose2d, their autograd weight gradients, matmuls, sigmoid). Channel
// counts 1, 3, 8 and 16 exercise the four-channel tiles and their one-channel remainders; sides 7
// and 14 the four-pixel row tiles and their remainders (7 = 4 + 3, 14 = 4 + 4 + 4 + 2).
//
// Tolerance: 1e-4 relative to the largest reference value plus 1e-5. The kernels accumulate at most
// 16 x 16 products in float: a few ulps of the magnitudes. A wrong tap, index or padding gives
// errors of the order of the values themselves.
#include "kernels/conv.h"

#include <gtest/gtest.h>

#include "helpers.h"
#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

namespace genzoo::test {
namespace {

using conv_kernels::Epilogue;
using conv_kernels::Grid;
using conv_kernels::kLanes;

// A Grid with its own storage; the border is zero.
struct OwnedGrid {
  std::vector<float> storage;
  Grid grid;
  OwnedGrid(int64_t channels, int64_t side) {
    grid.channels = channels, grid.side = side;
    storage.assign(grid.floats(), 0.0f);
    grid.data = storage.data();
  }
  // From a [kLanes, C, side, side] tensor (sample b in lane b).
  explicit OwnedGrid(const torch::Tensor& t) : OwnedGrid(t.size(1), t.size(2)) {
    const auto a = t.to(torch::kFloat).contiguous();
    const auto acc = a.accessor<float, 4>();
    for (int64_t c = 0; c < grid.channels; ++c)
      for (int64_t y = 0; y < grid.side; ++y)
        for (int64_t x = 0; x < grid.side; ++x)
          for (int64_t b = 0; b < kLanes; ++b) grid.at(c, y, x)[b] = acc[b][c][y][x];
  }
  torch::Tensor tensor() const {
    auto t = torch::empty({kLanes, grid.channels, grid.side, grid.side});
    auto acc = t.accessor<float, 4>();
    for (int64_t c = 0; c < grid.channels; ++c)
      for (int64_t y = 0; y < grid.side; ++y)
        for (int64_t x = 0; x < grid.side; ++x)
          for (int64_t b = 0; b < kLanes; ++b) acc[b][c][y][x] = grid.at(c, y, x)[b];
    return t;
  }
  bool border_is_zero() const {
    const int64_t p = grid.padded();
    for (int64_t c = 0; c < grid.channels; ++c)
      for (int64_t y = -1; y <= grid.side; ++y)
        for (int64_t x = -1; x <= grid.side; ++x) {
          if (y >= 0 && y < grid.side && x >= 0 && x < grid.side) continue;
          for (int64_t b = 0; b < kLanes; ++b)
            if (grid.data[((c * p + y + 1) * p + x + 1) * kLanes + b] != 0.0f) return false;
        }
    return true;
  }
};

torch::Tensor random(std::vector<int64_t> shape, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape, torch::kDouble);
}

std::vector<float> floats(const torch::Tensor& t) {
  const auto f = t.to(torch::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

void expect_close(const torch::Tensor& out, const torch::Tensor& ref, const std::string& what) {
  ASSERT_EQ(out.sizes(), ref.sizes()) << what;
  const double scale = ref.abs().max().item<double>();
  const double diff = (out.to(torch::kDouble) - ref).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4 * scale + 1e-5) << what << ": max difference " << diff << " at scale " << scale;
}

struct ConvShape {
  int64_t in_channels, out_channels, out_side;
  std::string name() const {
    return std::to_string(in_channels) + "->" + std::to_string(out_channels) + " side " + std::to_string(out_side);
  }
};
const std::vector<ConvShape> kShapes = {{1, 8, 14}, {8, 16, 7}, {16, 8, 7}, {8, 1, 14}, {3, 3, 7}};

const std::vector<Epilogue> kEpilogues = {Epilogue::kNone, Epilogue::kRelu, Epilogue::kMaskBy, Epilogue::kLeakyRelu,
                                          Epilogue::kLeakyMaskBy};

// What an epilogue makes of raw outputs (mask: the reference grid of the masking epilogues).
torch::Tensor reference_epilogue(Epilogue epilogue, const torch::Tensor& raw, const torch::Tensor& mask) {
  const auto slope = static_cast<double>(conv_kernels::kLeakySlope);
  switch (epilogue) {
    case Epilogue::kRelu: return torch::relu(raw);
    case Epilogue::kMaskBy: return raw * (mask > 0).to(torch::kDouble);
    case Epilogue::kLeakyRelu: return torch::leaky_relu(raw, slope);
    case Epilogue::kLeakyMaskBy: return torch::where(mask > 0, raw, slope * raw);
    default: return raw;
  }
}

class ConvKernels : public EveryIsa {};

TEST_P(ConvKernels, ConvMatchesConv2dWithEveryEpilogue) {
  for (const auto& s : kShapes) {
    const auto input = random({kLanes, s.in_channels, 2 * s.out_side, 2 * s.out_side}, 1);
    const auto weight = random({s.out_channels, s.in_channels, 4, 4}, 2), bias = random({s.out_channels}, 3);
    const auto mask = random({kLanes, s.out_channels, s.out_side, s.out_side}, 4);
    const auto raw = torch::conv2d(input, weight, bias, 2, 1);
    const OwnedGrid in(input), mask_grid(mask);
    const auto w = floats(weight), b = floats(bias);
    for (const auto epilogue : kEpilogues) {
      OwnedGrid out(s.out_channels, s.out_side);
      conv_kernels::conv(in.grid, w.data(), b.data(), out.grid, epilogue, &mask_grid.grid);
      const auto ref = reference_epilogue(epilogue, raw, mask);
      expect_close(out.tensor(), ref, "conv " + s.name() + " epilogue " + std::to_string(static_cast<int>(epilogue)));
      EXPECT_TRUE(out.border_is_zero()) << s.name();
    }
    OwnedGrid no_bias(s.out_channels, s.out_side);
    conv_kernels::conv(in.grid, w.data(), nullptr, no_bias.grid, Epilogue::kNone);
    expect_close(no_bias.tensor(), torch::conv2d(input, weight, {}, 2, 1), "conv without bias " + s.name());
  }
}

TEST_P(ConvKernels, ConvTransposedMatchesConvTranspose2d) {
  for (const auto& s : kShapes) {
    // The transposed convolution goes from the small side to the large one.
    const auto input = random({kLanes, s.in_channels, s.out_side, s.out_side}, 5);
    const auto weight = random({s.in_channels, s.out_channels, 4, 4}, 6), bias = random({s.out_channels}, 7);
    const auto mask = random({kLanes, s.out_channels, 2 * s.out_side, 2 * s.out_side}, 8);
    const auto raw = torch::conv_transpose2d(input, weight, bias, 2, 1);
    const OwnedGrid in(input), mask_grid(mask);
    const auto w = floats(weight), b = floats(bias);
    for (const auto epilogue : kEpilogues) {
      OwnedGrid out(s.out_channels, 2 * s.out_side);
      conv_kernels::conv_transposed(in.grid, w.data(), b.data(), out.grid, epilogue, &mask_grid.grid);
      const auto ref = reference_epilogue(epilogue, raw, mask);
      expect_close(out.tensor(), ref, "conv_transposed " + s.name());
      EXPECT_TRUE(out.border_is_zero()) << s.name();
    }
  }
}

// A NaN in a diverged model's weights must reach its loss (as torch::relu lets it through): a ReLU
// written as "v > 0 ? v : 0" would turn it into 0 and hide the divergence.
TEST_P(ConvKernels, ReluLetsNanThrough) {
  // Random [8][3][4][4] weights with one NaN at [a][b][ky][kx] = [a][b][k][k].
  const auto weights_with_nan = [](uint64_t seed, int64_t a, int64_t b, int64_t k) {
    auto weight = random({8, 3, 4, 4}, seed);
    weight[a][b][k][k] = std::numeric_limits<double>::quiet_NaN();
    return floats(weight);
  };
  const OwnedGrid large_in(random({kLanes, 3, 14, 14}, 9));
  const auto w = weights_with_nan(10, 5, 1, 2);  // output channel 5, input channel 1
  OwnedGrid small_out(8, 7);
  conv_kernels::conv(large_in.grid, w.data(), nullptr, small_out.grid, Epilogue::kRelu);
  EXPECT_TRUE(small_out.tensor()[0][5].isnan().all().item<bool>()) << "channel 5 has the NaN weight";
  EXPECT_FALSE(small_out.tensor()[0][4].isnan().any().item<bool>()) << "channel 4 does not";

  const OwnedGrid small_in(random({kLanes, 8, 7, 7}, 11));
  const auto tw = weights_with_nan(12, 2, 1, 1);  // input channel 2, output channel 1
  OwnedGrid large_out(3, 14);
  conv_kernels::conv_transposed(small_in.grid, tw.data(), nullptr, large_out.grid, Epilogue::kRelu);
  EXPECT_TRUE(large_out.tensor()[0][1].isnan().any().item<bool>()) << "output channel 1 has the NaN weight";
}

// weight_grad accumulates (+=) the weight gradient of both convolution kinds; checked against
// autograd of sum(output * upstream).
TEST_P(ConvKernels, WeightGradMatchesAutogradOfBothConvolutionKinds) {
  for (const auto& s : kShapes) {
    const auto large = random({kLanes, s.in_channels, 2 * s.out_side, 2 * s.out_side}, 9);
    const auto upstream = random({kLanes, s.out_channels, s.out_side, s.out_side}, 10);
    auto weight = random({s.out_channels, s.in_channels, 4, 4}, 11).requires_grad_(true);
    (torch::conv2d(large, weight, {}, 2, 1) * upstream).sum().backward();
    std::vector<float> grad(weight.numel(), 0.5f);  // accumulates onto what is there
    conv_kernels::weight_grad(OwnedGrid(upstream).grid, OwnedGrid(large).grid, grad.data());
    expect_close(torch::tensor(grad).reshape(weight.sizes()), weight.grad() + 0.5, "conv weight grad " + s.name());

    // Transposed: small input with s.out_channels channels, large output with s.in_channels.
    auto weight_t = random({s.out_channels, s.in_channels, 4, 4}, 12).requires_grad_(true);
    const auto small_in = random({kLanes, s.out_channels, s.out_side, s.out_side}, 13);
    (torch::conv_transpose2d(small_in, weight_t, {}, 2, 1) * large).sum().backward();
    std::vector<float> grad_t(weight_t.numel(), 0.0f);
    conv_kernels::weight_grad(OwnedGrid(small_in).grid, OwnedGrid(large).grid, grad_t.data());
    expect_close(torch::tensor(grad_t).reshape(weight_t.sizes()), weight_t.grad(), "conv_transposed weight grad " + s.name());
  }
}

TEST_P(ConvKernels, ChannelAndFeatureSumsAddEveryPixelAndSample) {
  for (const int64_t channels : {1, 3, 16}) {
    const auto t = random({kLanes, channels, 7, 7}, 14);
    const OwnedGrid g(t);
    std::vector<float> channel(channels, 1.0f), feature(channels * 49, 2.0f);
    conv_kernels::channel_sums(g.grid, channel.data());
    conv_kernels::feature_sums(g.grid, feature.data());
    expect_close(torch::tensor(channel), t.sum({0, 2, 3}) + 1.0, "channel_sums");
    expect_close(torch::tensor(feature), t.sum(0).reshape(-1) + 2.0, "feature_sums");
  }
}

// The minibatch standard deviation's kernels on a block's first `valid` lanes (all 16, a partial block's
// 5, none); the other lanes hold NaN, which must not count, and keep their gradient.
TEST_P(ConvKernels, MinibatchStddevKernelsCountOnlyValidLanes) {
  for (const int64_t valid : {int64_t{16}, int64_t{5}, int64_t{0}}) {
    const std::string what = "valid " + std::to_string(valid);
    auto t = random({kLanes, 3, 7, 7}, 21);
    t.narrow(0, valid, kLanes - valid).fill_(std::numeric_limits<double>::quiet_NaN());
    const OwnedGrid g(t), d(random({kLanes, 3, 7, 7}, 22));
    const auto used = t.narrow(0, 0, valid);
    const auto mean = random({3 * 49}, 23), factor = random({3 * 49}, 24);
    std::vector<float> sums(3 * 49, 1.0f), squares(3 * 49, 2.0f);
    conv_kernels::masked_feature_sums(g.grid, valid, sums.data());
    conv_kernels::centered_square_sums(g.grid, valid, floats(mean).data(), squares.data());
    expect_close(torch::tensor(sums), used.sum(0).reshape(-1) + 1.0, "masked_feature_sums, " + what);
    expect_close(torch::tensor(squares), (used.reshape({valid, 3 * 49}) - mean).square().sum(0) + 2.0,
                 "centered_square_sums, " + what);

    const auto before = d.tensor().to(torch::kDouble);
    conv_kernels::add_leaky_centered(g.grid, floats(mean).data(), floats(factor).data(), 0.5f, d.grid, valid);
    const auto grad = 0.5 * factor.reshape({1, 3, 7, 7}) * (t - mean.reshape({1, 3, 7, 7}));
    auto expected = before + reference_epilogue(Epilogue::kLeakyMaskBy, grad, t);
    expected.narrow(0, valid, kLanes - valid).copy_(before.narrow(0, valid, kLanes - valid));
    expect_close(d.tensor(), expected, "add_leaky_centered, " + what);
    EXPECT_TRUE(d.border_is_zero()) << what;
  }
}

TEST_P(ConvKernels, AddLaneSumsSumsEachVector) {
  for (const int64_t count : {int64_t{16}, int64_t{7}, int64_t{32}}) {
    const auto t = random({count, kLanes}, 15);
    std::vector<float> sums(count, 3.0f);
    conv_kernels::add_lane_sums(floats(t).data(), sums.data(), count);
    expect_close(torch::tensor(sums), t.sum(1) + 3.0, "add_lane_sums " + std::to_string(count));
  }
}

// The dense layers between a grid's features (LibTorch's flattening order) and `width` code units:
// one lane block of units (16), two (32: every target's accumulator chunks and their remainders).
TEST_P(ConvKernels, DenseLayersMatchMatmul) {
  for (const int64_t width : {int64_t{16}, int64_t{32}}) {
    for (const int64_t channels : {3, 16}) {
      const std::string what = " width " + std::to_string(width) + " channels " + std::to_string(channels);
      const auto features = random({kLanes, channels, 7, 7}, 16);
      const auto flat = features.reshape({kLanes, -1});
      const int64_t f = flat.size(1);
      const auto weight = random({f, width}, 17), bias = random({width}, 18), wide_bias = random({f}, 19);
      const auto code = random({kLanes, width}, 20);  // [sample, unit]
      const auto mask = random({kLanes, channels, 7, 7}, 21);
      const OwnedGrid grid(features);
      const auto w = floats(weight), b = floats(bias), wb = floats(wide_bias);

      // narrow[j][b]: unit j of sample b.
      std::vector<float> narrow(width * kLanes);
      conv_kernels::dense_to_narrow(grid.grid, w.data(), b.data(), narrow.data(), width);
      expect_close(torch::tensor(narrow).reshape({width, kLanes}).t(), flat.matmul(weight) + bias, "dense_to_narrow" + what);

      const auto code_floats = floats(code.t());
      OwnedGrid wide(channels, 7), masked(channels, 7);
      conv_kernels::dense_from_narrow(code_floats.data(), w.data(), wb.data(), wide.grid, Epilogue::kRelu, width);
      const auto pre = code.matmul(weight.t()) + wide_bias;
      expect_close(wide.tensor().reshape({kLanes, -1}), torch::relu(pre), "dense_from_narrow relu" + what);
      const OwnedGrid mask_grid(mask);
      conv_kernels::dense_from_narrow(code_floats.data(), w.data(), nullptr, masked.grid, Epilogue::kMaskBy, width,
                                      &mask_grid.grid);
      expect_close(masked.tensor().reshape({kLanes, -1}),
                   code.matmul(weight.t()) * (mask.reshape({kLanes, -1}) > 0).to(torch::kDouble),
                   "dense_from_narrow mask" + what);
      EXPECT_TRUE(wide.border_is_zero());

      std::vector<float> grad(f * width, 1.0f);
      conv_kernels::dense_weight_grad(grid.grid, code_floats.data(), grad.data(), width);
      expect_close(torch::tensor(grad).reshape({f, width}), flat.t().matmul(code) + 1.0, "dense_weight_grad" + what);
    }
  }
}

// A partly filled last block: only the first `valid` samples count in the loss and get a gradient.
TEST_P(ConvKernels, SigmoidSquaredErrorCountsOnlyValidSamples) {
  const auto logits = random({kLanes, 1, 28, 28}, 40) * 4.0, target = torch::rand({kLanes, 1, 28, 28}).to(torch::kDouble);
  for (const int64_t valid : {int64_t{16}, int64_t{5}, int64_t{1}}) {
    OwnedGrid grad(1, 28);
    const double squared = conv_kernels::sigmoid_squared_error(OwnedGrid(logits).grid, OwnedGrid(target).grid, 0.5f,
                                                               grad.grid, valid);
    const auto out = torch::sigmoid(logits).narrow(0, 0, valid), diff = out - target.narrow(0, 0, valid);
    EXPECT_NEAR(squared, diff.pow(2).sum().item<double>(), 1e-5 * diff.pow(2).sum().item<double>()) << valid;
    const auto expected = torch::cat({0.5 * diff * out * (1 - out), torch::zeros({kLanes - valid, 1, 28, 28}, torch::kDouble)});
    expect_close(grad.tensor(), expected, "sigmoid_squared_error gradient, valid " + std::to_string(valid));
  }
}

// gan's discriminator output layer (one unit) and its two gradients.
TEST_P(ConvKernels, DenseOneUnitLayersMatchMatmul) {
  const auto features = random({kLanes, 6, 7, 7}, 23);
  const auto flat = features.reshape({kLanes, -1});
  const auto weight = random({flat.size(1)}, 24), upstream = random({kLanes}, 25);
  const auto mask = random({kLanes, 6, 7, 7}, 26);
  const OwnedGrid grid(features), mask_grid(mask);
  const auto w = floats(weight), d = floats(upstream);

  std::vector<float> lanes(kLanes);
  conv_kernels::dense_to_one(grid.grid, w.data(), 0.5f, lanes.data());
  expect_close(torch::tensor(lanes).to(torch::kDouble), flat.matmul(weight) + 0.5, "dense_to_one");

  OwnedGrid d_grid(6, 7);
  conv_kernels::dense_from_one(d.data(), w.data(), d_grid.grid, Epilogue::kLeakyMaskBy, &mask_grid.grid);
  const auto d_flat = upstream.unsqueeze(1) * weight.unsqueeze(0);
  expect_close(d_grid.tensor().reshape({kLanes, -1}),
               reference_epilogue(Epilogue::kLeakyMaskBy, d_flat, mask.reshape({kLanes, -1})), "dense_from_one");
  EXPECT_TRUE(d_grid.border_is_zero());

  std::vector<float> grad(flat.size(1), 1.0f);
  conv_kernels::dense_one_weight_grad(grid.grid, d.data(), grad.data());
  expect_close(torch::tensor(grad).to(torch::kDouble), flat.t().matmul(upstream) + 1.0, "dense_one_weight_grad");
}

TEST_P(ConvKernels, SigmoidAndItsBackwardMatchAutograd) {
  const auto logits = (random({kLanes, 1, 28, 28}, 27) * 6.0).requires_grad_(true);
  const auto upstream = random({kLanes, 1, 28, 28}, 28);
  const auto out = torch::sigmoid(logits);
  (out * upstream).sum().backward();
  OwnedGrid sig(1, 28), d_logits(1, 28);
  conv_kernels::sigmoid(OwnedGrid(logits.detach()).grid, sig.grid);
  expect_close(sig.tensor(), out.detach(), "sigmoid");
  conv_kernels::sigmoid_backward(sig.grid, OwnedGrid(upstream).grid, d_logits.grid);
  expect_close(d_logits.tensor(), logits.grad(), "sigmoid_backward");
  EXPECT_TRUE(sig.border_is_zero() && d_logits.border_is_zero());
}

// The layer-backward compositions: input gradient only (null weight gradient) leaves the weight
// and bias gradients untouched; load_images puts image b in lane b.
TEST_P(ConvKernels, LayerBackwardWithoutWeightGradientAndLoadImages) {
  const auto input = random({kLanes, 3, 14, 14}, 29), weight = random({8, 3, 4, 4}, 30);
  const auto d_out = random({kLanes, 8, 7, 7}, 31);
  const OwnedGrid in(input), d(d_out);
  const auto w = floats(weight);
  std::vector<float> bias_grad(8, 2.0f);
  OwnedGrid d_in(3, 14);
  conv_kernels::conv_backward(in.grid, d.grid, w.data(), nullptr, bias_grad.data(), &d_in.grid, Epilogue::kNone);
  expect_close(d_in.tensor(), torch::conv_transpose2d(d_out, weight, {}, 2, 1), "conv_backward input gradient");
  EXPECT_EQ(bias_grad, std::vector<float>(8, 2.0f));

  const auto images = torch::rand({kLanes, 28 * 28});
  OwnedGrid loaded(1, 28);
  conv_kernels::load_images(images.data_ptr<float>(), loaded.grid);
  expect_close(loaded.tensor().reshape({kLanes, -1}), images.to(torch::kDouble), "load_images");
  EXPECT_TRUE(loaded.border_is_zero());
}

TEST_P(ConvKernels, SigmoidSquaredErrorMatchesAutograd) {
  const auto logits = (random({kLanes, 1, 28, 28}, 22) * 6.0).requires_grad_(true);
  const auto target = torch::rand({kLanes, 1, 28, 28}, torch::kDouble);
  const auto loss = (torch::sigmoid(logits) - target).pow(2).sum();
  loss.backward();
  OwnedGrid grad(1, 28);
  const double squared = conv_kernels::sigmoid_squared_error(OwnedGrid(logits.detach()).grid, OwnedGrid(target).grid,
                                                             0.5f, grad.grid);
  EXPECT_NEAR(squared, loss.item<double>(), 1e-4 * loss.item<double>());
  expect_close(grad.tensor(), 0.25 * logits.grad(), "sigmoid_squared_error gradient");  // d/dz sum = 2 (..): scale 0.5 -> 0.25 x
  EXPECT_TRUE(grad.border_is_zero());

  // Saturated logits stay finite.
  auto extreme = torch::full({kLanes, 1, 28, 28}, 500.0, torch::kDouble);
  extreme.index_put_({0}, -500.0);
  const double saturated = conv_kernels::sigmoid_squared_error(OwnedGrid(extreme).grid, OwnedGrid(target).grid, 1.0f, grad.grid);
  EXPECT_TRUE(std::isfinite(saturated));
  EXPECT_NEAR(saturated, (torch::sigmoid(extreme) - target).pow(2).sum().item<double>(), 1e-3);
}

GENZOO_INSTANTIATE_EVERY_ISA(ConvKernels);

}  // namespace
}  // namespace genzoo::test
