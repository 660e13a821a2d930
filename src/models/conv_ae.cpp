// conv_ae: conv(1->c, 4, s2) -> conv(c->2c, 4, s2) -> fc(k) | fc -> convT(2c->c) -> convT(c->1) -> sigmoid.
// Model-batched as grouped convolutions: M models are M groups of one convolution, so a batch is a
// handful of kernels instead of a loop over models. This is the LibTorch path (GPU, --kernels torch,
// configurations without hand-written kernels); on CPU train/fast_conv_ae.cpp computes the same
// functions and is checked against this one.
#include "job/job.h"
#include "models/torch_family.h"
#include "data/image.h"
#include "models/conv_ae_cpu.h"
#include "models/conv_decoder.h"

namespace genzoo {

namespace {

class ConvAeTorch : public TorchFamily {
 public:
  torch::Tensor loss(const StackedParams& p, const torch::Tensor& x, const LossContext& ctx) const override {
    const FamilyConfig& config = *ctx.config;
    torch::Tensor input = ctx.training ? corrupt_inputs(x, config, *ctx.generators) : x;
    const auto code = encode(p, input);
    auto loss = (decode(p, code) - x).pow(2).mean({1, 2});
    if (ctx.training && config.regularizer == "sparse") loss = loss + config.reg_weight * code.abs().mean({1, 2});
    if (ctx.training && config.regularizer == "contractive") {
      // Hutchinson-style forward estimate: E_e ||f(x + s e) - f(x)||^2 / s^2 = ||J_f(x)||_F^2 + O(s).
      constexpr double kStep = 1e-2;
      std::vector<torch::Tensor> probes;
      for (int64_t m = 0; m < x.size(0); ++m) probes.push_back(torch::randn(x[m].sizes(), (*ctx.generators)[m]).to(x.device()));
      const auto shifted = encode(p, input + kStep * torch::stack(probes));
      loss = loss + config.reg_weight * (shifted - code).pow(2).sum(2).mean(1) / (kStep * kStep);
    }
    return loss;
  }

  bool has_encoder() const override { return true; }
  torch::Tensor codes(const StackedParams& p, const torch::Tensor& x) const override { return encode(p, x); }

  bool reconstructs() const override { return true; }
  torch::Tensor reconstruct(const StackedParams& p, const torch::Tensor& x, const FamilyConfig&) const override {
    return decode(p, encode(p, x));
  }

 private:
  static torch::Tensor encode(const StackedParams& p, const torch::Tensor& x) {
    const int64_t models = x.size(0), batch = x.size(1);
    auto h = x.permute({1, 0, 2}).reshape({batch, models, kImageSide, kImageSide});
    h = torch::relu(torch::conv2d(h, groups_of(p.at("encoder.conv1.weight")), p.at("encoder.conv1.bias").reshape(-1),
                                  2, 1, 1, models));
    h = torch::relu(torch::conv2d(h, groups_of(p.at("encoder.conv2.weight")), p.at("encoder.conv2.bias").reshape(-1),
                                  2, 1, 1, models));
    h = h.reshape({batch, models, -1}).permute({1, 0, 2});  // [M, B, 2c*49]
    return torch::baddbmm(p.at("encoder.fc.bias").unsqueeze(1), h, p.at("encoder.fc.weight").transpose(1, 2));
  }

  static torch::Tensor decode(const StackedParams& p, const torch::Tensor& code) {
    return torch::sigmoid(conv_decoder_logits(p, "decoder", code));
  }
};

class ConvAe : public Family {
 public:
  std::string name() const override { return "conv_ae"; }
  std::string description() const override {
    return "convolutional autoencoder: two stride-2 convs, k-dim code, two transposed convs, MSE";
  }
  Layout layout(const FamilyConfig& config) const override {
    const int64_t c = config.channels, k = config.latent, flat = 2 * c * kFeatureSide * kFeatureSide;
    Layout layout;
    add_param(layout, "encoder.conv1.weight", "encoder", {c, 1, kConvKernel, kConvKernel});
    add_param(layout, "encoder.conv1.bias", "encoder", {c});
    add_param(layout, "encoder.conv2.weight", "encoder", {2 * c, c, kConvKernel, kConvKernel});
    add_param(layout, "encoder.conv2.bias", "encoder", {2 * c});
    add_param(layout, "encoder.fc.weight", "encoder", {k, flat});
    add_param(layout, "encoder.fc.bias", "encoder", {k});
    add_conv_decoder(layout, "decoder", "decoder", c, k);
    return layout;
  }
  double flops_per_sample(const FamilyConfig& config) const override {
    const double c = static_cast<double>(config.channels), k = static_cast<double>(config.latent);
    const double taps = kConvKernel * kConvKernel;
    const double conv1 = 14 * 14 * c * taps, conv2 = 7 * 7 * 2 * c * c * taps, fc = 2 * c * 49 * k;
    return 3.0 * 2.0 * 2.0 * (conv1 + conv2 + fc);  // encoder and decoder mirror each other
  }
  const TorchFamily& torch_impl() const override { return impl_; }
  std::unique_ptr<FastStep> cpu_step(const FamilyConfig& config) const override { return make_conv_ae_step(config); }

 private:
  ConvAeTorch impl_;
};

GENZOO_REGISTER_FAMILY(ConvAe);

}  // namespace

}  // namespace genzoo
