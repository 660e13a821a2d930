// Tests for src/models/vae.cpp (and the trainer's path for it): the layout, the -ELBO training loss
// and the evaluation ELBO against hand computations in double on tiny models with the noise fixed by
// seeded generators (one and two decoder hidden layers), generated images, batch independence of
// training, and ELBO improving with training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "helpers.h"
#include "job/job.h"
#include "models/conv_decoder.h"
#include "models/family.h"
#include "models/latent_density.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/trainer.h"

namespace genzoo::test {
namespace {

constexpr int64_t kPixels = 784;

FamilyConfig tiny_vae(int64_t hidden, int64_t latent, double beta, const std::string& likelihood = "bernoulli",
                      int64_t decoder_layers = 1) {
  FamilyConfig config;
  config.name = "vae";
  config.hidden = hidden;
  config.latent = latent;
  config.beta = beta;
  config.likelihood = likelihood;
  config.decoder_layers = decoder_layers;
  return config;
}

// One model's parameters in double, read from a row of the flat [M, P] tensor via the layout.
struct VaeWeights {
  int64_t h = 0, k = 0;
  std::vector<double> fc_w, fc_b, mu_w, mu_b, lv_w, lv_b, dfc_w, dfc_b, out_w, out_b;
  std::vector<double> dfc2_w, dfc2_b;  // decoder_layers = 2 only
  std::vector<double> out_logvar;      // gaussian_learned only
};

VaeWeights weights_of(const torch::Tensor& flat, int64_t model, const Layout& layout, const FamilyConfig& config) {
  const auto row = flat[model].to(torch::kDouble).contiguous();
  const double* data = row.data_ptr<double>();
  const auto take = [&](const std::string& name) {
    const ParamLayout& p = find_param(layout, name);
    return std::vector<double>(data + p.offset, data + p.offset + p.numel());
  };
  VaeWeights w;
  w.h = config.hidden;
  w.k = config.latent;
  w.fc_w = take("encoder.fc.weight");
  w.fc_b = take("encoder.fc.bias");
  w.mu_w = take("encoder.mu.weight");
  w.mu_b = take("encoder.mu.bias");
  w.lv_w = take("encoder.logvar.weight");
  w.lv_b = take("encoder.logvar.bias");
  w.dfc_w = take("decoder.fc.weight");
  w.dfc_b = take("decoder.fc.bias");
  if (config.decoder_layers == 2) {
    w.dfc2_w = take("decoder.fc2.weight");
    w.dfc2_b = take("decoder.fc2.bias");
  }
  w.out_w = take("decoder.out.weight");
  w.out_b = take("decoder.out.bias");
  if (config.likelihood == "gaussian_learned") w.out_logvar = take("decoder.out.logvar");
  return w;
}

// y = W x + b for W [out, in] row-major.
std::vector<double> affine(const std::vector<double>& w, const std::vector<double>& b, const std::vector<double>& x,
                           bool relu) {
  const size_t out = b.size(), in = x.size();
  std::vector<double> y(out);
  for (size_t o = 0; o < out; ++o) {
    double s = b[o];
    for (size_t i = 0; i < in; ++i) s += w[o * in + i] * x[i];
    y[o] = relu ? std::max(0.0, s) : s;
  }
  return y;
}

// The decoder's logits for code z: ReLU hidden layer(s), then the linear output layer.
std::vector<double> decoder_logits(const VaeWeights& w, const std::vector<double>& z) {
  std::vector<double> hidden = affine(w.dfc_w, w.dfc_b, z, true);
  if (!w.dfc2_w.empty()) hidden = affine(w.dfc2_w, w.dfc2_b, hidden, true);
  return affine(w.out_w, w.out_b, hidden, false);
}

struct HandTerms {
  double nll = 0.0;  // -log p(x|z), summed over pixels
  double kl = 0.0;   // KL(q(z|x) || N(0, I))
};

// The ELBO's terms for one image with z = mu + sigma * eps (eps empty: z = mu), computed from the
// textbook formulas: BCE with logits l is max(l, 0) - l x + log(1 + exp(-|l|)).
HandTerms hand_terms(const VaeWeights& w, const float* x_float, const std::vector<double>& eps,
                     const std::string& likelihood) {
  const std::vector<double> x(x_float, x_float + kPixels);
  const auto hidden = affine(w.fc_w, w.fc_b, x, true);
  const auto mu = affine(w.mu_w, w.mu_b, hidden, false);
  const auto logvar = affine(w.lv_w, w.lv_b, hidden, false);
  std::vector<double> z(w.k);
  HandTerms t;
  for (int64_t j = 0; j < w.k; ++j) {
    z[j] = mu[j] + (eps.empty() ? 0.0 : std::exp(0.5 * logvar[j]) * eps[j]);
    t.kl += 0.5 * (mu[j] * mu[j] + std::exp(logvar[j]) - 1.0 - logvar[j]);
  }
  const auto logits = decoder_logits(w, z);
  for (int64_t i = 0; i < kPixels; ++i) {
    const double l = logits[i];
    if (likelihood == "gaussian") {
      const double r = 1.0 / (1.0 + std::exp(-l)) - x[i];
      t.nll += 0.5 * r * r;
    } else if (likelihood == "gaussian_learned") {  // N(x | sigmoid(l), e^v) without ½ log 2π
      const double r = 1.0 / (1.0 + std::exp(-l)) - x[i], v = w.out_logvar[i];
      t.nll += 0.5 * (r * r * std::exp(-v) + v);
    } else {
      t.nll += std::max(l, 0.0) - l * x[i] + std::log1p(std::exp(-std::fabs(l)));
    }
  }
  return t;
}

// M models with their own PyTorch-style inits, and inputs [M, B, 784] in [0, 1].
struct Tiny {
  FamilyConfig config;
  Layout layout;
  torch::Tensor flat, x;
};

Tiny make_tiny(const FamilyConfig& config, int64_t models, int64_t batch) {
  Tiny t;
  t.config = config;
  t.layout = find_family("vae").layout(config);
  t.flat = torch::empty({models, layout_size(t.layout)});
  for (int64_t m = 0; m < models; ++m) init_flat_params(t.flat[m].data_ptr<float>(), t.layout, 100 + m);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(9);
  t.x = torch::rand({models, batch, kPixels}, generator);
  return t;
}

std::vector<torch::Generator> generators_with(const std::vector<uint64_t>& seeds) {
  std::vector<torch::Generator> out;
  for (uint64_t s : seeds) out.push_back(at::make_generator<at::CPUGeneratorImpl>(s));
  return out;
}

TEST(Vae, LayoutHasEncoderThenDecoderWithTheConfiguredWidths) {
  const FamilyConfig config = tiny_vae(16, 4, 1.0);
  const Layout layout = find_family("vae").layout(config);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"encoder.fc.weight", {16, 784}}, {"encoder.fc.bias", {16}},       {"encoder.mu.weight", {4, 16}},
      {"encoder.mu.bias", {4}},         {"encoder.logvar.weight", {4, 16}}, {"encoder.logvar.bias", {4}},
      {"decoder.fc.weight", {16, 4}},   {"decoder.fc.bias", {16}},        {"decoder.out.weight", {784, 16}},
      {"decoder.out.bias", {784}}};
  ASSERT_EQ(layout.size(), expected.size());
  int64_t offset = 0;
  for (size_t i = 0; i < layout.size(); ++i) {
    EXPECT_EQ(layout[i].name, expected[i].first);
    EXPECT_EQ(layout[i].shape, expected[i].second) << layout[i].name;
    EXPECT_EQ(layout[i].role, i < 6 ? "encoder" : "decoder") << layout[i].name;
    EXPECT_EQ(layout[i].offset, offset) << layout[i].name;
    offset += layout[i].numel();
  }
  EXPECT_EQ(layout_size(layout), 16 * 784 + 16 + 2 * (4 * 16 + 4) + 16 * 4 + 16 + 784 * 16 + 784);
  const TorchFamily& impl = find_family("vae").torch_impl();
  EXPECT_TRUE(impl.generative());
  EXPECT_FALSE(impl.adversarial());
}

