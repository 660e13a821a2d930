// Tests for src/distill/student_weights.cpp on a linear-Gaussian model, whose posterior is known in closed
// form: y = X w + ε, ε ~ N(0, s² I), prior N(m, Σ) give N(μ*, Λ⁻¹) with Λ = Σ⁻¹ + XᵀX / s² and
// μ* = Λ⁻¹ (Σ⁻¹ m + Xᵀ y / s²). The mean-field optimum of KL(q ‖ p) - E_q log p(y | w) is q's mean = μ*
// and σ_i² = 1 / Λ_ii (exact for a Gaussian posterior); the MAP estimate is μ*.
#include "distill/student_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/rng.h"
#include "models/torch_family.h"

namespace genzoo::test {
namespace {

using priors::LowRankGaussian;

struct LinearGaussian {
  static constexpr int64_t kP = 3, kN = 40;
  static constexpr double kNoise = 0.09;  // s²
  torch::Tensor x, y;                     // [n, P], [n] (double)
  LowRankGaussian prior;
  torch::Tensor posterior_mean, posterior_precision;  // μ*, Λ

  LinearGaussian() {
    Rng rng(21);
    std::vector<double> xs, ys;
    const std::vector<double> truth = {0.8, -0.5, 0.3};
    for (int64_t i = 0; i < kN; ++i) {
      double dot = 0.0;
      for (int64_t j = 0; j < kP; ++j) {
        xs.push_back(rng.normal());
        dot += xs.back() * truth[j];
      }
      ys.push_back(dot + std::sqrt(kNoise) * rng.normal());
    }
    x = torch::tensor(xs, torch::kDouble).view({kN, kP});
    y = torch::tensor(ys, torch::kDouble);
    prior.mean = {0.2, 0.1, -0.1};
    prior.diag = {0.05, 0.08, 0.03};
    prior.factor = {0.1, -0.05, 0.08};
    prior.rank = 1;
    auto sigma = torch::diag(torch::tensor(prior.diag, torch::kDouble)) +
                 torch::outer(torch::tensor(prior.factor, torch::kDouble), torch::tensor(prior.factor, torch::kDouble));
    const auto sigma_inv = torch::inverse(sigma);
    posterior_precision = sigma_inv + x.t().mm(x) / kNoise;
    posterior_mean = torch::linalg_solve(
        posterior_precision, sigma_inv.mv(torch::tensor(prior.mean, torch::kDouble)) + x.t().mv(y) / kNoise);
  }
  // Per-sample negative log-likelihood (nats, up to a constant) of weights w [M, P]: [M].
  torch::Tensor data_term(const torch::Tensor& w) const {
    const auto residual = y.to(torch::kFloat).unsqueeze(0) - w.mm(x.to(torch::kFloat).t());
    return residual.pow(2).sum(1) / (2.0 * kNoise) / static_cast<double>(kN);
  }
};

TEST(StudentWeights, VariationalFitOfALinearGaussianModelIsItsExactMeanFieldPosterior) {
  const LinearGaussian model;
  distill::StudentWeightsSpec spec;
  spec.start.assign(model.prior.mean.begin(), model.prior.mean.end());
  spec.variational = true;
  spec.prior = &model.prior;
  spec.samples = LinearGaussian::kN;
  spec.lr = 3e-3;
  spec.sigma_lr = 3e-2;
  distill::StudentWeights weights({spec}, torch::kCPU);
  std::vector<torch::Generator> generators = {noise_generator(5)};
  constexpr int kSteps = 8000, kAveraged = 3000;  // Polyak-average the tail: one-sample gradients are noisy
  auto mean_sum = torch::zeros({LinearGaussian::kP}, torch::kDouble), std_sum = torch::zeros({LinearGaussian::kP}, torch::kDouble);
  for (int step = 1; step <= kSteps; ++step) {
    weights.step(model.data_term(weights.draw(generators)));
    if (step > kSteps - kAveraged) {
      mean_sum += weights.mean()[0].to(torch::kDouble);
      std_sum += weights.std()[0].to(torch::kDouble);
    }
  }
  for (int64_t i = 0; i < LinearGaussian::kP; ++i) {
    const double exact_sd = 1.0 / std::sqrt(model.posterior_precision[i][i].item<double>());
    const double mean = mean_sum[i].item<double>() / kAveraged, sd = std_sum[i].item<double>() / kAveraged;
    EXPECT_NEAR(mean, model.posterior_mean[i].item<double>(), 0.1 * exact_sd) << i;
    EXPECT_NEAR(sd / exact_sd, 1.0, 0.1) << i << ": sd " << sd << " exact " << exact_sd;
  }
}

TEST(StudentWeights, MapOfALinearGaussianModelIsThePosteriorMean) {
  const LinearGaussian model;
  distill::StudentWeightsSpec spec;
  spec.start = {0.0f, 0.0f, 0.0f};
  spec.prior = &model.prior;
  spec.samples = LinearGaussian::kN;
  spec.lr = 1e-2;
  distill::StudentWeights weights({spec}, torch::kCPU);
  std::vector<torch::Generator> generators = {noise_generator(1)};
  for (int step = 0; step < 4000; ++step) weights.step(model.data_term(weights.draw(generators)));
  for (int64_t i = 0; i < LinearGaussian::kP; ++i) {
    const double exact_sd = 1.0 / std::sqrt(model.posterior_precision[i][i].item<double>());
    EXPECT_NEAR(weights.mean()[0][i].item<double>(), model.posterior_mean[i].item<double>(), 0.02 * exact_sd) << i;
  }
}

// Students of a batch are independent: each one's path is what it would be alone.
TEST(StudentWeights, AStudentsPathDoesNotDependOnItsBatchMates) {
  const LinearGaussian model;
  distill::StudentWeightsSpec variational, point;
  variational.start.assign(model.prior.mean.begin(), model.prior.mean.end());
  variational.variational = true;
  variational.prior = &model.prior;
  variational.samples = LinearGaussian::kN;
  point.start = {0.1f, 0.2f, 0.3f};
  distill::StudentWeights alone({variational}, torch::kCPU), batch({point, variational}, torch::kCPU);
  std::vector<torch::Generator> g_alone = {noise_generator(9)}, g_batch = {noise_generator(3), noise_generator(9)};
  for (int step = 0; step < 50; ++step) {
    alone.step(model.data_term(alone.draw(g_alone)));
    batch.step(model.data_term(batch.draw(g_batch)));
  }
  EXPECT_TRUE(torch::equal(alone.mean()[0], batch.mean()[1]));
  EXPECT_TRUE(torch::equal(alone.std()[0], batch.std()[1]));
}

}  // namespace
}  // namespace genzoo::test
