// Tests for src/priors/laplace.cpp: the stacked per-sample gradients against one backward pass per
// sample, the Laplace diagonal 1 / (Σ g² + λ), and the refusals.
#include "priors/laplace.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "models/torch_family.h"

namespace genzoo::test {
namespace {

ImageSet random_images(int64_t n, uint64_t seed) {
  Rng rng(seed);
  ImageSet set;
  set.rows = set.cols = 28;
  for (int64_t i = 0; i < n * kImagePixels; ++i) {
    set.bytes.push_back(static_cast<uint8_t>(rng.uniform() * 255.0));
    set.pixels.push_back(pixel_value(set.bytes.back()));
  }
  set.labels.assign(n, 0);
  return set;
}

TEST(Laplace, StackedGradientsEqualOneBackwardPassPerSample) {
  FamilyConfig config;
  config.name = "linear_ae";
  config.latent = 2;
  const Layout layout = find_family("linear_ae").layout(config);
  const int64_t p = layout_size(layout);
  std::vector<float> weights(p);
  Rng rng(4);
  for (float& w : weights) w = static_cast<float>(0.1 * (rng.uniform() - 0.5));
  const ImageSet train = random_images(7, 2);
  const std::vector<int64_t> samples = {0, 3, 5, 6, 1};
  const priors::GradientMoments moments = priors::gradient_moments(config, layout, weights.data(), train, samples, 9);

  std::vector<double> squares(p, 0.0), sums(p, 0.0);
  const TorchFamily& family = find_family("linear_ae").torch_impl();
  for (int64_t s : samples) {
    torch::Tensor flat = torch::from_blob(weights.data(), {1, p}).clone().requires_grad_(true);
    const torch::Tensor x = torch::from_blob(const_cast<float*>(train.image(s)), {1, 1, kImagePixels}).clone();
    std::vector<torch::Generator> generators{noise_generator(1)};
    LossContext ctx;
    ctx.config = &config;
    ctx.training = false;
    ctx.generators = &generators;
    family.loss(view_params(flat, layout), x, ctx).sum().backward();
    const torch::Tensor g = flat.grad().to(torch::kFloat64).contiguous();
    for (int64_t i = 0; i < p; ++i) squares[i] += g.data_ptr<double>()[i] * g.data_ptr<double>()[i], sums[i] += g.data_ptr<double>()[i];
  }
  double largest = 0.0;
  for (int64_t i = 0; i < p; ++i) largest = std::max(largest, squares[i]);
  ASSERT_GT(largest, 0.0);
  for (int64_t i = 0; i < p; ++i) {
    EXPECT_NEAR(moments.sum_squares[i], squares[i], 1e-5 * largest) << i;
    EXPECT_NEAR(moments.sum[i], sums[i], 1e-4 * std::sqrt(largest)) << i;
  }
  const std::vector<double> variance = moments.variance();
  for (int64_t i = 0; i < p; ++i) {
    EXPECT_NEAR(variance[i], std::max(squares[i] / 5.0 - sums[i] * sums[i] / 25.0, 0.0), 1e-5 * largest) << i;
  }

  const priors::LowRankGaussian g = priors::laplace_posterior(config, layout, weights.data(), train, samples, 2.0, 9);
  EXPECT_EQ(g.rank, 0);
  for (int64_t i = 0; i < p; ++i) {
    EXPECT_EQ(g.mean[i], weights[i]);
    EXPECT_NEAR(g.diag[i], 1.0 / (squares[i] + 2.0), 1e-5 / (squares[i] + 2.0)) << i;
  }
}

TEST(Laplace, RefusesWhatHasNoLikelihoodOrNoData) {
  FamilyConfig config;
  config.name = "gan";
  const Layout layout = find_family("gan").layout(config);
  std::vector<float> weights(layout_size(layout), 0.0f);
  const ImageSet train = random_images(2, 1);
  EXPECT_FALSE(priors::has_likelihood("gan"));
  EXPECT_TRUE(priors::has_likelihood("vae"));
  EXPECT_THROW(priors::laplace_posterior(config, layout, weights.data(), train, {0}, 1.0, 1), ReduceError);
  config.name = "linear_ae";
  const Layout linear = find_family("linear_ae").layout(config);
  std::vector<float> w(layout_size(linear), 0.0f);
  EXPECT_THROW(priors::laplace_posterior(config, linear, w.data(), train, {}, 1.0, 1), ReduceError);
}

}  // namespace
}  // namespace genzoo::test
