// vae: Gaussian encoder q(z|x) = N(mu(x), diag sigma^2(x)), reparametrized z = mu + sigma * eps, and a
// Bernoulli (or unit-variance Gaussian) decoder p(x|z); trained on -ELBO with weight beta on the KL
// term (seed 003). MLP encoder, batched over models with baddbmm. The decoder (decoder = "mlp") has
// decoder_layers hidden layers (decoder.fc, then decoder.fc2 when 2), each `hidden` wide with ReLU, or
// (decoder = "conv") is conv_ae's convolutional decoder (models/conv_decoder.h) with `channels` channels.
#include <cmath>

#include "job/job.h"
#include "models/torch_family.h"
#include "data/image.h"
#include "models/conv_decoder.h"
#include "models/latent_density.h"
#include "models/vae_cpu.h"

namespace genzoo {

namespace {


torch::Tensor linear(const StackedParams& p, const std::string& name, const torch::Tensor& x) {
  return torch::baddbmm(p.at(name + ".bias").unsqueeze(1), x, p.at(name + ".weight").transpose(1, 2));
}

struct Posterior {
  torch::Tensor mu, logvar;
};

Posterior encode(const StackedParams& p, const torch::Tensor& x) {
  const auto h = torch::relu(linear(p, "encoder.fc", x));
  return {linear(p, "encoder.mu", h), linear(p, "encoder.logvar", h).clamp(-20.0, 20.0)};
}

// The decoder follows the parameters (decoder.convt1 present: decoder = "conv"; decoder.fc2 present:
// decoder_layers = 2), so every caller (training, evaluation, generation, reduce's probes) decodes with the
// layout it was given.
torch::Tensor decode_logits(const StackedParams& p, const torch::Tensor& z) {
  if (p.count("decoder.convt1.weight")) return conv_decoder_logits(p, "decoder", z);
  auto h = torch::relu(linear(p, "decoder.fc", z));
  if (p.count("decoder.fc2.weight")) h = torch::relu(linear(p, "decoder.fc2", h));
  return linear(p, "decoder.out", h);
}

// -log p(x|z) summed over pixels, without the constant ½ log 2π per pixel: [M, B]. gaussian_learned:
// Σ_p ½ [(x_p − μ_p)² e^{−v_p} + v_p], μ = sigmoid(logits), v = decoder.out.logvar (per pixel).
torch::Tensor negative_log_likelihood(const StackedParams& p, const torch::Tensor& logits, const torch::Tensor& x,
                                      const FamilyConfig& config) {
  if (config.likelihood == "gaussian") return 0.5 * (torch::sigmoid(logits) - x).pow(2).sum(2);
  if (config.likelihood == "gaussian_learned") {
    const auto logvar = p.at("decoder.out.logvar").unsqueeze(1);
    return 0.5 * ((torch::sigmoid(logits) - x).pow(2) * torch::exp(-logvar) + logvar).sum(2);
  }
  return torch::binary_cross_entropy_with_logits(logits, x, {}, {}, at::Reduction::None).sum(2);
}

// KL(q(z|x) || N(0, I)) per sample: [M, B].
torch::Tensor kl_divergence(const Posterior& q) {
  return 0.5 * (q.mu.pow(2) + q.logvar.exp() - 1.0 - q.logvar).sum(2);
}

class VaeTorch : public TorchFamily {
 public:
  torch::Tensor loss(const StackedParams& p, const torch::Tensor& x, const LossContext& ctx) const override {
    const Posterior q = encode(p, x);
    std::vector<torch::Tensor> noise;
    noise.reserve(x.size(0));
    for (int64_t m = 0; m < x.size(0); ++m) {
      noise.push_back(torch::randn(q.mu[m].sizes(), (*ctx.generators)[m]).to(x.device()));
    }
    const auto z = q.mu + torch::exp(0.5 * q.logvar) * torch::stack(noise);
    const auto nll = negative_log_likelihood(p, decode_logits(p, z), x, *ctx.config);
    return (nll + ctx.config->beta * kl_divergence(q)).mean(1);
  }

  bool has_encoder() const override { return true; }
  torch::Tensor codes(const StackedParams& p, const torch::Tensor& x) const override { return encode(p, x).mu; }

  bool reconstructs() const override { return true; }
  torch::Tensor reconstruct(const StackedParams& p, const torch::Tensor& x, const FamilyConfig&) const override {
    return torch::sigmoid(decode_logits(p, encode(p, x).mu));
  }

  // The ELBO (beta = 1, in nats) at the posterior mean: a deterministic, single-sample estimate.
  std::map<std::string, torch::Tensor> evaluation_terms(const StackedParams& p, const torch::Tensor& x, const torch::Tensor&,
                                                        const FamilyConfig& config) const override {
    const Posterior q = encode(p, x);
    return {{"elbo", -(negative_log_likelihood(p, decode_logits(p, q.mu), x, config) + kl_divergence(q))}};
  }