// gaussian_learned adds one parameter per pixel, the decoder's log variance, at the layout's end (the
// decoder's role), initialized like a bias of the output layer.
TEST(Vae, LearnedVarianceLikelihoodAddsAPerPixelLogVariance) {
  const Layout plain = find_family("vae").layout(tiny_vae(16, 4, 1.0, "gaussian"));
  const Layout learned = find_family("vae").layout(tiny_vae(16, 4, 1.0, "gaussian_learned"));
  ASSERT_EQ(learned.size(), plain.size() + 1);
  EXPECT_EQ(learned.back().name, "decoder.out.logvar");
  EXPECT_EQ(learned.back().shape, (std::vector<int64_t>{784}));
  EXPECT_EQ(learned.back().role, "decoder");
  EXPECT_EQ(layout_size(learned), layout_size(plain) + 784);
}

// decoder_layers = 2 inserts decoder.fc2 [hidden, hidden] and its bias between decoder.fc and
// decoder.out (so the learned variance stays last); decoder_layers = 1, the default, is the layout above,
// which existing zoo files carry.
TEST(Vae, DeeperDecoderAddsASecondHiddenLayerBetweenFcAndOut) {
  EXPECT_EQ(FamilyConfig{}.decoder_layers, 1);
  const Family& vae = find_family("vae");
  for (const std::string likelihood : {"bernoulli", "gaussian_learned"}) {
    SCOPED_TRACE(likelihood);
    const Layout one = vae.layout(tiny_vae(16, 4, 1.0, likelihood, 1));
    const Layout two = vae.layout(tiny_vae(16, 4, 1.0, likelihood, 2));
    for (const ParamLayout& p : one) EXPECT_EQ(p.name.rfind("decoder.fc2", 0), std::string::npos) << p.name;
    ASSERT_EQ(two.size(), one.size() + 2);
    std::vector<std::string> expected_names;
    for (const ParamLayout& p : one) {
      expected_names.push_back(p.name);
      if (p.name == "decoder.fc.bias") expected_names.insert(expected_names.end(), {"decoder.fc2.weight", "decoder.fc2.bias"});
    }
    int64_t offset = 0;
    for (size_t i = 0; i < two.size(); ++i) {
      EXPECT_EQ(two[i].name, expected_names[i]);
      EXPECT_EQ(two[i].offset, offset) << two[i].name;
      offset += two[i].numel();
      // Every other tensor keeps its shape and role.
      for (const ParamLayout& p : one) {
        if (p.name == two[i].name) { EXPECT_TRUE(p.shape == two[i].shape && p.role == two[i].role) << p.name; }
      }
    }
    EXPECT_EQ(find_param(two, "decoder.fc2.weight").shape, (std::vector<int64_t>{16, 16}));
    EXPECT_EQ(find_param(two, "decoder.fc2.bias").shape, (std::vector<int64_t>{16}));
    EXPECT_EQ(find_param(two, "decoder.fc2.weight").role, "decoder");
    EXPECT_EQ(find_param(two, "decoder.fc2.bias").role, "decoder");
    EXPECT_EQ(layout_size(two), layout_size(one) + 16 * 16 + 16);
    if (likelihood == "gaussian_learned") { EXPECT_EQ(two.back().name, "decoder.out.logvar"); }
    // The cost model counts the extra h x h layer: forward, weight and input gradients, 2 flops each.
    const double extra_flops =
        vae.flops_per_sample(tiny_vae(16, 4, 1.0, likelihood, 2)) - vae.flops_per_sample(tiny_vae(16, 4, 1.0, likelihood, 1));
    EXPECT_DOUBLE_EQ(extra_flops, 6.0 * 16 * 16);
  }
}

