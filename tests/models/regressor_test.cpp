// Tests for src/models/regressor.cpp: the layout is seed 004's bias-free layered network on the gaussian
// source's dimension, the prediction and squared error are the brute-force sums on rows whose last
// column is the target, and a chunk trained on a real plan ends far below its trivial predictor (the
// variance of its targets), which the trainer computes from the target column alone.
#include "models/regressor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/rng.h"
#include "data/gaussian_source.h"
#include "helpers.h"
#include "job/job.h"
#include "priors/alignment.h"
#include "train/trainer.h"

namespace genzoo::test {
namespace {

FamilyConfig regressor_config(int64_t d, int64_t hidden, int64_t hidden2) {
  FamilyConfig config;
  config.name = "regressor";
  config.input_dim = d;
  config.hidden = hidden;
  config.hidden2 = hidden2;
  return config;
}

TEST(Regressor, LayoutIsSeed004sBiasFreeLayeredNetwork) {
  const Family& family = find_family("regressor");
  EXPECT_TRUE(family.torch_impl().regresses());
  EXPECT_FALSE(family.torch_impl().classifies());
  EXPECT_FALSE(family.torch_impl().reconstructs());
  EXPECT_EQ(regressor_widths(regressor_config(10, 100, 50)), (std::vector<int64_t>{10, 100, 50, 1}));
  EXPECT_EQ(regressor_widths(regressor_config(10, 50, 0)), (std::vector<int64_t>{10, 50, 1}));
  const Layout layout = family.layout(regressor_config(10, 10, 10));
  std::vector<std::string> names;
  for (const auto& p : layout) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"layer2.weight", "layer3.weight", "layer4.weight"}));
  EXPECT_EQ(layout_size(layout), 10 * 10 + 10 * 10 + 10);
  EXPECT_DOUBLE_EQ(family.flops_per_sample(regressor_config(10, 50, 0)), 6.0 * (10 * 50 + 50));
}

// f(x) and (f(x) - y)² of M = 2 models on rows [x, y] against loops in double.
TEST(Regressor, PredictionAndSquaredErrorAreTheBruteForceSums) {
  const FamilyConfig config = regressor_config(4, 6, 3);
  const Family& family = find_family("regressor");
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const int64_t p = layout_size(layout), models = 2, batch = 3, d = 4;
  auto flat = torch::empty({models, p});
  for (int64_t m = 0; m < models; ++m) init_flat_params(flat[m].data_ptr<float>(), layout, 30 + m);
  Rng rng(5);
  auto x = torch::empty({models, batch, d + 1});
  for (int64_t i = 0; i < x.numel(); ++i) x.data_ptr<float>()[i] = static_cast<float>(rng.normal());
  const auto params = view_params(flat, layout);
  const auto prediction = impl.predict(params, x);
  const auto loss = impl.sample_loss(params, x, torch::Tensor(), config);
  ASSERT_EQ(prediction.sizes(), (torch::IntArrayRef{models, batch, 1}));
  ASSERT_EQ(loss.sizes(), (torch::IntArrayRef{models, batch}));
  const std::vector<int64_t> widths = regressor_widths(config);
  for (int64_t m = 0; m < models; ++m) {
    const float* w = flat[m].data_ptr<float>();
    for (int64_t b = 0; b < batch; ++b) {
      const float* row = x[m][b].data_ptr<float>();
      std::vector<double> h(row, row + d);
      int64_t offset = 0;
      for (size_t t = 1; t < widths.size(); ++t) {
        std::vector<double> next(widths[t]);
        for (int64_t j = 0; j < widths[t]; ++j) {
          double z = 0.0;  // no bias
          for (int64_t i = 0; i < widths[t - 1]; ++i) z += static_cast<double>(w[offset + j * widths[t - 1] + i]) * h[i];
          next[j] = t + 1 < widths.size() ? std::max(z, 0.0) : z;
        }
        offset += widths[t] * widths[t - 1];
        h = next;
      }
      EXPECT_NEAR(prediction[m][b][0].item<double>(), h[0], 1e-5) << m << " " << b;
      EXPECT_NEAR(loss[m][b].item<double>(), std::pow(h[0] - row[d], 2), 1e-4) << m << " " << b;
    }
  }
  LossContext ctx;
  ctx.config = &config;
  EXPECT_TRUE(torch::allclose(impl.loss(params, x, ctx), loss.mean(1)));
}

TEST(Regressor, TrainsFarBelowTheVarianceOfItsTargets) {
  PlannedJob world;
  const std::string job =
      "name = \"regressor-test\"\nseed = 3\n[data]\nsource = \"gaussian\"\ntarget = \"linear\"\ntarget_noise = 0.1\n"
      "dimension = 5\nspectrum = [1, 1, 1, 1, 1]\npool = 400\ninclusion = 0.5\ntest_pool = 100\n"
      "[[family]]\nname = \"regressor\"\nmodels = 3\nhidden = 16\nsteps = 300\nbatch_size = 32\nlr = 1e-2\n";
  world.dataset = gaussian_dataset(parse_job(job, "<regressor-test>").data, 3);
  plan_on_dataset(world, job, "<regressor-test>");
  ASSERT_EQ(world.job.families[0].input_dim, 5);
  const auto& specs = world.family_specs[0];
  const auto trained = train_chunk(world.job.families[0], specs, world.eval, TrainOptions{});
  ASSERT_EQ(trained.size(), specs.size());
  const ImageSet& train = world.dataset.train;
  for (size_t m = 0; m < specs.size(); ++m) {
    double mean = 0.0, square = 0.0;
    const auto n = static_cast<double>(specs[m]->sample_indices.size());
    for (int64_t i : specs[m]->sample_indices) mean += train.image(i)[5] / n;
    for (int64_t i : specs[m]->sample_indices) square += std::pow(train.image(i)[5] - mean, 2) / n;
    EXPECT_NEAR(trained[m].metrics.at("trivial_loss"), square, 1e-6 * square) << m;
    EXPECT_EQ(trained[m].status, "ok") << m;
    // y = xᵀw + 0.1 ε with |w|² ~ 5: a ReLU net fits it to a small share of Var(y).
    EXPECT_LT(trained[m].final_loss, 0.05 * square) << m;
    EXPECT_LT(trained[m].test_loss, 0.1 * square) << m;
  }
}

}  // namespace
}  // namespace genzoo::test
