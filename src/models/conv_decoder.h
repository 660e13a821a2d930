// The DCGAN-style decoder that conv_ae's decoder, gan's generator and vae's decoder = "conv" share:
// fc(code -> 2c x 7 x 7), ReLU, convT(2c -> c, 4, stride 2, padding 1), ReLU, convT(c -> 1, 4, stride 2,
// padding 1): 28 x 28 logits. Its tensors are PREFIX.fc.weight [2c*49, code], PREFIX.fc.bias,
// PREFIX.convt1.weight [2c, c, 4, 4], PREFIX.convt1.bias [c], PREFIX.convt2.weight [c, 1, 4, 4] and
// PREFIX.convt2.bias [1]. The LibTorch path here; the hand-written one is kernels/conv.h's lane-block kernels.
#pragma once

#include <cstdint>
#include <string>

#include "models/torch_family.h"

namespace genzoo {

constexpr int64_t kConvKernel = 4;                 // every conv family's kernel side
constexpr int64_t kFeatureSide = 7;                // the 28 x 28 image's side after two stride-2 layers

// [M, a, ...] -> [M*a, ...]: stacked per-model kernels become the groups of one grouped convolution.
torch::Tensor groups_of(const torch::Tensor& w);

// Appends the decoder's tensors (group `group`, e.g. "decoder" or "generator") for `channels` = c and a
// code of `code_width` inputs.
void add_conv_decoder(Layout& layout, const std::string& prefix, const std::string& group, int64_t channels,
                      int64_t code_width);

// code [M, S, code_width] -> logits [M, S, 784], every model its own decoder (grouped convolutions).
torch::Tensor conv_decoder_logits(const StackedParams& p, const std::string& prefix, const torch::Tensor& code);

// Multiply-adds of one sample's forward pass.
double conv_decoder_multiply_adds(int64_t channels, int64_t code_width);

}  // namespace genzoo