// loss() = mean over the batch of [BCE-with-logits summed over pixels + beta * KL], with
// z = mu + sigma * eps and eps from each model's own generator (here: seeds 21 and 22, redrawn for
// the hand computation in the same order); with one and with two decoder hidden layers.
TEST(Vae, LossIsTheNegativeElboWithBetaWeightedKl) {
  const int64_t models = 2, batch = 3;
  for (const int64_t decoder_layers : {1, 2}) {
    for (const std::string likelihood : {"bernoulli", "gaussian", "gaussian_learned"}) {
      for (const double beta : {1.0, 0.0, 4.0}) {
        SCOPED_TRACE(likelihood + " beta " + std::to_string(beta) + " decoder_layers " + std::to_string(decoder_layers));
        const Tiny t = make_tiny(tiny_vae(8, 3, beta, likelihood, decoder_layers), models, batch);
        auto generators = generators_with({21, 22});
        const LossContext ctx{&t.config, true, &generators};
        const auto loss = find_family("vae").torch_impl().loss(view_params(t.flat, t.layout), t.x, ctx);
        ASSERT_EQ(loss.sizes(), (std::vector<int64_t>{models}));

        auto replay = generators_with({21, 22});
        for (int64_t m = 0; m < models; ++m) {
          const auto eps = torch::randn({batch, t.config.latent}, replay[m]).to(torch::kDouble).contiguous();
          const VaeWeights w = weights_of(t.flat, m, t.layout, t.config);
          double expected = 0.0, kl_sum = 0.0;
          for (int64_t b = 0; b < batch; ++b) {
            const std::vector<double> e(eps[b].data_ptr<double>(), eps[b].data_ptr<double>() + t.config.latent);
            const HandTerms terms = hand_terms(w, t.x[m][b].contiguous().data_ptr<float>(), e, likelihood);
            expected += (terms.nll + beta * terms.kl) / batch;
            kl_sum += terms.kl;
          }
          EXPECT_GT(kl_sum, 1e-3) << "the KL term is not trivially zero here";
          // float forward through 784-wide sums: relative error ~1e-6.
          EXPECT_NEAR(loss[m].item<double>(), expected, 1e-5 * std::fabs(expected)) << "model " << m;
        }
      }
    }
  }
}

