#include "models/conv_decoder.h"

#include <vector>

#include "data/image.h"

namespace genzoo {

torch::Tensor groups_of(const torch::Tensor& w) {
  std::vector<int64_t> shape{w.size(0) * w.size(1)};
  for (int64_t d = 2; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape);
}

void add_conv_decoder(Layout& layout, const std::string& prefix, const std::string& group, int64_t channels,
                      int64_t code_width) {
  const int64_t c = channels, flat = 2 * c * kFeatureSide * kFeatureSide;
  add_param(layout, prefix + ".fc.weight", group, {flat, code_width});
  add_param(layout, prefix + ".fc.bias", group, {flat});
  add_param(layout, prefix + ".convt1.weight", group, {2 * c, c, kConvKernel, kConvKernel});
  add_param(layout, prefix + ".convt1.bias", group, {c});
  add_param(layout, prefix + ".convt2.weight", group, {c, 1, kConvKernel, kConvKernel});
  add_param(layout, prefix + ".convt2.bias", group, {1});
}

torch::Tensor conv_decoder_logits(const StackedParams& p, const std::string& prefix, const torch::Tensor& code) {
  const int64_t models = code.size(0), batch = code.size(1);
  auto h = torch::relu(torch::baddbmm(p.at(prefix + ".fc.bias").unsqueeze(1), code,
                                      p.at(prefix + ".fc.weight").transpose(1, 2)));
  h = h.permute({1, 0, 2}).reshape({batch, -1, kFeatureSide, kFeatureSide});  // [B, M*2c, 7, 7]
  h = torch::relu(torch::conv_transpose2d(h, groups_of(p.at(prefix + ".convt1.weight")),
                                          p.at(prefix + ".convt1.bias").reshape(-1), 2, 1, 0, models));
  h = torch::conv_transpose2d(h, groups_of(p.at(prefix + ".convt2.weight")), p.at(prefix + ".convt2.bias").reshape(-1), 2,
                              1, 0, models);
  return h.reshape({batch, models, kImagePixels}).permute({1, 0, 2});
}

double conv_decoder_multiply_adds(int64_t channels, int64_t code_width) {
  const double c = static_cast<double>(channels), taps = kConvKernel * kConvKernel;
  const double side = kFeatureSide;
  return 2 * c * side * side * static_cast<double>(code_width)  // fc
         + (2 * side) * (2 * side) * c * 2 * c * taps / 4  // convT1: each output pixel gets 4 of 16 taps per input channel
         + (4 * side) * (4 * side) * c * taps / 4;
}

}  // namespace genzoo