  bool generative() const override { return true; }
  int64_t code_width(const FamilyConfig& config) const override {
    return config.latent + (config.latent_density == "mixture" ? 1 : 0);
  }
  // z [M, S, k] decodes as it is (standard density); with a mixture, e = z[..., :k] and the component
  // c = the first whose cumulative weight exceeds Phi(z[..., k]) give the code means[c] + scale_tril[c] e.
  torch::Tensor generate(const StackedParams& p, const torch::Tensor& z, const torch::Tensor&,
                         const FamilyConfig& config) const override {
    if (!p.count("latent_density.means")) return torch::sigmoid(decode_logits(p, z));
    const int64_t models = z.size(0), count = z.size(1), k = config.latent;
    const auto means = p.at("latent_density.means");                    // [M, K, k]
    const auto scale = torch::tril(p.at("latent_density.scale_tril"));  // [M, K, k, k]
    const int64_t components = means.size(1);
    const auto e = z.narrow(2, 0, k);
    const auto u = 0.5 * torch::erfc(-z.select(2, k) / std::sqrt(2.0));  // Phi: uniform on (0, 1)
    const auto cumulative = torch::softmax(p.at("latent_density.logits"), 1).cumsum(1);  // [M, K]
    const auto component = (u.unsqueeze(2) > cumulative.unsqueeze(1)).sum(2).clamp_max(components - 1);  // [M, S]
    const auto mean = means.gather(1, component.unsqueeze(2).expand({models, count, k}));
    const auto factor = scale.gather(1, component.view({models, count, 1, 1}).expand({models, count, k, k}));
    const auto codes = mean + torch::matmul(factor, e.unsqueeze(3)).squeeze(3);
    return torch::sigmoid(decode_logits(p, codes));
  }

  // latent_density = "mixture": the mixture fitted to the posterior means of the model's training images.
  bool fits_after_training(const FamilyConfig& config) const override { return config.latent_density == "mixture"; }
  void fit_after_training(float* weights, float* checkpoints, int64_t checkpoint_count, const Layout& layout,
                          const torch::Tensor& x, uint64_t seed, const FamilyConfig& config) const override {
    torch::NoGradGuard no_grad;
    const int64_t params = layout_size(layout);
    const auto flat = torch::from_blob(weights, {1, params});
    const auto mu = encode(view_params(flat, layout), x).mu[0].to(torch::kDouble).contiguous();  // [n, k]
    const int64_t n = mu.size(0), k = mu.size(1);
    const std::vector<double> points(mu.data_ptr<double>(), mu.data_ptr<double>() + n * k);
    const GaussianMixture fitted = fit_gaussian_mixture(points, n, k, config.latent_components, seed, config.latent_shrinkage);
    write_latent_density(fitted, layout, weights);
    // Checkpoints carry the fitted density too: it is not trained, and a trajectory should not jump at its end.
    for (int64_t t = 0; t < checkpoint_count; ++t) write_latent_density(fitted, layout, checkpoints + t * params);
  }
};

class Vae : public Family {
 public:
  std::string name() const override { return "vae"; }
  std::string description() const override {
    return "variational autoencoder: MLP encoder (mu, log sigma^2), reparametrization, MLP decoder (1 or 2 hidden layers) "
           "or convolutional decoder, -ELBO";
  }
  Layout layout(const FamilyConfig& config) const override {
    const int64_t h = config.hidden, k = config.latent;
    Layout layout;
    add_param(layout, "encoder.fc.weight", "encoder", {h, kImagePixels});
    add_param(layout, "encoder.fc.bias", "encoder", {h});
    add_param(layout, "encoder.mu.weight", "encoder", {k, h});
    add_param(layout, "encoder.mu.bias", "encoder", {k});
    add_param(layout, "encoder.logvar.weight", "encoder", {k, h});
    add_param(layout, "encoder.logvar.bias", "encoder", {k});
    if (config.decoder == "conv") {
      add_conv_decoder(layout, "decoder", "decoder", config.channels, k);
    } else {
      add_param(layout, "decoder.fc.weight", "decoder", {h, k});
      add_param(layout, "decoder.fc.bias", "decoder", {h});
      // decoder_layers = 2: the second hidden layer between fc and out (absent for 1: today's layout).
      if (config.decoder_layers == 2) {
        add_param(layout, "decoder.fc2.weight", "decoder", {h, h});
        add_param(layout, "decoder.fc2.bias", "decoder", {h});
      }
      add_param(layout, "decoder.out.weight", "decoder", {kImagePixels, h});
      add_param(layout, "decoder.out.bias", "decoder", {kImagePixels});
    }
    if (config.likelihood == "gaussian_learned") add_param(layout, "decoder.out.logvar", "decoder", {kImagePixels});
    // After every trained tensor, so the training paths' offsets are those of the standard layout.
    if (config.latent_density == "mixture") add_latent_density(layout, config.latent_components, k);
    return layout;
  }
  double flops_per_sample(const FamilyConfig& config) const override {
    const double h = static_cast<double>(config.hidden), k = static_cast<double>(config.latent);
    // Multiply-adds of the layers (784 x h twice, h x k three times, h x h for a second decoder
    // layer): forward and weight gradients of all, input gradients of all but the first (the images
    // need none).
    // A conv decoder's multiply-adds replace the MLP decoder's layers (h x k, h x 784, and h x h when deeper).
    const double encoder = kImagePixels * h + 2.0 * h * k;
    const double decoder = config.decoder == "conv" ? conv_decoder_multiply_adds(config.channels, config.latent)
                                                    : kImagePixels * h + h * k + (config.decoder_layers == 2 ? h * h : 0.0);
    const double layers = encoder + decoder;
    return 2.0 * (2.0 * layers + (layers - kImagePixels * h));
  }
  const TorchFamily& torch_impl() const override { return impl_; }
  std::unique_ptr<FastStep> cpu_step(const FamilyConfig& config) const override { return make_vae_step(config); }

 private:
  VaeTorch impl_;
};

GENZOO_REGISTER_FAMILY(Vae);

}  // namespace

}  // namespace genzoo
