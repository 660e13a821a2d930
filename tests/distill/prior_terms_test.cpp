// Tests for src/distill/prior_terms.cpp: the closed-form KL of a mean-field Gaussian to a
// diagonal-plus-low-rank prior against a Monte Carlo estimate, and the quadratic form against the
// double-precision Woodbury of priors/low_rank_gaussian.h, one student and a batch of mixed ranks.
#include "distill/prior_terms.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "common/rng.h"

namespace genzoo::test {
namespace {

using priors::LowRankGaussian;

LowRankGaussian random_prior(int64_t p, int64_t r, uint64_t seed) {
  Rng rng(seed);
  LowRankGaussian g;
  g.rank = r;
  for (int64_t i = 0; i < p; ++i) {
    g.mean.push_back(rng.normal());
    g.diag.push_back(0.2 + 0.8 * rng.uniform());
  }
  for (int64_t i = 0; i < p * r; ++i) g.factor.push_back(0.5 * rng.normal());
  return g;
}

torch::Tensor row_of(const std::vector<double>& values) {
  return torch::tensor(std::vector<float>(values.begin(), values.end())).unsqueeze(0);
}

TEST(PriorTerms, KlOfAMeanFieldGaussianMatchesMonteCarlo) {
  constexpr int64_t kP = 5, kSamples = 200000;
  const LowRankGaussian g = random_prior(kP, 2, 3);
  Rng rng(11);
  std::vector<double> mu(kP), log_sigma(kP);
  for (int64_t i = 0; i < kP; ++i) {
    mu[i] = g.mean[i] + 0.5 * rng.normal();
    log_sigma[i] = -1.0 + rng.uniform();
  }
  const double closed =
      distill::kl_mean_field(distill::prior_tensors({&g}, torch::kCPU), row_of(mu), row_of(log_sigma))[0].item<double>();
  // KL = E_q[log q(w) - log p(w)], w ~ q, in double.
  double sum = 0.0, sum_sq = 0.0;
  std::vector<double> w(kP);
  for (int64_t s = 0; s < kSamples; ++s) {
    double log_q = 0.0;
    for (int64_t i = 0; i < kP; ++i) {
      const double e = rng.normal();
      w[i] = mu[i] + std::exp(log_sigma[i]) * e;
      log_q += -0.5 * e * e - log_sigma[i] - 0.5 * std::log(2.0 * M_PI);
    }
    const double d = log_q - g.log_density(w);
    sum += d;
    sum_sq += d * d;
  }
  const double mean = sum / kSamples, se = std::sqrt((sum_sq / kSamples - mean * mean) / kSamples);
  EXPECT_NEAR(closed, mean, 5.0 * se + 1e-4 * std::fabs(closed)) << "standard error " << se;
  EXPECT_GT(closed, 0.0);
}

TEST(PriorTerms, KlIsZeroForTheDiagonalPriorItself) {
  LowRankGaussian g = random_prior(4, 0, 5);
  std::vector<double> log_sigma;
  for (double d : g.diag) log_sigma.push_back(0.5 * std::log(d));
  const double kl =
      distill::kl_mean_field(distill::prior_tensors({&g}, torch::kCPU), row_of(g.mean), row_of(log_sigma))[0].item<double>();
  EXPECT_NEAR(kl, 0.0, 1e-5);
}

TEST(PriorTerms, QuadraticFormOfABatchOfMixedRanksIsEachPriorsOwn) {
  const LowRankGaussian a = random_prior(6, 3, 7), b = random_prior(6, 0, 8), c = random_prior(6, 1, 9);
  const distill::PriorTensors batch = distill::prior_tensors({&a, &b, &c}, torch::kCPU);
  Rng rng(4);
  std::vector<std::vector<double>> points(3, std::vector<double>(6));
  for (auto& x : points)
    for (double& v : x) v = rng.normal();
  const auto w = torch::cat({row_of(points[0]), row_of(points[1]), row_of(points[2])});
  const auto q = distill::prior_quadratic(batch, w);
  const std::vector<const LowRankGaussian*> gaussians = {&a, &b, &c};
  for (int m = 0; m < 3; ++m) {
    const double expected = gaussians[m]->mahalanobis(&points[m]);
    EXPECT_NEAR(q[m].item<double>(), expected, 1e-4 * expected) << m;
    EXPECT_NEAR(batch.log_det[m].item<double>(), priors::precision_factor(*gaussians[m]).log_det, 1e-4) << m;
  }
  const LowRankGaussian shorter = random_prior(5, 1, 1);
  EXPECT_THROW(distill::prior_tensors({&a, &shorter}, torch::kCPU), DistillError);
}

}  // namespace
}  // namespace genzoo::test
