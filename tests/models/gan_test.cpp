// Tests for src/models/gan.cpp and the trainer's adversarial loop (train_adversarial in
// src/train/trainer.cpp): the layout (generator first; label inputs of the conditional variant), the
// model-batched networks against a plain per-model DCGAN written here with ungrouped LibTorch ops,
// the discriminator and non-saturating generator losses against the BCE formulas in double, the
// alternation of D- and G-steps replayed step by step, batch independence (unconditional and
// class-conditional) and a diverging model that does not disturb its batch; the minibatch standard
// deviation feature (d_minibatch = "stddev") against a brute-force loop over images and features.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "data/dataset.h"
#include "helpers.h"
#include "job/job.h"
#include "models/family.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/adam.h"
#include "train/data_stream.h"
#include "train/trainer.h"

namespace genzoo::test {
namespace {

constexpr int64_t kPixels = 784;

FamilyConfig gan_config(int64_t channels, int64_t latent, const std::string& condition = "none") {
  FamilyConfig config;
  config.name = "gan";
  config.channels = channels;
  config.latent = latent;
  config.condition = condition;
  config.num_classes = 3;
  return config;
}

const Family& gan() { return find_family("gan"); }

TEST(Gan, LayoutPutsEveryGeneratorParameterBeforeTheDiscriminator) {
  const FamilyConfig config = gan_config(4, 16);
  const Layout layout = gan().layout(config);
  ASSERT_GE(layout.size(), 4u);
  int64_t first_discriminator = -1;
  bool seen_discriminator = false;
  for (const ParamLayout& p : layout) {
    ASSERT_TRUE(p.role == "generator" || p.role == "discriminator") << p.name << " has role " << p.role;
    EXPECT_EQ(p.name.rfind(p.role + ".", 0), 0u) << p.name << " is named after its role";
    if (p.role == "discriminator" && !seen_discriminator) first_discriminator = p.offset;
    if (p.role == "generator") {
      EXPECT_FALSE(seen_discriminator) << p.name << " comes after a discriminator parameter";
    }
    seen_discriminator = seen_discriminator || p.role == "discriminator";
  }
  ASSERT_GT(first_discriminator, 0);
  EXPECT_EQ(generator_param_count(layout), first_discriminator);
  // DCGAN shapes for c = 4, k = 16: fc to 2c x 7 x 7, two stride-2 transposed convolutions to 28 x 28;
  // D mirrors it.
  const int64_t flat = 2 * 4 * 49;
  EXPECT_EQ(find_param(layout, "generator.fc.weight").shape, (std::vector<int64_t>{flat, 16}));
  EXPECT_EQ(find_param(layout, "generator.convt1.weight").shape, (std::vector<int64_t>{8, 4, 4, 4}));
  EXPECT_EQ(find_param(layout, "generator.convt2.weight").shape, (std::vector<int64_t>{4, 1, 4, 4}));
  EXPECT_EQ(find_param(layout, "discriminator.conv1.weight").shape, (std::vector<int64_t>{4, 1, 4, 4}));
  EXPECT_EQ(find_param(layout, "discriminator.conv2.weight").shape, (std::vector<int64_t>{8, 4, 4, 4}));
  EXPECT_EQ(find_param(layout, "discriminator.fc.weight").shape, (std::vector<int64_t>{1, flat}));
  const int64_t generator_size = flat * 16 + flat + 8 * 4 * 16 + 4 + 4 * 16 + 1;
  EXPECT_EQ(generator_param_count(layout), generator_size);
  EXPECT_EQ(layout_size(layout), generator_size + 4 * 16 + 4 + 8 * 4 * 16 + 8 + flat + 1);
  EXPECT_TRUE(gan().torch_impl().generative());
  EXPECT_TRUE(gan().torch_impl().adversarial());
}

TEST(Gan, ConditionalLayoutAddsTheLabelInputsToBothFullyConnectedLayers) {
  const Layout plain = gan().layout(gan_config(4, 16));
  const Layout conditional = gan().layout(gan_config(4, 16, "label"));
  const int64_t flat = 2 * 4 * 49, classes = 3;
  EXPECT_EQ(find_param(conditional, "generator.fc.weight").shape, (std::vector<int64_t>{flat, 16 + classes}));
  EXPECT_EQ(find_param(conditional, "discriminator.fc.weight").shape, (std::vector<int64_t>{1, flat + classes}));
  EXPECT_EQ(generator_param_count(conditional), generator_param_count(plain) + flat * classes);
  EXPECT_EQ(layout_size(conditional), layout_size(plain) + flat * classes + classes);
  ASSERT_EQ(conditional.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(conditional[i].name, plain[i].name);
    if (plain[i].name != "generator.fc.weight" && plain[i].name != "discriminator.fc.weight") {
      EXPECT_EQ(conditional[i].shape, plain[i].shape) << plain[i].name;
    }
  }
}

// d_minibatch = "stddev" adds one input to D's last layer, after D's features and before the labels; nothing
// else changes.
TEST(Gan, MinibatchStddevAddsOneColumnToTheDiscriminatorsLastLayer) {
  const int64_t flat = 2 * 4 * 49, classes = 3;
  for (const std::string condition : {"none", "label"}) {
    SCOPED_TRACE("condition " + condition);
    FamilyConfig config = gan_config(4, 16, condition);
    const Layout plain = gan().layout(config);
    config.d_minibatch = "stddev";
    const Layout stddev = gan().layout(config);
    const int64_t labels = condition == "label" ? classes : 0;
    EXPECT_EQ(find_param(stddev, "discriminator.fc.weight").shape, (std::vector<int64_t>{1, flat + 1 + labels}));
    EXPECT_EQ(layout_size(stddev), layout_size(plain) + 1);
    EXPECT_EQ(generator_param_count(stddev), generator_param_count(plain));
    ASSERT_EQ(stddev.size(), plain.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_EQ(stddev[i].name, plain[i].name);
      if (plain[i].name != "discriminator.fc.weight") { EXPECT_EQ(stddev[i].shape, plain[i].shape) << plain[i].name; }
    }
  }
}

// d_channels widens the discriminator only: its layers get cd and 2 cd channels, the generator keeps c.
TEST(Gan, DiscriminatorChannelsWidenOnlyTheDiscriminator) {
  const Layout plain = gan().layout(gan_config(4, 16));
  FamilyConfig wide_config = gan_config(4, 16);
  wide_config.d_channels = 6;
  const Layout wide = gan().layout(wide_config);
  EXPECT_EQ(find_param(wide, "discriminator.conv1.weight").shape, (std::vector<int64_t>{6, 1, 4, 4}));
  EXPECT_EQ(find_param(wide, "discriminator.conv2.weight").shape, (std::vector<int64_t>{12, 6, 4, 4}));
  EXPECT_EQ(find_param(wide, "discriminator.conv2.bias").shape, (std::vector<int64_t>{12}));
  EXPECT_EQ(find_param(wide, "discriminator.fc.weight").shape, (std::vector<int64_t>{1, 12 * 49}));
  EXPECT_EQ(generator_param_count(wide), generator_param_count(plain));
  for (size_t i = 0; i < plain.size() && plain[i].role == "generator"; ++i) {
    EXPECT_EQ(wide[i].shape, plain[i].shape) << plain[i].name;
  }
  EXPECT_EQ(layout_size(wide) - generator_param_count(wide), 6 * 16 + 6 + 12 * 6 * 16 + 12 + 12 * 49 + 1);
  EXPECT_GT(gan().flops_per_sample(wide_config), gan().flops_per_sample(gan_config(4, 16)));
}

// ---- a plain DCGAN of one model (ungrouped LibTorch ops) as the reference for the batched networks

torch::Tensor param(const StackedParams& p, const std::string& name, int64_t m) { return p.at(name)[m]; }

torch::Tensor with_labels(const torch::Tensor& features, const torch::Tensor& labels) {
  return labels.defined() ? torch::cat({features, labels}, 1) : features;
}

// z [S, k] (labels [S, K] or undefined) -> images [S, 784].
torch::Tensor reference_generator(const StackedParams& p, int64_t m, const torch::Tensor& z, const torch::Tensor& labels,
                                  int64_t channels) {
  auto h = torch::relu(torch::linear(with_labels(z, labels), param(p, "generator.fc.weight", m),
                                     param(p, "generator.fc.bias", m)));
  h = h.reshape({z.size(0), 2 * channels, 7, 7});
  h = torch::relu(torch::conv_transpose2d(h, param(p, "generator.convt1.weight", m), param(p, "generator.convt1.bias", m),
                                          2, 1));
  h = torch::sigmoid(torch::conv_transpose2d(h, param(p, "generator.convt2.weight", m),
                                             param(p, "generator.convt2.bias", m), 2, 1));
  return h.reshape({z.size(0), kPixels});
}

// images [B, 784] -> logits [B].
torch::Tensor reference_discriminator(const StackedParams& p, int64_t m, const torch::Tensor& x,
                                      const torch::Tensor& labels) {
  auto h = x.reshape({x.size(0), 1, 28, 28});
  h = torch::leaky_relu(torch::conv2d(h, param(p, "discriminator.conv1.weight", m),
                                      param(p, "discriminator.conv1.bias", m), 2, 1), 0.2);
  h = torch::leaky_relu(torch::conv2d(h, param(p, "discriminator.conv2.weight", m),
                                      param(p, "discriminator.conv2.bias", m), 2, 1), 0.2);
  h = h.reshape({x.size(0), -1});
  return torch::linear(with_labels(h, labels), param(p, "discriminator.fc.weight", m), param(p, "discriminator.fc.bias", m))
      .squeeze(1);
}

// images [B, 784] -> D's flattened features [B, F] (before its last layer).
torch::Tensor reference_features(const StackedParams& p, int64_t m, const torch::Tensor& x) {
  auto h = x.reshape({x.size(0), 1, 28, 28});
  h = torch::leaky_relu(torch::conv2d(h, param(p, "discriminator.conv1.weight", m),
                                      param(p, "discriminator.conv1.bias", m), 2, 1), 0.2);
  h = torch::leaky_relu(torch::conv2d(h, param(p, "discriminator.conv2.weight", m),
                                      param(p, "discriminator.conv2.bias", m), 2, 1), 0.2);
  return h.reshape({x.size(0), -1});
}

// The minibatch standard deviation by brute force, in double: for every feature j the population
// variance over the B images, then s = (1/F) sum_j sqrt(var_j + 1e-8).
double brute_force_stddev(const torch::Tensor& features) {
  const auto f = features.to(torch::kDouble).contiguous();
  const int64_t images = f.size(0), count = f.size(1);
  const double* v = f.data_ptr<double>();
  double total = 0.0;
  for (int64_t j = 0; j < count; ++j) {
    double mean = 0.0, variance = 0.0;
    for (int64_t i = 0; i < images; ++i) mean += v[i * count + j] / static_cast<double>(images);
    for (int64_t i = 0; i < images; ++i) variance += std::pow(v[i * count + j] - mean, 2) / static_cast<double>(images);
    total += std::sqrt(variance + 1e-8);
  }
  return total / static_cast<double>(count);
}

// D's logits [B] with the minibatch stddev feature, in double: features, then s (its weight the column
// after the features), then the labels.
std::vector<double> reference_stddev_logits(const StackedParams& p, int64_t m, const torch::Tensor& x,
                                            const torch::Tensor& labels) {
  const auto features = reference_features(p, m, x).to(torch::kDouble);
  const int64_t count = features.size(1);
  const auto w = param(p, "discriminator.fc.weight", m)[0].to(torch::kDouble);
  const double s = brute_force_stddev(features);
  auto logits = torch::mv(features, w.narrow(0, 0, count)) + w[count].item<double>() * s +
                param(p, "discriminator.fc.bias", m)[0].item<double>();
  if (labels.defined()) logits = logits + torch::mv(labels.to(torch::kDouble), w.narrow(0, count + 1, labels.size(1)));
  return std::vector<double>(logits.data_ptr<double>(), logits.data_ptr<double>() + logits.numel());
}

// -log sigmoid(l) and -log(1 - sigmoid(l)) in double, written out.
double bce_real(double l) { return std::log1p(std::exp(-std::fabs(l))) + std::max(-l, 0.0); }
double bce_fake(double l) { return std::log1p(std::exp(-std::fabs(l))) + std::max(l, 0.0); }

torch::Tensor one_hot(const std::vector<std::vector<int64_t>>& slots, int64_t classes) {
  auto out = torch::zeros({static_cast<int64_t>(slots.size()), static_cast<int64_t>(slots[0].size()), classes});
  for (size_t m = 0; m < slots.size(); ++m)
    for (size_t i = 0; i < slots[m].size(); ++i) out[m][i][slots[m][i]] = 1.0f;
  return out;
}

struct GanCase {
  FamilyConfig config;
  Layout layout;
  torch::Tensor flat, x, z;
  torch::Tensor real_labels, fake_labels;  // undefined when unconditional
};

GanCase make_setup(const std::string& condition) {
  GanCase s;
  s.config = gan_config(3, 5, condition);
  s.layout = gan().layout(s.config);
  const int64_t models = 3, batch = 4;
  s.flat = torch::empty({models, layout_size(s.layout)});
  for (int64_t m = 0; m < models; ++m) init_flat_params(s.flat[m].data_ptr<float>(), s.layout, 40 + m);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(17);
  s.x = torch::rand({models, batch, kPixels}, generator);
  s.z = torch::randn({models, batch, s.config.latent}, generator);
  if (condition == "label") {
    s.real_labels = one_hot({{0, 1, 2, 0}, {2, 2, 1, 0}, {1, 0, 0, 2}}, 3);
    s.fake_labels = one_hot({{1, 1, 0, 2}, {0, 2, 1, 1}, {2, 0, 1, 0}}, 3);
  }
  return s;
}

torch::Tensor row_or_undefined(const torch::Tensor& t, int64_t m) { return t.defined() ? t[m] : torch::Tensor(); }

// The grouped-convolution networks equal the per-model DCGAN, and the losses equal
//   D: mean_b -log D(x_b) + mean_b -log(1 - D(G(z_b))),   G: mean_b -log D(G(z_b)).
TEST(Gan, BatchedNetworksAndLossesEqualThePerModelDcganAndTheBceFormulas) {
  for (const std::string condition : {"none", "label"}) {
    SCOPED_TRACE("condition " + condition);
    const GanCase s = make_setup(condition);
    const TorchFamily& impl = gan().torch_impl();
    const auto params = view_params(s.flat, s.layout);
    const auto d_loss = impl.discriminator_loss(params, s.x, s.real_labels, s.z, s.fake_labels, {}, {}, s.config);
    const auto g_loss = impl.generator_loss(params, s.z, s.fake_labels, {}, s.config);
    const auto images = impl.generate(params, s.z, s.fake_labels, s.config);
    ASSERT_EQ(d_loss.sizes(), (std::vector<int64_t>{3}));
    ASSERT_EQ(g_loss.sizes(), (std::vector<int64_t>{3}));
    ASSERT_EQ(images.sizes(), (std::vector<int64_t>{3, 4, kPixels}));
    EXPECT_GT(images.min().item<float>(), 0.0f);
    EXPECT_LT(images.max().item<float>(), 1.0f);
    for (int64_t m = 0; m < 3; ++m) {
      const auto fake = reference_generator(params, m, s.z[m], row_or_undefined(s.fake_labels, m), s.config.channels);
      EXPECT_LE((fake - images[m]).abs().max().item<double>(), 1e-6) << "model " << m;
      const auto real_logits =
          reference_discriminator(params, m, s.x[m], row_or_undefined(s.real_labels, m)).to(torch::kDouble);
      const auto fake_logits =
          reference_discriminator(params, m, fake, row_or_undefined(s.fake_labels, m)).to(torch::kDouble);
      double d = 0.0, g = 0.0, d_smoothed = 0.0;
      for (int64_t b = 0; b < 4; ++b) {
        d += (bce_real(real_logits[b].item<double>()) + bce_fake(fake_logits[b].item<double>())) / 4.0;
        g += bce_real(fake_logits[b].item<double>()) / 4.0;
        // One-sided label smoothing 0.1: real images against the target 0.9 = 0.9 (-log D) + 0.1 (-log(1 - D)).
        d_smoothed += (0.9 * bce_real(real_logits[b].item<double>()) + 0.1 * bce_fake(real_logits[b].item<double>()) +
                       bce_fake(fake_logits[b].item<double>())) / 4.0;
      }
      FamilyConfig smoothed = s.config;
      smoothed.label_smoothing = 0.1;
      EXPECT_NEAR(impl.discriminator_loss(params, s.x, s.real_labels, s.z, s.fake_labels, {}, {}, smoothed)[m].item<double>(), d_smoothed,
                  1e-5 * d_smoothed) << "model " << m;
      EXPECT_TRUE(std::isfinite(d_loss[m].item<double>()) && std::isfinite(g_loss[m].item<double>()));
      EXPECT_NEAR(d_loss[m].item<double>(), d, 1e-5 * d) << "model " << m;
      EXPECT_NEAR(g_loss[m].item<double>(), g, 1e-5 * g) << "model " << m;
      // At the symmetric init D is near 1/2 everywhere: each BCE term is near log 2.
      EXPECT_NEAR(d, 2.0 * std::log(2.0), 0.5);
    }
    if (condition == "label") {
      // The labels reach both networks: other labels give other images and other D outputs.
      const auto other = impl.generate(params, s.z, s.real_labels, s.config);
      EXPECT_GT((other - images).abs().max().item<float>(), 1e-5);
      const auto other_d = impl.discriminator_loss(params, s.x, s.fake_labels, s.z, s.fake_labels, {}, {}, s.config);
      EXPECT_GT((other_d - d_loss).abs().max().item<float>(), 1e-7);
    }
  }
}

// d_minibatch = "stddev": D's losses equal the BCE formulas on logits computed with a brute-force
// minibatch stddev s of the batch D scores (the real batch and the fake batch each their own), its
// weight the column after D's features (a large one, so that s moves the logits: a sample variance
// instead of the population's, or s over both batches, would be seen). The stddev couples the images:
// changing one image changes D's verdict on another.
TEST(Gan, MinibatchStddevLossesEqualABruteForceLoopOverImagesAndFeatures) {
  for (const std::string condition : {"none", "label"}) {
    SCOPED_TRACE("condition " + condition);
    GanCase s = make_setup(condition);
    s.config.d_minibatch = "stddev";
    s.layout = gan().layout(s.config);
    const int64_t models = s.flat.size(0);
    s.flat = torch::empty({models, layout_size(s.layout)});
    for (int64_t m = 0; m < models; ++m) init_flat_params(s.flat[m].data_ptr<float>(), s.layout, 40 + m);
    const TorchFamily& impl = gan().torch_impl();
    const auto params = view_params(s.flat, s.layout);
    const int64_t features = 2 * s.config.channels * 49;
    for (int64_t m = 0; m < models; ++m) params.at("discriminator.fc.weight")[m][0][features] = 20.0f + 5.0f * m;
    const auto d_loss = impl.discriminator_loss(params, s.x, s.real_labels, s.z, s.fake_labels, {}, {}, s.config);
    const auto g_loss = impl.generator_loss(params, s.z, s.fake_labels, {}, s.config);
    const auto fakes = impl.generate(params, s.z, s.fake_labels, s.config);
    for (int64_t m = 0; m < models; ++m) {
      const auto real_logits = reference_stddev_logits(params, m, s.x[m], row_or_undefined(s.real_labels, m));
      const auto fake_logits = reference_stddev_logits(params, m, fakes[m], row_or_undefined(s.fake_labels, m));
      const double stddev = brute_force_stddev(reference_features(params, m, s.x[m]));
      EXPECT_GT(stddev, 1e-3) << "model " << m << ": the stddev feature is not negligible";
      double d = 0.0, g = 0.0;
      for (int64_t b = 0; b < 4; ++b) {
        d += (bce_real(real_logits[b]) + bce_fake(fake_logits[b])) / 4.0;
        g += bce_real(fake_logits[b]) / 4.0;
      }
      EXPECT_NEAR(d_loss[m].item<double>(), d, 1e-5 * d) << "model " << m;
      EXPECT_NEAR(g_loss[m].item<double>(), g, 1e-5 * g) << "model " << m;
    }
    // The logits move with the batch: D's verdict on image 0 changes when image 1 changes.
    const auto verdict = impl.reconstruction_error(params, s.x, s.config);
    auto other = s.x.clone();
    other.select(1, 1).mul_(0.5);
    const auto changed = impl.reconstruction_error(params, other, s.config);
    EXPECT_GT((changed.select(1, 0) - verdict.select(1, 0)).abs().min().item<float>(), 1e-6);
  }
}

// The generator's output is detached in the discriminator's loss: its gradient reaches D only;
// the generator's loss reaches G (and D, which the trainer's G-step must then leave alone).
TEST(Gan, DiscriminatorLossHasNoGradientForTheGenerator) {
  GanCase s = make_setup("label");
  const TorchFamily& impl = gan().torch_impl();
  const int64_t g_end = generator_param_count(s.layout), total = layout_size(s.layout);
  auto flat = s.flat.clone().requires_grad_(true);
  impl.discriminator_loss(view_params(flat, s.layout), s.x, s.real_labels, s.z, s.fake_labels, {}, {}, s.config).sum().backward();
  EXPECT_EQ(flat.grad().narrow(1, 0, g_end).abs().max().item<float>(), 0.0f);
  EXPECT_GT(flat.grad().narrow(1, g_end, total - g_end).abs().max().item<float>(), 0.0f);
  flat.grad().zero_();
  impl.generator_loss(view_params(flat, s.layout), s.z, s.fake_labels, {}, s.config).sum().backward();
  EXPECT_GT(flat.grad().narrow(1, 0, g_end).abs().max().item<float>(), 0.0f);
  EXPECT_GT(flat.grad().narrow(1, g_end, total - g_end).abs().max().item<float>(), 0.0f);
}

// ---- the adversarial loop on a small synthetic dataset and a real plan

const char* const kJob = R"(
name = "gan-test"
seed = 9
[data]
num_classes = 3
classes = [0, 1, 2]
samples_min = 60
samples_max = 200
[[family]]
name = "gan"
models = 4
latent = 8
channels = 3
steps = 20
d_steps = 2
batch_size = 8
lr = 2e-3
lr_spread = 0.5
init = "model"
sample_grid = 4
)";

const PlannedJob& world() {
  static const PlannedJob* const shared = [] {
    auto* w = new PlannedJob;
    w->dataset = synthetic_dataset(200, 30, 3, 41);
    plan_on_dataset(*w, kJob, "<gan-test>");
    return w;
  }();
  return *shared;
}

const std::vector<const ModelSpec*>& gan_specs() { return world().family_specs[0]; }

TrainOptions options_with_classes() {
  TrainOptions options;
  options.class_labels = {0, 1, 2};
  return options;
}

// One generator step of 2 discriminator steps, replayed here with the public pieces: the model's
// data stream (SampleStream with its seed), its noise generator (the trainer's documented per-model
// generator, seeded mix_seed(seed, "noise")), the family's losses and the batched Adam on a column
// range. D must come out of exactly two Adam steps on the D columns (the G-step leaves D alone) and
// G out of one step on the G columns taken against the updated D (the D-steps leave G alone).
TEST(Gan, OneStepIsTwoDiscriminatorUpdatesThenOneGeneratorUpdate) {
  FamilyConfig config = world().job.families[0];
  config.steps = 1;
  ASSERT_EQ(config.d_steps, 2);
  const ModelSpec& spec = *gan_specs()[1];
  const RawTrainResult trained = train_weights(config, {&spec}, world().dataset, TrainOptions{});

  const Layout layout = gan().layout(config);
  const TorchFamily& impl = gan().torch_impl();
  const int64_t total = layout_size(layout), g_end = generator_param_count(layout);
  auto init = torch::empty({1, total});
  init_flat_params(init.data_ptr<float>(), layout, spec.init_seed);
  auto flat = init.clone().requires_grad_(true);
  auto m = torch::zeros({1, total}), v = torch::zeros({1, total});
  const float lr = static_cast<float>(spec.lr);
  SampleStream stream(spec.sample_indices, spec.seed);
  auto noise = at::make_generator<at::CPUGeneratorImpl>(mix_seed(spec.seed, 0x6e6f697365ULL));
  const auto adam = [&](int64_t begin, int64_t end, int64_t step) {
    torch::NoGradGuard no_grad;
    adam_step(flat.data_ptr<float>() + begin, flat.grad().data_ptr<float>() + begin, m.data_ptr<float>() + begin,
              v.data_ptr<float>() + begin, 1, end - begin, &lr, step, AdamSettings{}, total);
    flat.grad().zero_();
  };
  double last_d_loss = 0.0;
  for (int64_t k = 1; k <= 2; ++k) {
    std::vector<int64_t> idx(config.batch_size);
    stream.next_batch(config.batch_size, idx.data());
    auto x = torch::empty({1, config.batch_size, kPixels});
    gather_images(world().dataset.train, idx.data(), config.batch_size, x.data_ptr<float>());
    const auto z = torch::randn({config.batch_size, config.latent}, noise).unsqueeze(0);
    const auto d = impl.discriminator_loss(view_params(flat, layout), x, {}, z, {}, {}, {}, config);
    last_d_loss = d.item<double>();
    d.sum().backward();
    adam(g_end, total, k);
  }
  const auto after_d = flat.detach().clone();
  const auto z = torch::randn({config.batch_size, config.latent}, noise).unsqueeze(0);
  impl.generator_loss(view_params(flat, layout), z, {}, {}, config).sum().backward();
  adam(0, g_end, 1);
  const auto expected = flat.detach().contiguous();

  ASSERT_EQ(static_cast<int64_t>(trained.weights.size()), total);
  const float* got = trained.weights.data();
  const float* want = expected.data_ptr<float>();
  EXPECT_LE(max_abs_diff(got, want, g_end), 1e-6) << "generator columns";
  EXPECT_LE(max_abs_diff(got + g_end, want + g_end, total - g_end), 1e-6) << "discriminator columns";
  // The replay is not vacuous: both networks moved, D by two steps of about lr (Adam), G by one.
  const float* start = init.data_ptr<float>();
  const float* d_once = after_d.data_ptr<float>();
  EXPECT_GT(max_abs_diff(got, start, g_end), 0.5 * lr);
  EXPECT_LE(max_abs_diff(got, start, g_end), 1.001 * lr) << "G got more than one Adam step";
  EXPECT_EQ(max_abs_diff(d_once, start, g_end), 0.0) << "the D-steps moved G";
  EXPECT_GT(max_abs_diff(got + g_end, start + g_end, total - g_end), 1.5 * lr) << "D got fewer than two Adam steps";
  // d_loss of a 1-step run is the loss of its last D-step.
  ASSERT_EQ(trained.metrics.size(), 1u);
  EXPECT_NEAR(trained.metrics[0].at("d_loss"), last_d_loss, 1e-6 * last_d_loss);
}

// DESIGN.md section 3: a model's result does not depend on its batch-mates, for the plain and the
// class-conditional variant (whose fake labels come from each model's own generator too), and with the
// minibatch stddev feature (a spread over each model's own images, not over the models).
TEST(Gan, ModelAloneEqualsModelInBatch) {
  for (const auto& [condition, d_minibatch] : std::vector<std::pair<std::string, std::string>>{
           {"none", "none"}, {"label", "none"}, {"label", "stddev"}}) {
    SCOPED_TRACE("condition " + condition + ", d_minibatch " + d_minibatch);
    FamilyConfig config = world().job.families[0];
    config.condition = condition;
    config.d_minibatch = d_minibatch;
    config.steps = 20;
    const TrainOptions options = options_with_classes();
    const int64_t p = layout_size(gan().layout(config));
    const RawTrainResult batch = train_weights(config, gan_specs(), world().dataset, options);
    const RawTrainResult alone = train_weights(config, {gan_specs()[2]}, world().dataset, options);
    const RawTrainResult pair = train_weights(config, {gan_specs()[2], gan_specs()[0]}, world().dataset, options);
    ASSERT_EQ(static_cast<int64_t>(batch.weights.size()), 4 * p);
    EXPECT_EQ(batch.diverged, (std::vector<bool>{false, false, false, false}));
    EXPECT_LE(max_abs_diff(batch.weights.data() + 2 * p, alone.weights.data(), p), 1e-5);
    EXPECT_LE(max_abs_diff(pair.weights.data(), alone.weights.data(), p), 1e-5);
    EXPECT_LE(max_abs_diff(pair.weights.data() + p, batch.weights.data(), p), 1e-5);
    EXPECT_GT(max_abs_diff(batch.weights.data() + 2 * p, batch.weights.data() + 3 * p, p), 1e-2);
    ASSERT_EQ(batch.metrics.size(), 4u);
    EXPECT_NEAR(batch.metrics[2].at("d_loss"), alone.metrics[0].at("d_loss"), 1e-5);
  }
}

TEST(Gan, ConditionalTrainingNeedsTheClassLabels) {
  FamilyConfig config = world().job.families[0];
  config.condition = "label";
  config.steps = 1;
  EXPECT_THROW(train_weights(config, {gan_specs()[0]}, world().dataset, TrainOptions{}), TrainError);
}

// A model whose learning rate blows it up (lr 1e12: infinite logits within a step) is marked diverged;
// a wild but finite one (lr 1e6) may survive. Either way its batch-mates come out as if it had never
// been in their batch, and evaluation of the chunk still completes.
TEST(Gan, DivergedModelIsMarkedAndDoesNotDisturbItsBatchMates) {
  FamilyConfig config = world().job.families[0];
  config.steps = 10;
  config.sample_grid = 0;
  const TrainOptions options = options_with_classes();
  const auto without = train_chunk(config, {gan_specs()[0], gan_specs()[3]}, world().eval, options);
  for (const double lr : {1e6, 1e12}) {
    SCOPED_TRACE("lr " + std::to_string(lr));
    ModelSpec wild = *gan_specs()[1];
    wild.lr = lr;
    const auto with = train_chunk(config, {gan_specs()[0], &wild, gan_specs()[3]}, world().eval, options);
    ASSERT_EQ(with.size(), 3u);
    if (lr > 1e9 || with[1].status == "diverged") {
      EXPECT_EQ(with[1].status, "diverged");
      EXPECT_FALSE(with[1].metrics.count("d_loss"));
      EXPECT_FALSE(with[1].metrics.count("js"));
    }
    for (size_t m : {0, 2}) {
      const auto& ref = without[m == 0 ? 0 : 1];
      EXPECT_NE(with[m].status, "diverged");
      EXPECT_EQ(with[m].status, ref.status);
      const int64_t p = static_cast<int64_t>(ref.weights.size());
      EXPECT_LE(max_abs_diff(with[m].weights.data(), ref.weights.data(), p), 1e-5) << "model " << m;
      EXPECT_NEAR(with[m].metrics.at("d_loss"), ref.metrics.at("d_loss"), 1e-5) << "model " << m;
      EXPECT_NEAR(with[m].metrics.at("js"), ref.metrics.at("js"), 1e-5) << "model " << m;
    }
  }
}

}  // namespace
}  // namespace genzoo::test
