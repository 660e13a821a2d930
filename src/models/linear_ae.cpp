// linear_ae: x -> W1 x + b1 (code, k) -> W2 z + b2. Linear AE ~ PCA (seed 000): its singular values
// carry the data's information. Regularizers: sparse (L1 on the code), denoising, contractive
// (the encoder is linear, so its Jacobian is W1 and the penalty is exactly lambda * ||W1||_F^2).
#include "models/linear_ae.h"

#include "job/job.h"
#include "models/torch_family.h"
#include "models/linear_ae_cpu.h"

namespace genzoo {

namespace {

class LinearAeTorch : public TorchFamily {
 public:
  torch::Tensor loss(const StackedParams& p, const torch::Tensor& x, const LossContext& ctx) const override {
    const FamilyConfig& config = *ctx.config;
    torch::Tensor input = x;
    if (ctx.training) input = corrupt_inputs(x, config, *ctx.generators);
    const auto code = encode(p, input);
    const auto recon = decode(p, code);
    auto loss = (recon - x).pow(2).mean({1, 2});
    if (ctx.training && config.regularizer == "sparse") loss = loss + config.reg_weight * code.abs().mean({1, 2});
    if (ctx.training && config.regularizer == "contractive") {
      loss = loss + config.reg_weight * p.at("encoder.weight").pow(2).sum({1, 2});
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
    // [M,B,D] x [M,D,k] -> [M,B,k]
    return torch::baddbmm(p.at("encoder.bias").unsqueeze(1), x, p.at("encoder.weight").transpose(1, 2));
  }
  static torch::Tensor decode(const StackedParams& p, const torch::Tensor& code) {
    return torch::baddbmm(p.at("decoder.bias").unsqueeze(1), code, p.at("decoder.weight").transpose(1, 2));
  }
};

class LinearAe : public Family {
 public:
  std::string name() const override { return "linear_ae"; }
  std::string description() const override { return "linear autoencoder 784-k-784 (d-k-d on the gaussian source) with biases, MSE"; }
  Layout layout(const FamilyConfig& config) const override { return linear_ae_layout(config.latent, config.input_dim); }
  double flops_per_sample(const FamilyConfig& config) const override {
    // forward + two backward GEMMs for each of the two layers, 2 FLOPs per multiply-add
    return 3.0 * 2.0 * 2.0 * static_cast<double>(config.input_dim * config.latent);
  }
  const TorchFamily& torch_impl() const override { return impl_; }
  std::unique_ptr<FastStep> cpu_step(const FamilyConfig& config) const override { return make_linear_ae_step(config); }

 private:
  LinearAeTorch impl_;
};

GENZOO_REGISTER_FAMILY(LinearAe);

}  // namespace

Layout linear_ae_layout(int64_t latent, int64_t input) {
  Layout layout;
  add_param(layout, "encoder.weight", "encoder", {latent, input});
  add_param(layout, "encoder.bias", "encoder", {latent});
  add_param(layout, "decoder.weight", "decoder", {input, latent});
  add_param(layout, "decoder.bias", "decoder", {input});
  return layout;
}

}  // namespace genzoo