// The noise really comes from the given generators: other seeds give another loss.
TEST(Vae, LossUsesEachModelsOwnGenerator) {
  const Tiny t = make_tiny(tiny_vae(8, 3, 1.0), 2, 4);
  const TorchFamily& impl = find_family("vae").torch_impl();
  auto a = generators_with({21, 22}), b = generators_with({21, 23});
  const auto loss_a = impl.loss(view_params(t.flat, t.layout), t.x, LossContext{&t.config, true, &a});
  const auto loss_b = impl.loss(view_params(t.flat, t.layout), t.x, LossContext{&t.config, true, &b});
  EXPECT_EQ(loss_a[0].item<float>(), loss_b[0].item<float>()) << "model 0 draws from its own generator only";
  EXPECT_NE(loss_a[1].item<float>(), loss_b[1].item<float>());
}

// evaluation_terms: elbo = -(nll + KL) at the posterior mean (z = mu, beta = 1 whatever the config
// says), per sample [M, B]; reconstruction_error is the MSE of sigmoid(decoder(mu)) per sample; with
// one and with two decoder hidden layers.
TEST(Vae, EvaluationElboIsMinusNllPlusKlAtThePosteriorMean) {
  const int64_t models = 2, batch = 3;
  for (const int64_t decoder_layers : {1, 2}) {
    for (const std::string likelihood : {"bernoulli", "gaussian", "gaussian_learned"}) {
      SCOPED_TRACE("decoder_layers " + std::to_string(decoder_layers));
      const Tiny t = make_tiny(tiny_vae(8, 3, 0.25, likelihood, decoder_layers), models, batch);
      const TorchFamily& impl = find_family("vae").torch_impl();
      const auto params = view_params(t.flat, t.layout);
      const auto terms = impl.evaluation_terms(params, t.x, {}, t.config);
      ASSERT_EQ(terms.size(), 1u);
      const auto elbo = terms.at("elbo");
      ASSERT_EQ(elbo.sizes(), (std::vector<int64_t>{models, batch}));
      const auto mse = impl.reconstruction_error(params, t.x, t.config);
      ASSERT_EQ(mse.sizes(), (std::vector<int64_t>{models, batch}));
      for (int64_t m = 0; m < models; ++m) {
        const VaeWeights w = weights_of(t.flat, m, t.layout, t.config);
        for (int64_t b = 0; b < batch; ++b) {
          const float* x = t.x[m][b].contiguous().data_ptr<float>();
          const HandTerms h = hand_terms(w, x, {}, likelihood);
          const double expected = -(h.nll + h.kl);
          EXPECT_NEAR(elbo[m][b].item<double>(), expected, 1e-5 * std::fabs(expected)) << likelihood;
          // MSE of the mean reconstruction: recomputed with the gaussian terms' 0.5 * sum r^2.
          const double half_sse = hand_terms(w, x, {}, "gaussian").nll;
          EXPECT_NEAR(mse[m][b].item<double>(), 2.0 * half_sse / kPixels, 1e-6) << likelihood;
        }
      }
    }
  }
}

