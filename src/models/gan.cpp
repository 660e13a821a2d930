// gan: DCGAN-style generator and discriminator for 28x28 images (seed 001), model-batched as grouped
// convolutions. D maximizes log D(x) + log(1 - D(G(z))); G minimizes the non-saturating -log D(G(z));
// k discriminator steps per generator step (the trainer's adversarial loop). Optionally
// class-conditional: the one-hot class is concatenated to z and to D's features. Optionally
// (d_minibatch = "stddev") D also sees its batch's spread as one more feature (minibatch_stddev), and
// (d_augment) D's inputs are augmented (gan_augment.h).
#include "job/job.h"
#include "models/torch_family.h"
#include "data/image.h"
#include "models/gan_augment.h"
#include "models/conv_decoder.h"
#include "models/gan_cpu.h"
#include "models/spectral_norm.h"

#include <cmath>

namespace genzoo {

namespace {

constexpr double kLeakySlope = 0.2;
constexpr double kStddevEpsilon = 1e-8;  // minibatch standard deviation: sqrt(variance + this)

int64_t label_width(const FamilyConfig& config) { return config.condition == "label" ? config.num_classes : 0; }

torch::Tensor with_labels(const torch::Tensor& features, const torch::Tensor& labels) {
  return labels.defined() && labels.numel() > 0 ? torch::cat({features, labels}, 2) : features;
}

// z [M, S, k] (+ labels [M, S, K]) -> images [M, S, 784] in (0, 1).
torch::Tensor generator(const StackedParams& p, const torch::Tensor& z, const torch::Tensor& labels) {
  return torch::sigmoid(conv_decoder_logits(p, "generator", with_labels(z, labels)));
}

// W / σ(W) of every model's w [M, rows, ...] (spectral_norm.h): the power iteration from spectral_start
// without gradient, then σ = uᵀ W v with it.
torch::Tensor spectral_normalized(const torch::Tensor& w) {
  const int64_t models = w.size(0);
  const auto matrix = w.reshape({models, w.size(1), -1});
  const int64_t cols = matrix.size(2);
  torch::Tensor u, v;
  {
    torch::NoGradGuard no_grad;
    const auto unit = torch::nn::functional::NormalizeFuncOptions().dim(1);
    std::vector<float> start = spectral_start(cols);
    v = torch::from_blob(start.data(), {1, cols, 1}).to(w.options()).expand({models, cols, 1});
    for (int it = 0; it < kSpectralIterations; ++it) {
      u = torch::nn::functional::normalize(torch::bmm(matrix, v), unit);
      v = torch::nn::functional::normalize(torch::bmm(matrix.transpose(1, 2), u), unit);
    }
  }
  const auto sigma = (u * torch::bmm(matrix, v)).sum({1, 2});
  std::vector<int64_t> shape(w.dim(), 1);
  shape[0] = models;
  return w / sigma.view(shape);
}

// The parameters D computes with: p itself, or (d_norm = "spectral") p with D's three weight matrices
// divided by their σ. Built once per loss, so D's real and fake passes share one power iteration.
StackedParams discriminator_params(const StackedParams& p, const FamilyConfig& config) {
  if (config.d_norm != "spectral") return p;
  StackedParams out = p;
  for (const char* name : {"discriminator.conv1.weight", "discriminator.conv2.weight", "discriminator.fc.weight"}) {
    out[name] = spectral_normalized(p.at(name));
  }
  return out;
}

// Minibatch standard deviation (Karras et al. 2018) of D's flattened features f [M, B, F], per model
// over the B images D scores in one call (the real batch or the fake batch):
//   s = (1/F) sum_j sqrt( (1/B) sum_i (f_ij - mean_j)^2 + eps ),  mean_j = (1/B) sum_i f_ij,  eps = 1e-8
// (population variance), appended to every image's features: [M, B, F + 1]. Autograd carries the
// gradient of s back into every image's features.
torch::Tensor with_minibatch_stddev(const torch::Tensor& f) {
  const auto centered = f - f.mean(1, /*keepdim=*/true);
  const auto s = (centered.square().mean(1, /*keepdim=*/true) + kStddevEpsilon).sqrt().mean(2, /*keepdim=*/true);
  return torch::cat({f, s.expand({f.size(0), f.size(1), 1})}, 2);
}

// images [M, B, 784] (+ labels) -> logits [M, B], with D's parameters from discriminator_params. D's last
// layer reads its features, then (d_minibatch = "stddev") the batch's stddev feature, then the labels:
// the columns of discriminator.fc.weight in the order of Gan::layout.
torch::Tensor discriminator(const StackedParams& p, const torch::Tensor& x, const torch::Tensor& labels,
                            const FamilyConfig& config) {
  const int64_t models = x.size(0), batch = x.size(1);
  auto h = x.permute({1, 0, 2}).reshape({batch, models, kImageSide, kImageSide});
  h = torch::leaky_relu(torch::conv2d(h, groups_of(p.at("discriminator.conv1.weight")),
                                      p.at("discriminator.conv1.bias").reshape(-1), 2, 1, 1, models), kLeakySlope);
  h = torch::leaky_relu(torch::conv2d(h, groups_of(p.at("discriminator.conv2.weight")),
                                      p.at("discriminator.conv2.bias").reshape(-1), 2, 1, 1, models), kLeakySlope);
  h = h.reshape({batch, models, -1}).permute({1, 0, 2});
  if (config.d_minibatch == "stddev") h = with_minibatch_stddev(h);
  return torch::baddbmm(p.at("discriminator.fc.bias").unsqueeze(1), with_labels(h, labels),
                        p.at("discriminator.fc.weight").transpose(1, 2))
      .squeeze(2);
}

// -log sigmoid(logit) for target 1, -log(1 - sigmoid(logit)) for target 0: [M, B].
torch::Tensor bce(const torch::Tensor& logits, double target) {
  return torch::binary_cross_entropy_with_logits(logits, torch::full_like(logits, target), {}, {},
                                                 at::Reduction::None);
}

class GanTorch : public TorchFamily {
 public:
  // Not used for training (the adversarial loop calls discriminator_loss and generator_loss).
  torch::Tensor loss(const StackedParams& p, const torch::Tensor& x, const LossContext& ctx) const override {
    return reconstruction_error(p, x, *ctx.config).mean(1);
  }
  // -log D(x): how real D finds real images. Evaluation has no labels at hand, so a class-conditional
  // D sees the uninformative label 1/K for every class.
  torch::Tensor reconstruction_error(const StackedParams& p, const torch::Tensor& x, const FamilyConfig& config) const override {
    torch::Tensor labels;
    if (label_width(config) > 0) {
      labels = torch::full({x.size(0), x.size(1), label_width(config)}, 1.0 / static_cast<double>(label_width(config)),
                           x.options());
    }
    // With d_minibatch = "stddev", D's verdict on an image also depends on the spread of x's batch.
    return bce(discriminator(discriminator_params(p, config), x, labels, config), 1.0);
  }
  bool generative() const override { return true; }
  torch::Tensor generate(const StackedParams& p, const torch::Tensor& z, const torch::Tensor& labels,
                         const FamilyConfig&) const override {
    return generator(p, z, labels);
  }
  bool adversarial() const override { return true; }
  torch::Tensor discriminator_augmentation(int64_t batch, torch::Generator& generator,
                                          const FamilyConfig& config) const override {
    const AugmentPolicy policy = augment_policy(config.d_augment);
    return policy.any() ? draw_augmentation(policy, batch, generator) : torch::Tensor();
  }
  torch::Tensor discriminator_loss(const StackedParams& p, const torch::Tensor& x, const torch::Tensor& real_labels,
                                   const torch::Tensor& z, const torch::Tensor& fake_labels,
                                   const torch::Tensor& real_augment, const torch::Tensor& fake_augment,
                                   const FamilyConfig& config) const override {
    const auto fake = generator(p, z, fake_labels).detach();
    const StackedParams d = discriminator_params(p, config);
    return (bce(discriminator(d, augmented(x, real_augment), real_labels, config), 1.0 - config.label_smoothing) +
            bce(discriminator(d, augmented(fake, fake_augment), fake_labels, config), 0.0))
        .mean(1);
  }
  torch::Tensor generator_loss(const StackedParams& p, const torch::Tensor& z, const torch::Tensor& fake_labels,
                               const torch::Tensor& fake_augment, const FamilyConfig& config) const override {
    const auto fake = augmented(generator(p, z, fake_labels), fake_augment);
    return bce(discriminator(discriminator_params(p, config), fake, fake_labels, config), 1.0).mean(1);
  }
};

class Gan : public Family {
 public:
  std::string name() const override { return "gan"; }
  std::string description() const override {
    return "DCGAN-style generator and discriminator (grouped convolutions), non-saturating loss, k D-steps per G-step";
  }
  Layout layout(const FamilyConfig& config) const override {
    const int64_t c = config.channels, cd = config.discriminator_channels(), k = config.latent;
    const int64_t labels = label_width(config), d_flat = 2 * cd * kFeatureSide * kFeatureSide;
    const int64_t stddev = config.d_minibatch == "stddev" ? 1 : 0;  // the minibatch stddev feature's column
    Layout layout;  // every generator parameter first: the adversarial loop updates G and D as two ranges
    add_conv_decoder(layout, "generator", "generator", c, k + labels);
    add_param(layout, "discriminator.conv1.weight", "discriminator", {cd, 1, kConvKernel, kConvKernel});
    add_param(layout, "discriminator.conv1.bias", "discriminator", {cd});
    add_param(layout, "discriminator.conv2.weight", "discriminator", {2 * cd, cd, kConvKernel, kConvKernel});
    add_param(layout, "discriminator.conv2.bias", "discriminator", {2 * cd});
    // Columns: D's flattened features, the minibatch stddev feature (d_minibatch = "stddev"), the labels.
    add_param(layout, "discriminator.fc.weight", "discriminator", {1, d_flat + stddev + labels});
    add_param(layout, "discriminator.fc.bias", "discriminator", {1});
    return layout;
  }
  double flops_per_sample(const FamilyConfig& config) const override {
    const double c = static_cast<double>(config.channels), k = static_cast<double>(config.latent);
    const double cd = static_cast<double>(config.discriminator_channels());
    const double taps = kConvKernel * kConvKernel;
    const auto convs = [&](double channels) { return 14 * 14 * channels * taps + 7 * 7 * 2 * channels * channels * taps; };
    const double generator_flops = convs(c) + 2 * c * 49 * k, discriminator_flops = convs(cd) + 2 * cd * 49;
    // Per generator step, in passes of a network (forward, weight gradient and input gradient cost
    // one pass each; the input gradients of D's images in the D step and of G's codes are not
    // needed but counted: under 2 % at c = 8): d_steps x (D forward and backward on real and on
    // fake: 6 D, G forward for the fakes: 1 G), then the G step (G forward and backward: 3 G; D
    // forward and input gradient: 2 D).
    const double d_steps = static_cast<double>(config.d_steps);
    return 2.0 * (d_steps * (6 * discriminator_flops + generator_flops) + 3 * generator_flops + 2 * discriminator_flops);
  }
  const TorchFamily& torch_impl() const override { return impl_; }
  std::unique_ptr<FastStep> cpu_step(const FamilyConfig& config) const override { return make_gan_step(config); }

 private:
  GanTorch impl_;
};

GENZOO_REGISTER_FAMILY(Gan);

}  // namespace

}  // namespace genzoo
