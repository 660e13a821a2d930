// Tests for src/models/mlp.cpp: the layout is seed 004's layered network with biases, the logits and
// the cross-entropy are the brute-force sums, the loss reads its labels from the context, and the
// classifier trains on a real plan to better than its trivial predictor (the entropy of its labels).
#include "models/mlp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "data/dataset.h"
#include "helpers.h"
#include "job/job.h"
#include "priors/alignment.h"
#include "train/trainer.h"

namespace genzoo::test {
namespace {

FamilyConfig mlp_config(int64_t hidden, int64_t hidden2) {
  FamilyConfig config;
  config.name = "mlp";
  config.hidden = hidden;
  config.hidden2 = hidden2;
  return config;
}

TEST(Mlp, LayoutIsSeed004sLayeredNetworkWithBiases) {
  const Family& family = find_family("mlp");
  EXPECT_TRUE(family.torch_impl().classifies());
  EXPECT_FALSE(family.torch_impl().reconstructs());
  EXPECT_EQ(mlp_widths(mlp_config(800, 50)), (std::vector<int64_t>{784, 800, 50, 10}));
  EXPECT_EQ(mlp_widths(mlp_config(50, 0)), (std::vector<int64_t>{784, 50, 10}));
  const Layout layout = family.layout(mlp_config(32, 16));
  std::vector<std::string> names;
  for (const auto& p : layout) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"layer2.weight", "layer2.bias", "layer3.weight", "layer3.bias", "layer4.weight",
                                             "layer4.bias"}));
  EXPECT_EQ(layout_size(layout), 32 * 784 + 32 + 16 * 32 + 16 + 10 * 16 + 10);
  EXPECT_EQ(layout_size(layout), layout_size(priors::layered_layout({{784, 32, 16, 10}, true, "relu"})));
  // 3 GEMMs (forward, two backward) of 2 FLOPs per multiply-add.
  EXPECT_DOUBLE_EQ(family.flops_per_sample(mlp_config(50, 0)), 6.0 * (784 * 50 + 50 * 10));
}

// Logits, per-sample cross-entropy and accuracy of M = 2 models against loops in double.
TEST(Mlp, LogitsCrossEntropyAndAccuracyAreTheBruteForceSums) {
  const FamilyConfig config = mlp_config(8, 5);
  const Family& family = find_family("mlp");
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const int64_t p = layout_size(layout), models = 2, batch = 3;
  auto flat = torch::empty({models, p});
  for (int64_t m = 0; m < models; ++m) init_flat_params(flat[m].data_ptr<float>(), layout, 40 + m);
  Rng rng(9);
  auto x = torch::empty({models, batch, 784});
  for (int64_t i = 0; i < x.numel(); ++i) x.data_ptr<float>()[i] = static_cast<float>(rng.uniform());
  const auto labels = torch::tensor({3, 0, 9, 1, 1, 7}, torch::kLong).view({models, batch});
  const auto params = view_params(flat, layout);
  const auto logits = impl.logits(params, x);
  const auto loss = impl.sample_loss(params, x, labels, config);
  const auto accuracy = impl.evaluation_terms(params, x, labels, config).at("accuracy");
  ASSERT_EQ(logits.sizes(), (torch::IntArrayRef{models, batch, 10}));
  ASSERT_EQ(loss.sizes(), (torch::IntArrayRef{models, batch}));

  for (int64_t m = 0; m < models; ++m) {
    const float* w = flat[m].data_ptr<float>();
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<double> h(x[m][b].data_ptr<float>(), x[m][b].data_ptr<float>() + 784);
      const std::vector<int64_t> widths = mlp_widths(config);
      int64_t offset = 0;
      for (size_t t = 1; t < widths.size(); ++t) {
        std::vector<double> next(widths[t]);
        for (int64_t j = 0; j < widths[t]; ++j) {
          double z = w[offset + widths[t] * widths[t - 1] + j];  // the bias follows the weight
          for (int64_t i = 0; i < widths[t - 1]; ++i) z += static_cast<double>(w[offset + j * widths[t - 1] + i]) * h[i];
          next[j] = t + 1 < widths.size() ? std::max(z, 0.0) : z;
        }
        offset += widths[t] * widths[t - 1] + widths[t];
        h = next;
      }
      double top = h[0], norm = 0.0;
      int64_t best = 0;
      for (int64_t c = 0; c < 10; ++c) {
        EXPECT_NEAR(logits[m][b][c].item<double>(), h[c], 1e-5) << m << " " << b << " " << c;
        if (h[c] > top) top = h[c], best = c;
      }
      for (int64_t c = 0; c < 10; ++c) norm += std::exp(h[c] - top);
      const int64_t y = labels[m][b].item<int64_t>();
      EXPECT_NEAR(loss[m][b].item<double>(), top + std::log(norm) - h[y], 1e-5);
      EXPECT_EQ(accuracy[m][b].item<double>(), best == y ? 1.0 : 0.0);
    }
  }
  // The training loss is the batch mean of the same cross-entropy, with the labels from the context.
  LossContext ctx;
  ctx.config = &config;
  ctx.labels = labels;
  EXPECT_TRUE(torch::allclose(impl.loss(params, x, ctx), loss.mean(1)));
  ctx.labels = torch::Tensor();
  EXPECT_THROW(impl.loss(params, x, ctx), TrainError);
}

// A chunk of classifiers on a planned job: the trivial loss is the entropy of each model's training
// labels, the test loss ends below it, and accuracy is stored per split.
TEST(Mlp, TrainsBelowItsTrivialPredictorAndStoresAccuracy) {
  PlannedJob world;
  world.dataset = synthetic_dataset(200, 40, 3, 5);
  plan_on_dataset(world,
                  "name = \"mlp-test\"\nseed = 2\n[data]\nnum_classes = 3\nclasses = [0, 1, 2]\nsamples_min = 60\n"
                  "samples_max = 150\n[[family]]\nname = \"mlp\"\nmodels = 4\nhidden = 16\nsteps = 60\nbatch_size = 16\n"
                  "lr = 1e-2\ninit = \"model\"\n",
                  "<mlp-test>");
  const auto& specs = world.family_specs[0];
  const auto trained = train_chunk(world.job.families[0], specs, world.eval, TrainOptions{});
  ASSERT_EQ(trained.size(), specs.size());
  for (size_t m = 0; m < specs.size(); ++m) {
    std::vector<double> counts(10, 0.0);
    for (int64_t i : specs[m]->sample_indices) ++counts[world.dataset.train.labels[i]];
    double entropy = 0.0;
    for (double c : counts) {
      const double q = c / static_cast<double>(specs[m]->sample_indices.size());
      if (q > 0) entropy -= q * std::log(q);
    }
    EXPECT_NEAR(trained[m].metrics.at("trivial_loss"), entropy, 1e-9) << m;
    EXPECT_EQ(trained[m].status, "ok") << m;
    EXPECT_LT(trained[m].final_loss, 0.5 * entropy) << m;
    EXPECT_GT(trained[m].metrics.at("accuracy_test"), 0.8) << m;
    EXPECT_GE(trained[m].metrics.at("accuracy_train"), trained[m].metrics.at("accuracy_test") - 0.2) << m;
  }
}

}  // namespace
}  // namespace genzoo::test