TEST(Vae, GenerateDecodesCodesToImagesInTheOpenUnitInterval) {
  for (const int64_t decoder_layers : {1, 2}) {
    SCOPED_TRACE("decoder_layers " + std::to_string(decoder_layers));
    const FamilyConfig config = tiny_vae(8, 3, 1.0, "bernoulli", decoder_layers);
    const Tiny t = make_tiny(config, 2, 1);
    const TorchFamily& impl = find_family("vae").torch_impl();
    auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
    const auto z = torch::randn({2, 5, config.latent}, generator);
    const auto images = impl.generate(view_params(t.flat, t.layout), z, torch::Tensor(), config);
    ASSERT_EQ(images.sizes(), (std::vector<int64_t>{2, 5, kPixels}));
    EXPECT_GT(images.min().item<float>(), 0.0f);
    EXPECT_LT(images.max().item<float>(), 1.0f);
    // Image (m, s) is sigmoid(decoder_m(z[m][s])).
    for (int64_t m = 0; m < 2; ++m) {
      const VaeWeights w = weights_of(t.flat, m, t.layout, config);
      for (int64_t s = 0; s < 5; ++s) {
        const auto zd = z[m][s].to(torch::kDouble).contiguous();
        const std::vector<double> code(zd.data_ptr<double>(), zd.data_ptr<double>() + config.latent);
        const auto logits = decoder_logits(w, code);
        for (int64_t i = 0; i < kPixels; i += 97) {
          EXPECT_NEAR(images[m][s][i].item<double>(), 1.0 / (1.0 + std::exp(-logits[i])), 1e-6);
        }
      }
    }
    EXPECT_GT((images[0] - images[1]).abs().max().item<float>(), 1e-4) << "each model decodes with its own weights";
  }
}

// decoder = "conv": the encoder unchanged, conv_ae's decoder in place of the MLP's (same tensor names and
// shapes as conv_ae's of the same channels and code), the learned variance after it; generated images are
// those of a gan whose generator holds the same weights (the decoder the gan tests check against a plain
// per-model DCGAN), and the cost model counts the conv decoder's multiply-adds in place of the MLP's.
TEST(Vae, ConvDecoderIsConvAesDecoder) {
  FamilyConfig config = tiny_vae(16, 4, 1.0, "gaussian_learned");
  config.decoder = "conv";
  config.channels = 3;
  const Layout layout = find_family("vae").layout(config);
  FamilyConfig conv_ae = config;
  conv_ae.name = "conv_ae";
  std::vector<ParamLayout> expected;
  for (const ParamLayout& p : find_family("vae").layout(tiny_vae(16, 4, 1.0))) {
    if (p.role == "encoder") expected.push_back(p);
  }
  for (const ParamLayout& p : find_family("conv_ae").layout(conv_ae)) {
    if (p.role == "decoder") expected.push_back(p);
  }
  ASSERT_EQ(layout.size(), expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(layout[i].name, expected[i].name);
    EXPECT_EQ(layout[i].shape, expected[i].shape) << layout[i].name;
    EXPECT_EQ(layout[i].role, expected[i].role) << layout[i].name;
  }
  EXPECT_EQ(layout.back().name, "decoder.out.logvar");

  const Tiny t = make_tiny(config, 2, 1);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto z = torch::randn({2, 5, config.latent}, generator);
  const auto images = find_family("vae").torch_impl().generate(view_params(t.flat, t.layout), z, torch::Tensor(), config);
  FamilyConfig gan = config;
  gan.name = "gan";
  const Layout gan_layout = find_family("gan").layout(gan);
  torch::Tensor gan_flat = torch::zeros({2, layout_size(gan_layout)});
  for (const ParamLayout& p : gan_layout) {
    if (p.role != "generator") continue;
    const ParamLayout& mine = find_param(layout, "decoder" + p.name.substr(std::string("generator").size()));
    gan_flat.narrow(1, p.offset, p.numel()).copy_(t.flat.narrow(1, mine.offset, mine.numel()));
  }
  const auto gan_images = find_family("gan").torch_impl().generate(view_params(gan_flat, gan_layout), z, torch::Tensor(), gan);
  EXPECT_LE((images - gan_images).abs().max().item<double>(), 1e-6);
  EXPECT_GT((images[0] - images[1]).abs().max().item<float>(), 1e-4) << "each model decodes with its own weights";

  // Flops: 2 per multiply-add; forward, weight and input gradients of every layer but the encoder's first
  // (whose input gradient, the images', is not needed).
  const double h = 16, k = 4, encoder = kPixels * h + 2 * h * k;
  const double layers = encoder + conv_decoder_multiply_adds(3, 4);
  EXPECT_DOUBLE_EQ(find_family("vae").flops_per_sample(config), 2.0 * (3.0 * layers - kPixels * h));
}

