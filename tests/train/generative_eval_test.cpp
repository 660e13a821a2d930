// Tests for src/train/generative_eval.cpp through train_chunk and evaluate_generative: sample grids
// (size, fixed shared codes, the interpolation row, cycling class labels of a conditional generator),
// FID / mode coverage with a feature net trained briefly on synthetic data (and their floor on real
// images), the JS estimate of GANs,
// and collapse detection on generators crafted to output one constant image.
#include "train/generative_eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/feature_net.h"
#include "helpers.h"
#include "job/job.h"
#include "metrics/gan_metrics.h"
#include "models/family.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "store/zoo.h"
#include "train/trainer.h"

namespace genzoo::test {
namespace {

constexpr int64_t kPixels = 784;
// Collapse threshold of src/train/generative_eval.cpp: pixel spread below this share of real images'.
constexpr double kCollapseDiversity = 0.1;

const char* const kJob = R"(
name = "generative-eval-test"
seed = 13
[data]
num_classes = 3
classes = [0, 1, 2]
samples_min = 80
samples_max = 200
[[family]]
name = "vae"
models = 3
latent = 4
hidden = 32
steps = 60
batch_size = 16
lr = 3e-3
init = "model"
sample_grid = 8
[[family]]
name = "gan"
models = 3
latent = 8
channels = 3
steps = 15
batch_size = 8
lr = 2e-3
init = "model"
sample_grid = 4
)";

// A 10-class synthetic dataset (the feature net classifies 10 classes), models on classes 0, 1, 2.
struct World : PlannedJob {
  FeatureNetRecord featurenet;
  EvalData eval_without_net;
};

const World& world() {
  static const World* const shared = [] {
    auto* w = new World;
    w->dataset = synthetic_dataset(120, 40, 10, 51);
    plan_on_dataset(*w, kJob, "<generative-eval-test>");
    FeatureNetConfig net;
    net.epochs = 2;
    net.batch_size = 64;
    net.lr = 3e-3;
    net.embedding = 16;
    w->featurenet = train_feature_net(w->dataset, net, 3, 3);
    w->eval_without_net = w->eval;
    w->eval.featurenet = &w->featurenet;
    return w;
  }();
  return *shared;
}

const std::vector<const ModelSpec*>& vae_specs() { return world().family_specs[0]; }
const std::vector<const ModelSpec*>& gan_specs() { return world().family_specs[1]; }

TrainOptions options() {
  TrainOptions o;
  o.class_labels = {0, 1, 2};
  return o;
}

FamilyConfig vae_config() { return world().job.families[0]; }
FamilyConfig gan_config() { return world().job.families[1]; }

const float* image(const TrainedModel& model, int64_t i) { return model.samples.data() + i * kPixels; }

// Every figure evaluate_generative promises, for a model trained with the feature net at hand.
void expect_generative_figures(const TrainedModel& model, const ModelSpec& spec, const FamilyConfig& config) {
  SCOPED_TRACE(config.name + " model " + std::to_string(model.id));
  EXPECT_EQ(model.id, spec.id);
  const int64_t count = config.sample_grid + kInterpolationImages;
  ASSERT_EQ(static_cast<int64_t>(model.samples.size()), count * kPixels);
  for (float v : model.samples) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
  // The interpolation row starts at the first grid code and ends at the second.
  EXPECT_LE(max_abs_diff(image(model, config.sample_grid), image(model, 0), kPixels), 1e-6);
  EXPECT_LE(max_abs_diff(image(model, count - 1), image(model, 1), kPixels), 1e-6);
  EXPECT_GT(max_abs_diff(image(model, 0), image(model, 1), kPixels), 1e-4) << "two codes, two images";

  const auto& m = model.metrics;
  for (const char* name : {"fid", "modes_found", "modes_expected", "mode_tv", "diversity_ratio", "real_fid", "real_mode_tv"}) {
    ASSERT_TRUE(m.count(name)) << name;
    EXPECT_TRUE(std::isfinite(m.at(name))) << name;
  }
  EXPECT_GE(m.at("fid"), 0.0);
  // The floor: the model's own training images against the test reference, far closer than a generator
  // trained for a few dozen steps.
  EXPECT_GE(m.at("real_fid"), 0.0);
  EXPECT_LT(m.at("real_fid"), m.at("fid"));
  EXPECT_GE(m.at("real_mode_tv"), 0.0);
  EXPECT_LE(m.at("real_mode_tv"), 1.0);
  // A vae's reconstructions of those images: its decoder, briefly trained, loses what real images have.
  if (config.name == "vae") {
    for (const char* name : {"reconstruction_fid", "reconstruction_mode_tv"}) {
      ASSERT_TRUE(m.count(name)) << name;
      EXPECT_TRUE(std::isfinite(m.at(name))) << name;
    }
    EXPECT_GT(m.at("reconstruction_fid"), m.at("real_fid"));
    EXPECT_GE(m.at("reconstruction_mode_tv"), 0.0);
    EXPECT_LE(m.at("reconstruction_mode_tv"), 1.0);
  } else {
    EXPECT_FALSE(m.count("reconstruction_fid")) << "a gan has no encoder";
  }
  EXPECT_GE(m.at("diversity_ratio"), 0.0);
  EXPECT_EQ(model.status == "collapsed", m.at("diversity_ratio") < kCollapseDiversity) << "status " << model.status;
  EXPECT_TRUE(model.status == "ok" || model.status == "collapsed") << model.status;
  // modes_expected: the model's classes with a target share of at least 5%.
  int64_t expected = 0;
  for (double p : spec.proportions) expected += p >= 0.05 ? 1 : 0;
  EXPECT_EQ(m.at("modes_expected"), static_cast<double>(expected));
  EXPECT_GE(m.at("modes_found"), 0.0);
  EXPECT_LE(m.at("modes_found"), 3.0);
  EXPECT_EQ(m.at("modes_found"), std::round(m.at("modes_found")));
  EXPECT_GE(m.at("mode_tv"), 0.0);
  EXPECT_LE(m.at("mode_tv"), 1.0);
  // The generated class histogram over the model's classes (the rest: foreign classes) and the TV
  // distance it gives against the model's proportions.
  double shares = 0.0, tv = 0.0;
  for (int slot = 0; slot < 3; ++slot) {
    const std::string name = "generated_share_" + std::to_string(slot);
    ASSERT_TRUE(m.count(name)) << name;
    EXPECT_GE(m.at(name), 0.0);
    shares += m.at(name);
    tv += std::fabs(m.at(name) - spec.proportions[slot]);
  }
  EXPECT_LE(shares, 1.0 + 1e-9);
  tv = 0.5 * (tv + (1.0 - shares));
  EXPECT_NEAR(m.at("mode_tv"), tv, 1e-9);
}

TEST(GenerativeEval, VaeModelsGetSamplesFidModesAndElbo) {
  const auto trained = train_chunk(vae_config(), vae_specs(), world().eval, options());
  ASSERT_EQ(trained.size(), 3u);
  for (size_t m = 0; m < trained.size(); ++m) {
    expect_generative_figures(trained[m], *vae_specs()[m], vae_config());
    EXPECT_TRUE(trained[m].metrics.count("elbo_train") && trained[m].metrics.count("elbo_test"));
    EXPECT_FALSE(trained[m].metrics.count("js")) << "js is a gan figure";
    EXPECT_FALSE(trained[m].metrics.count("d_loss"));
  }
}

TEST(GenerativeEval, GanModelsGetSamplesFidModesAndJs) {
  const auto trained = train_chunk(gan_config(), gan_specs(), world().eval, options());
  ASSERT_EQ(trained.size(), 3u);
  for (size_t m = 0; m < trained.size(); ++m) {
    expect_generative_figures(trained[m], *gan_specs()[m], gan_config());
    const auto& metrics = trained[m].metrics;
    ASSERT_TRUE(metrics.count("d_loss") && metrics.count("js"));
    EXPECT_TRUE(std::isfinite(metrics.at("d_loss")) && metrics.at("d_loss") > 0.0);
    EXPECT_GE(metrics.at("js"), 0.0);
    EXPECT_LE(metrics.at("js"), std::log(2.0));
    EXPECT_DOUBLE_EQ(metrics.at("js"), js_from_discriminator_bce(metrics.at("d_loss")));
    EXPECT_FALSE(metrics.count("elbo_train"));
  }
}

// Without a feature net (classes given by the job) there is no FID and no mode coverage, but the
// samples, the diversity figure and the JS estimate are there.
TEST(GenerativeEval, WithoutFeatureNetThereIsNoFidButSamplesAndJs) {
  FamilyConfig config = gan_config();
  config.steps = 5;
  const auto trained = train_chunk(config, {gan_specs()[0]}, world().eval_without_net, options());
  ASSERT_EQ(trained.size(), 1u);
  const auto& m = trained[0].metrics;
  EXPECT_EQ(static_cast<int64_t>(trained[0].samples.size()), (config.sample_grid + kInterpolationImages) * kPixels);
  for (const char* absent : {"fid", "modes_found", "modes_expected", "mode_tv", "generated_share_0"}) {
    EXPECT_FALSE(m.count(absent)) << absent;
  }
  EXPECT_TRUE(m.count("diversity_ratio") && m.count("js") && m.count("d_loss"));
}

// A model's grid, FID and the rest do not depend on its batch-mates.
TEST(GenerativeEval, FiguresOfAModelDoNotDependOnItsBatch) {
  for (const FamilyConfig& base : {vae_config(), gan_config()}) {
    SCOPED_TRACE(base.name);
    FamilyConfig config = base;
    config.steps = 10;
    const auto& specs = config.name == "vae" ? vae_specs() : gan_specs();
    const auto batch = train_chunk(config, specs, world().eval, options());
    const auto alone = train_chunk(config, {specs[1]}, world().eval, options());
    ASSERT_EQ(batch[1].samples.size(), alone[0].samples.size());
    EXPECT_LE(max_abs_diff(batch[1].samples.data(), alone[0].samples.data(),
                           static_cast<int64_t>(alone[0].samples.size())),
              1e-5);
    EXPECT_EQ(batch[1].status, alone[0].status);
    for (const auto& [name, value] : alone[0].metrics) {
      ASSERT_TRUE(batch[1].metrics.count(name)) << name;
      EXPECT_NEAR(batch[1].metrics.at(name), value, 1e-4 * (1.0 + std::fabs(value))) << name;
    }
    // Other models have other grids (the check above is not comparing constants).
    EXPECT_GT(max_abs_diff(batch[0].samples.data(), batch[1].samples.data(), kPixels), 1e-3);
  }
}

// evaluate_generative straight on hand-made weights [M, P] (each model given by its own row).
std::vector<TrainedModel> evaluate(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                                   const std::vector<float>& weights, const EvalData& data,
                                   const std::vector<std::map<std::string, double>>& known = {}) {
  std::vector<TrainedModel> out(specs.size());
  for (size_t m = 0; m < specs.size(); ++m) {
    out[m].id = specs[m]->id;
    if (m < known.size()) out[m].metrics = known[m];
  }
  evaluate_generative(config, specs, weights, data, options(), out);
  return out;
}

std::vector<float> init_weights(const FamilyConfig& config, const std::vector<uint64_t>& seeds) {
  const Layout layout = find_family(config.name).layout(config);
  const int64_t p = layout_size(layout);
  std::vector<float> weights(seeds.size() * p);
  for (size_t m = 0; m < seeds.size(); ++m) init_flat_params(weights.data() + m * p, layout, seeds[m]);
  return weights;
}

// Every model's grid comes from one shared set of codes: two models with identical weights but
// different seeds have identical grids, while their FID codes (their own seeds) differ.
TEST(GenerativeEval, GridsComeFromCodesSharedByEveryModel) {
  for (const FamilyConfig& config : {vae_config(), gan_config()}) {
    SCOPED_TRACE(config.name);
    const auto& specs = config.name == "vae" ? vae_specs() : gan_specs();
    ASSERT_NE(specs[0]->seed, specs[2]->seed);
    const auto out = evaluate(config, {specs[0], specs[2]}, init_weights(config, {7, 7}), world().eval_without_net);
    ASSERT_EQ(out[0].samples.size(), out[1].samples.size());
    EXPECT_EQ(out[0].samples, out[1].samples);
    EXPECT_NE(out[0].metrics.at("diversity_ratio"), out[1].metrics.at("diversity_ratio"));
    // And another model's weights give another grid from the same codes.
    const auto other = evaluate(config, {specs[0]}, init_weights(config, {8}), world().eval_without_net);
    EXPECT_GT(max_abs_diff(other[0].samples.data(), out[0].samples.data(), kPixels), 1e-4);
  }
}

// A class-conditional generator's grid cycles through the classes (image i has class slot i mod K);
// its interpolation row varies the code only, in the class of the row's first image (grid image 0).
// Checked with a generator whose output depends on the label alone (the z columns of its first
// layer zeroed).
TEST(GenerativeEval, ConditionalGridCyclesTheClassesAndTheInterpolationKeepsOne) {
  FamilyConfig config = gan_config();
  config.condition = "label";
  config.sample_grid = 7;
  const Layout layout = find_family("gan").layout(config);
  std::vector<float> weights = init_weights(config, {5});
  const ParamLayout& fc = find_param(layout, "generator.fc.weight");  // [flat, latent + K]
  const int64_t inputs = fc.shape[1];
  for (int64_t row = 0; row < fc.shape[0]; ++row)
    for (int64_t col = 0; col < config.latent; ++col) weights[fc.offset + row * inputs + col] = 0.0f;
  const auto out = evaluate(config, {gan_specs()[0]}, weights, world().eval_without_net);
  const TrainedModel& model = out[0];
  ASSERT_EQ(static_cast<int64_t>(model.samples.size()), (7 + kInterpolationImages) * kPixels);
  for (int64_t i = 0; i < 7; ++i) {
    for (int64_t j = 0; j < i; ++j) {
      const double diff = max_abs_diff(image(model, i), image(model, j), kPixels);
      if (i % 3 == j % 3) {
        EXPECT_EQ(diff, 0.0) << "grid images " << j << " and " << i << " have the same class";
      } else {
        EXPECT_GT(diff, 1e-5) << "grid images " << j << " and " << i << " have different classes";
      }
    }
  }
  for (int64_t i = 7; i < 7 + kInterpolationImages; ++i) {
    EXPECT_EQ(max_abs_diff(image(model, i), image(model, 0), kPixels), 0.0) << "interpolation image " << i - 7;
  }
}

// latent_temperature T scales the noise of generated codes only. A code's noise enters the generator through
// one linear map (a gan's generator.fc on z, a standard vae's decoder.fc, a mixture vae's scale_tril), so
// temperature 0.5 must give exactly the images of the same model with that map halved (exact in floats);
// a mixture vae's component column stays unscaled, so each image keeps its component.
TEST(GenerativeEval, LatentTemperatureScalesTheNoiseOnly) {
  FamilyConfig mixture = vae_config();
  mixture.latent_density = "mixture";
  mixture.latent_components = 3;
  for (const FamilyConfig& base : {gan_config(), vae_config(), mixture}) {
    SCOPED_TRACE(base.name + " " + base.latent_density);
    const Layout layout = find_family(base.name).layout(base);
    std::vector<float> weights = init_weights(base, {11});
    std::vector<float> halved = weights;
    if (base.latent_density == "mixture") {
      // Distinct, well-separated components with their own weights, so a changed component would show.
      const auto p = view_params(torch::from_blob(weights.data(), {1, layout_size(layout)}), layout);
      p.at("latent_density.logits").copy_(torch::tensor({0.0, 0.5, -0.5}).view({1, 3}));
      p.at("latent_density.means").copy_(torch::linspace(-3.0, 3.0, 3 * base.latent).view({1, 3, base.latent}));
      p.at("latent_density.scale_tril").copy_(0.7 * torch::eye(base.latent).expand({1, 3, base.latent, base.latent}));
      halved = weights;
      const ParamLayout& factor = find_param(layout, "latent_density.scale_tril");
      for (int64_t i = 0; i < factor.numel(); ++i) halved[factor.offset + i] *= 0.5f;
    } else {
      const ParamLayout& map = find_param(layout, base.name == "gan" ? "generator.fc.weight" : "decoder.fc.weight");
      const int64_t inputs = map.shape[1];  // gan: latent (+ K when conditional); vae: latent
      for (int64_t row = 0; row < map.shape[0]; ++row)
        for (int64_t col = 0; col < base.latent; ++col) halved[map.offset + row * inputs + col] *= 0.5f;
    }
    FamilyConfig cool = base;
    cool.latent_temperature = 0.5;
    const auto& specs = base.name == "vae" ? vae_specs() : gan_specs();
    const auto tempered = evaluate(cool, {specs[0]}, weights, world().eval);
    const auto scaled = evaluate(base, {specs[0]}, halved, world().eval);
    const auto plain = evaluate(base, {specs[0]}, weights, world().eval);
    EXPECT_EQ(tempered[0].samples, scaled[0].samples);
    EXPECT_EQ(tempered[0].metrics.at("fid"), scaled[0].metrics.at("fid"));
    EXPECT_EQ(tempered[0].metrics.at("mode_tv"), scaled[0].metrics.at("mode_tv"));
    EXPECT_GT(max_abs_diff(tempered[0].samples.data(), plain[0].samples.data(), kPixels), 1e-4) << "T = 0.5 changed nothing";
    EXPECT_LT(tempered[0].metrics.at("diversity_ratio"), plain[0].metrics.at("diversity_ratio"));
  }
}

// fid_samples is how many generated images are scored: every generated share is a whole number of them.
TEST(GenerativeEval, FidSamplesIsHowManyImagesAreScored) {
  // A trained vae: its images fall in the model's classes (an untrained generator's may all fall outside).
  const std::vector<float> weights = train_chunk(vae_config(), {vae_specs()[0]}, world().eval, options())[0].weights;
  std::vector<std::vector<double>> shares;
  for (const int64_t n : {32, 160}) {
    FamilyConfig config = vae_config();
    config.fid_samples = n;
    const auto scored = evaluate(config, {vae_specs()[0]}, weights, world().eval);
    shares.emplace_back();
    for (int slot = 0; slot < 3; ++slot) {
      const double share = scored[0].metrics.at("generated_share_" + std::to_string(slot));
      EXPECT_NEAR(share * static_cast<double>(n), std::round(share * static_cast<double>(n)), 1e-9) << "n " << n;
      shares.back().push_back(share);
    }
    EXPECT_TRUE(std::isfinite(scored[0].metrics.at("fid")) && std::isfinite(scored[0].metrics.at("real_fid"))) << n;
  }
  EXPECT_GT(shares[1][0] + shares[1][1] + shares[1][2], 0.0) << "no image in the model's classes: nothing was tested";
  EXPECT_NE(shares[0], shares[1]);
}

// Generators that output one constant image are collapsed (diversity 0); they leave the figures of
// a working model evaluated with them alone, and the feature net finds at most one class among them.
TEST(GenerativeEval, ConstantGeneratorIsMarkedCollapsed) {
  // A trained vae as the working model, the same vae with its output layer's weights zeroed
  // (every image = sigmoid(bias)) as the collapsed one.
  const auto trained = train_chunk(vae_config(), {vae_specs()[0]}, world().eval, options());
  ASSERT_EQ(trained[0].status, "ok") << "diversity_ratio " << trained[0].metrics.at("diversity_ratio");
  std::vector<float> weights = trained[0].weights;
  const Layout vae_layout = find_family("vae").layout(vae_config());
  const ParamLayout& out_w = find_param(vae_layout, "decoder.out.weight");
  std::vector<float> flat = weights;
  std::fill_n(flat.begin() + out_w.offset, out_w.numel(), 0.0f);
  flat.insert(flat.begin(), weights.begin(), weights.end());  // [working, collapsed]
  const auto vae = evaluate(vae_config(), {vae_specs()[0], vae_specs()[1]}, flat, world().eval);
  EXPECT_EQ(vae[0].status, "");  // evaluate_generative only ever sets "collapsed"
  // The re-evaluated images come from a batch of another model count than in training, which a BLAS may
  // block (and round) differently: float rounding (eps 1.2e-7) of the generator, averaged over the
  // images, so 1e-6 relative as for FID below, not a double-precision bound.
  EXPECT_NEAR(vae[0].metrics.at("diversity_ratio"), trained[0].metrics.at("diversity_ratio"),
              1e-6 * trained[0].metrics.at("diversity_ratio"));
  EXPECT_NEAR(vae[0].metrics.at("fid"), trained[0].metrics.at("fid"), 1e-6 * trained[0].metrics.at("fid"));
  EXPECT_EQ(vae[1].status, "collapsed");
  EXPECT_LT(vae[1].metrics.at("diversity_ratio"), kCollapseDiversity);
  EXPECT_NEAR(vae[1].metrics.at("diversity_ratio"), 0.0, 1e-6);
  EXPECT_LE(vae[1].metrics.at("modes_found"), 1.0);
  EXPECT_GT(vae[1].metrics.at("fid"), vae[0].metrics.at("fid"));
  // The real-image floor depends on the model's data, not on its weights.
  EXPECT_EQ(vae[0].metrics.at("real_fid"), trained[0].metrics.at("real_fid"));
  EXPECT_EQ(vae[0].metrics.at("real_mode_tv"), trained[0].metrics.at("real_mode_tv"));
  EXPECT_LT(vae[1].metrics.at("real_fid"), vae[1].metrics.at("fid"));
  // Reconstructions depend on the weights, not on the batch they are evaluated in; the collapsed vae
  // reconstructs every image as the image it generates, so both are filed alike.
  EXPECT_NEAR(vae[0].metrics.at("reconstruction_fid"), trained[0].metrics.at("reconstruction_fid"),
              1e-6 * trained[0].metrics.at("reconstruction_fid"));
  EXPECT_EQ(vae[1].metrics.at("reconstruction_mode_tv"), vae[1].metrics.at("mode_tv"));
  EXPECT_NEAR(vae[1].metrics.at("reconstruction_fid"), vae[1].metrics.at("fid"), 1e-6 * vae[1].metrics.at("fid"));
  EXPECT_LT(vae[0].metrics.at("reconstruction_fid"), vae[1].metrics.at("reconstruction_fid"));

  // A gan whose generator weights are all zero: every image is sigmoid(0) = 1/2. Its d_loss gives js.
  const FamilyConfig config = gan_config();
  const Layout layout = find_family("gan").layout(config);
  std::vector<float> gan_weights = init_weights(config, {3});
  std::fill_n(gan_weights.begin(), generator_param_count(layout), 0.0f);
  const double log4 = 2.0 * std::log(2.0);
  const auto gan = evaluate(config, {gan_specs()[1]}, gan_weights, world().eval, {{{"d_loss", log4}}});
  EXPECT_EQ(gan[0].status, "collapsed");
  EXPECT_LT(gan[0].metrics.at("diversity_ratio"), kCollapseDiversity);
  for (float v : gan[0].samples) ASSERT_EQ(v, 0.5f);
  EXPECT_LE(gan[0].metrics.at("modes_found"), 1.0);
  EXPECT_NEAR(gan[0].metrics.at("js"), 0.0, 1e-12) << "D loss 2 log 2: D cannot tell real from fake";
}

}  // namespace
}  // namespace genzoo::test