// latent_density = "mixture" appends latent_density.{logits, means, scale_tril} after every trained
// tensor (the standard layout's offsets stay), initialized to N(0, I): equal weights, zero means,
// identity factors. So before fitting, a mixture vae generates what the standard one does from the
// same first k normals.
TEST(Vae, MixtureDensityIsStoredLastAndStartsAsTheStandardNormal) {
  FamilyConfig config = tiny_vae(8, 3, 1.0, "gaussian_learned");
  const Layout standard = find_family("vae").layout(config);
  config.latent_density = "mixture";
  config.latent_components = 4;
  const Tiny t = make_tiny(config, 2, 1);
  ASSERT_EQ(t.layout.size(), standard.size() + 3);
  for (size_t i = 0; i < standard.size(); ++i) {
    EXPECT_EQ(t.layout[i].name, standard[i].name);
    EXPECT_EQ(t.layout[i].offset, standard[i].offset);
  }
  EXPECT_EQ(find_param(t.layout, "latent_density.scale_tril").shape, (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(layout_size(t.layout), layout_size(standard) + 4 * (1 + 3 + 9));
  // Adam (on LibTorch's path) and ema_decay stop where the density starts: it is fitted, not trained.
  EXPECT_EQ(trained_param_count(t.layout), layout_size(standard));
  EXPECT_EQ(averaged_param_count(t.layout), layout_size(standard));
  EXPECT_EQ(averaged_param_count(standard), layout_size(standard));
  const TorchFamily& impl = find_family("vae").torch_impl();
  EXPECT_EQ(impl.code_width(config), 4);
  const auto p = view_params(t.flat, t.layout);
  EXPECT_TRUE(torch::allclose(p.at("latent_density.logits"), torch::full({2, 4}, -std::log(4.0))));
  EXPECT_EQ(p.at("latent_density.means").abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(p.at("latent_density.scale_tril"), torch::eye(3).expand({2, 4, 3, 3})));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto z = torch::randn({2, 6, 4}, generator);
  FamilyConfig plain = config;
  plain.latent_density = "standard";
  const auto through_density = impl.generate(p, z, torch::Tensor(), config);
  const auto direct = impl.generate(view_params(t.flat.narrow(1, 0, layout_size(standard)), standard),
                                    z.narrow(2, 0, 3).contiguous(), torch::Tensor(), plain);
  EXPECT_LE((through_density - direct).abs().max().item<float>(), 1e-6);
}

// A code is means[c] + scale_tril[c] e, with c the first component whose cumulative weight exceeds
// Phi(z[k]): with weights 0.3 / 0.7, z[k] = -1 (Phi 0.16) takes component 0 and z[k] = 0 (Phi 0.5) component 1.
// The upper triangle of a stored factor is ignored.
TEST(Vae, MixtureGenerateMapsEachCodeThroughItsComponent) {
  FamilyConfig config = tiny_vae(8, 2, 1.0);
  config.latent_density = "mixture";
  config.latent_components = 2;
  const Tiny t = make_tiny(config, 1, 1);
  auto p = view_params(t.flat, t.layout);
  p.at("latent_density.logits").copy_(torch::tensor({std::log(0.3), std::log(0.7)}).view({1, 2}));
  p.at("latent_density.means").copy_(torch::tensor({1.0, -2.0, 0.5, 3.0}).view({1, 2, 2}));
  p.at("latent_density.scale_tril").copy_(torch::tensor({2.0, 99.0, 0.5, 1.0, 0.1, 99.0, -0.3, 0.2}).view({1, 2, 2, 2}));
  const TorchFamily& impl = find_family("vae").torch_impl();
  const auto z = torch::tensor({0.4, -1.0, -1.0, 0.7, 2.0, 0.0}, torch::kFloat).view({1, 2, 3});
  const auto images = impl.generate(p, z, torch::Tensor(), config);
  // By hand: code 0 = (1 + 2*0.4, -2 + 0.5*0.4 + 1*(-1)), component 0; code 1 = (0.5 + 0.1*0.7, 3 - 0.3*0.7 + 0.2*2), component 1.
  const auto codes = torch::tensor({1.8, -2.8, 0.57, 3.19}, torch::kFloat).view({1, 2, 2});
  FamilyConfig plain = config;
  plain.latent_density = "standard";
  const Layout standard = find_family("vae").layout(plain);
  const auto expected = impl.generate(view_params(t.flat.narrow(1, 0, layout_size(standard)), standard), codes,
                                      torch::Tensor(), plain);
  EXPECT_LE((images - expected).abs().max().item<float>(), 1e-6);
}

// ---- training through the trainer on a small synthetic dataset and a real plan

const char* const kJob = R"(
name = "vae-test"
seed = 5
[data]
num_classes = 3
classes = [0, 1, 2]
samples_min = 60
samples_max = 200
[[family]]
name = "vae"
models = 4
latent = 4
hidden = 32
steps = 30
batch_size = 16
lr = 2e-3
lr_spread = 0.5
init = "model"
sample_grid = 4
)";

const PlannedJob& world() {
  static const PlannedJob* const shared = [] {
    auto* w = new PlannedJob;
    w->dataset = synthetic_dataset(200, 40, 3, 31);
    plan_on_dataset(*w, kJob, "<vae-test>");
    return w;
  }();
  return *shared;
}

const std::vector<const ModelSpec*>& vae_specs() { return world().family_specs[0]; }

// DESIGN.md section 3: a model's result does not depend on its batch-mates (its reparametrization
// noise comes from its own generator).
TEST(Vae, ModelAloneEqualsModelInBatch) {
  const FamilyConfig config = world().job.families[0];
  ASSERT_EQ(vae_specs().size(), 4u);
  const int64_t p = layout_size(find_family("vae").layout(config));
  const RawTrainResult batch = train_weights(config, vae_specs(), world().dataset, TrainOptions{});
  const RawTrainResult alone = train_weights(config, {vae_specs()[2]}, world().dataset, TrainOptions{});
  ASSERT_EQ(static_cast<int64_t>(batch.weights.size()), 4 * p);
  ASSERT_EQ(static_cast<int64_t>(alone.weights.size()), p);
  EXPECT_EQ(batch.diverged, (std::vector<bool>{false, false, false, false}));
  EXPECT_LE(max_abs_diff(batch.weights.data() + 2 * p, alone.weights.data(), p), 1e-5);
  // Not trivially equal: the models moved away from their inits and from each other.
  std::vector<float> init(p);
  init_flat_params(init.data(), find_family("vae").layout(config), vae_specs()[2]->init_seed);
  EXPECT_GT(max_abs_diff(alone.weights.data(), init.data(), p), 1e-2);
  EXPECT_GT(max_abs_diff(batch.weights.data() + 2 * p, batch.weights.data() + 3 * p, p), 1e-2);
}

// elbo_train / elbo_test are stored per model; training on -ELBO raises them. elbo_train is the
// mean of evaluation_terms over exactly the model's training samples.
TEST(Vae, ElboImprovesWithTrainingAndIsTheMeanOverTheModelsSamples) {
  FamilyConfig config = world().job.families[0];
  const std::vector<const ModelSpec*> specs = {vae_specs()[0], vae_specs()[3]};
  config.steps = 1;
  const auto start = train_chunk(config, specs, world().eval, TrainOptions{});
  config.steps = 100;
  const auto end = train_chunk(config, specs, world().eval, TrainOptions{});
  ASSERT_EQ(end.size(), 2u);
  for (size_t m = 0; m < specs.size(); ++m) {
    SCOPED_TRACE("model " + std::to_string(specs[m]->id));
    EXPECT_EQ(end[m].status, "ok");
    for (const char* name : {"elbo_train", "elbo_test"}) {
      ASSERT_TRUE(start[m].metrics.count(name) && end[m].metrics.count(name)) << name;
      EXPECT_TRUE(std::isfinite(end[m].metrics.at(name))) << name;
      EXPECT_LT(end[m].metrics.at(name), 0.0) << name << ": an ELBO of binary-ish images is a negative log-likelihood bound";
    }
    // 100 Adam steps gain far more than the noise of a single-sample estimate (hundreds of nats).
    EXPECT_GT(end[m].metrics.at("elbo_train"), start[m].metrics.at("elbo_train") + 20.0);
    EXPECT_GT(end[m].metrics.at("elbo_test"), start[m].metrics.at("elbo_test") + 20.0);
    EXPECT_LT(end[m].final_loss, start[m].final_loss);
    EXPECT_FALSE(end[m].metrics.count("js")) << "js is a gan figure";
    EXPECT_EQ(static_cast<int64_t>(end[m].samples.size()), (config.sample_grid + 8) * kPixels);

    // Recompute elbo_train from the returned weights over all of the model's training samples.
    const Layout layout = find_family("vae").layout(config);
    const auto& idx = specs[m]->sample_indices;
    auto x = torch::empty({1, static_cast<int64_t>(idx.size()), kPixels});
    for (size_t i = 0; i < idx.size(); ++i) {
      std::copy_n(world().dataset.train.image(idx[i]), kPixels, x[0][static_cast<int64_t>(i)].data_ptr<float>());
    }
    auto flat = torch::from_blob(const_cast<float*>(end[m].weights.data()), {1, layout_size(layout)}).clone();
    torch::NoGradGuard no_grad;
    const auto elbo = find_family("vae").torch_impl().evaluation_terms(view_params(flat, layout), x, {}, config).at("elbo");
    const double expected = elbo.to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(end[m].metrics.at("elbo_train"), expected, 1e-5 * std::fabs(expected));
  }
  EXPECT_NE(end[0].metrics.at("elbo_train"), end[1].metrics.at("elbo_train"));
}

// After training, the stored mixture is the one fitted to the posterior means of the model's own training
// images: with one component, their mean and covariance (recomputed here from the stored weights). The
// trained tensors are those of a standard-density run on both training paths (the density gets no
// gradient), and the generative metrics come from the fitted density. Tolerances: the fit is in double
// from float codes (1e-5 on the mean, 1e-4 of the largest covariance entry, which includes the 1e-6 ridge).
TEST(Vae, MixtureIsFittedToThePosteriorMeansOfTheTrainingImages) {
  for (const std::string kernels : {"auto", "torch"}) {
    SCOPED_TRACE(kernels);
    FamilyConfig config = world().job.families[0];
    config.steps = 20;
    const std::vector<const ModelSpec*> specs = {vae_specs()[1], vae_specs()[2]};
    TrainOptions options;
    options.kernels = kernels;
    const auto standard = train_chunk(config, specs, world().eval, options);
    config.latent_density = "mixture";
    config.latent_components = 1;
    config.checkpoint_steps = {10, 20};
    const auto fitted = train_chunk(config, specs, world().eval, options);
    const Layout layout = find_family("vae").layout(config);
    const int64_t trained = layout_size(find_family("vae").layout(world().job.families[0]));
    for (size_t m = 0; m < specs.size(); ++m) {
      ASSERT_EQ(static_cast<int64_t>(fitted[m].weights.size()), layout_size(layout));
      // Equal up to float rounding (measured 1.5e-8): elementwise kernels (Adam) take vector bodies and
      // scalar tails at other positions of the longer parameter row.
      EXPECT_LE(max_abs_diff(fitted[m].weights.data(), standard[m].weights.data(), trained), 1e-6) << "model " << m;
      // The posterior means of the training images, from the stored weights.
      const auto& idx = specs[m]->sample_indices;
      const int64_t n = static_cast<int64_t>(idx.size());
      auto x = torch::empty({1, n, kPixels});
      for (int64_t i = 0; i < n; ++i) std::copy_n(world().dataset.train.image(idx[i]), kPixels, x[0][i].data_ptr<float>());
      const auto flat = torch::from_blob(const_cast<float*>(fitted[m].weights.data()), {1, layout_size(layout)});
      const auto mu = find_family("vae").torch_impl().codes(view_params(flat, layout), x)[0].to(torch::kDouble);
      const auto mean = mu.mean(0);
      const auto centred = mu - mean;
      const auto covariance = centred.transpose(0, 1).matmul(centred) / static_cast<double>(n);
      const auto p = view_params(flat, layout);
      const auto factor = p.at("latent_density.scale_tril")[0][0].to(torch::kDouble);
      EXPECT_LE((p.at("latent_density.means")[0][0].to(torch::kDouble) - mean).abs().max().item<double>(), 1e-5);
      const double scale = covariance.abs().max().item<double>();
      EXPECT_GT(scale, 1e-4) << "the codes spread";
      EXPECT_LE((factor.matmul(factor.transpose(0, 1)) - covariance).abs().max().item<double>(), 1e-4 * scale);
      EXPECT_TRUE(std::isfinite(fitted[m].metrics.at("diversity_ratio")));
      EXPECT_NE(fitted[m].metrics.at("diversity_ratio"), standard[m].metrics.at("diversity_ratio"))
          << "samples drawn through the fitted density";
      EXPECT_EQ(fitted[m].samples.size(), standard[m].samples.size());
      // Checkpoints carry the fitted density (it is not trained): the same tensors as the final weights.
      const ParamLayout& first = find_param(layout, "latent_density.logits");
      const int64_t density = layout_size(layout) - first.offset;
      ASSERT_EQ(static_cast<int64_t>(fitted[m].checkpoints.size()), 2 * layout_size(layout));
      for (int64_t t = 0; t < 2; ++t) {
        EXPECT_EQ(max_abs_diff(fitted[m].checkpoints.data() + t * layout_size(layout) + first.offset,
                               fitted[m].weights.data() + first.offset, density),
                  0.0)
            << "checkpoint " << t;
      }
    }
  }
}

}  // namespace
}  // namespace genzoo::test
