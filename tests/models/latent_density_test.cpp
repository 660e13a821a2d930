// Tests for src/models/latent_density.cpp: EM against known mixtures and brute-force formulas, and
// robustness to degenerate inputs.
#include "models/latent_density.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/rng.h"

namespace genzoo::test {
namespace {

// log N(x | μ, Σ) of a 2-D Gaussian from Σ's determinant and inverse written out.
double log_normal_2d(const double* x, const double* mean, const double* sigma) {
  const double det = sigma[0] * sigma[3] - sigma[1] * sigma[2];
  const double a = x[0] - mean[0], b = x[1] - mean[1];
  const double quadratic = (sigma[3] * a * a - (sigma[1] + sigma[2]) * a * b + sigma[0] * b * b) / det;
  return -0.5 * quadratic - 0.5 * std::log(det) - std::log(2.0 * M_PI);
}

// log N(x | μ, Σ) in d dimensions by Gaussian elimination on Σ (partial pivoting): Σ⁻¹ (x - μ) and log det Σ
// from the pivots, without the Cholesky factor the code under test works with.
double log_normal_dense(const double* x, const double* mean, std::vector<double> sigma, int64_t d) {
  std::vector<double> v(d);
  for (int64_t i = 0; i < d; ++i) v[i] = x[i] - mean[i];
  const std::vector<double> offset = v;
  double log_det = 0.0;
  for (int64_t col = 0; col < d; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < d; ++r) {
      if (std::fabs(sigma[r * d + col]) > std::fabs(sigma[pivot * d + col])) pivot = r;
    }
    for (int64_t j = 0; j < d; ++j) std::swap(sigma[col * d + j], sigma[pivot * d + j]);
    std::swap(v[col], v[pivot]);
    log_det += std::log(std::fabs(sigma[col * d + col]));
    for (int64_t r = col + 1; r < d; ++r) {
      const double f = sigma[r * d + col] / sigma[col * d + col];
      for (int64_t j = col; j < d; ++j) sigma[r * d + j] -= f * sigma[col * d + j];
      v[r] -= f * v[col];
    }
  }
  for (int64_t i = d - 1; i >= 0; --i) {
    for (int64_t j = i + 1; j < d; ++j) v[i] -= sigma[i * d + j] * v[j];
    v[i] /= sigma[i * d + i];
  }
  double quadratic = 0.0;
  for (int64_t i = 0; i < d; ++i) quadratic += offset[i] * v[i];
  return -0.5 * quadratic - 0.5 * log_det - 0.5 * static_cast<double>(d) * std::log(2.0 * M_PI);
}

// Σ_c = L_c L_cᵀ, read back from the fitted factor.
std::vector<double> covariance_of(const GaussianMixture& m, int64_t c) {
  const int64_t d = m.dim;
  std::vector<double> sigma(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      for (int64_t k = 0; k < d; ++k) sigma[i * d + j] += m.scale_tril[(c * d + i) * d + k] * m.scale_tril[(c * d + j) * d + k];
    }
  }
  return sigma;
}

// Points from three well separated 2-D Gaussians with weights 0.5 / 0.3 / 0.2.
struct Clusters {
  std::vector<double> points;
  int64_t n = 0;
  std::vector<double> weights{0.5, 0.3, 0.2};
  std::vector<double> means{-6.0, 0.0, 5.0, 5.0, 5.0, -5.0};
  std::vector<double> stddevs{1.0, 0.5, 0.7, 1.5, 0.4, 0.4};  // per axis (diagonal covariances)
};

Clusters three_clusters(int64_t n) {
  Clusters c;
  Rng rng(11);
  for (int64_t p = 0; p < n; ++p) {
    const double u = rng.uniform();
    const int64_t k = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
    for (int64_t i = 0; i < 2; ++i) c.points.push_back(c.means[k * 2 + i] + c.stddevs[k * 2 + i] * rng.normal());
  }
  c.n = n;
  return c;
}

TEST(LatentDensity, OneComponentIsTheSampleMeanAndCovariance) {
  const Clusters c = three_clusters(500);
  const GaussianMixture fit = fit_gaussian_mixture(c.points, c.n, 2, 1, 3);
  double mean[2] = {0.0, 0.0}, sigma[4] = {0.0, 0.0, 0.0, 0.0};
  for (int64_t p = 0; p < c.n; ++p) {
    for (int i = 0; i < 2; ++i) mean[i] += c.points[p * 2 + i] / c.n;
  }
  for (int64_t p = 0; p < c.n; ++p) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) sigma[i * 2 + j] += (c.points[p * 2 + i] - mean[i]) * (c.points[p * 2 + j] - mean[j]) / c.n;
    }
  }
  EXPECT_NEAR(fit.logits[0], 0.0, 1e-12);
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(fit.means[i], mean[i], 1e-9);
  const auto fitted = covariance_of(fit, 0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(fitted[i], sigma[i], 1e-5 * (std::fabs(sigma[i]) + 1.0)) << i;  // + the ridge
  EXPECT_EQ(fit.scale_tril[1], 0.0) << "lower triangular";
}

// latent_shrinkage: one component's covariance keeps its variances and has its covariances scaled by 1 - λ
// (λ = 1: a diagonal Gaussian), on correlated 3-D points.
TEST(LatentDensity, ShrinkageScalesEachComponentsCovariancesTowardsItsDiagonal) {
  const int64_t n = 400, d = 3;
  Rng rng(5);
  std::vector<double> points;
  for (int64_t p = 0; p < n; ++p) {
    const double a = rng.normal(), b = rng.normal(), c = rng.normal();
    points.insert(points.end(), {a, 0.8 * a + 0.6 * b, -0.5 * a + 0.3 * b + 0.8 * c});
  }
  const auto plain = covariance_of(fit_gaussian_mixture(points, n, d, 1, 3), 0);
  ASSERT_GT(std::fabs(plain[1]), 0.5) << "the points are correlated";
  for (const double lambda : {0.3, 1.0}) {
    SCOPED_TRACE(lambda);
    const GaussianMixture shrunk = fit_gaussian_mixture(points, n, d, 1, 3, lambda);
    const auto sigma = covariance_of(shrunk, 0);
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        const double expected = i == j ? plain[i * d + j] : (1.0 - lambda) * plain[i * d + j];
        EXPECT_NEAR(sigma[i * d + j], expected, 1e-9 * (std::fabs(plain[i * d + i]) + 1.0)) << i << ", " << j;
      }
    }
  }
}

TEST(LatentDensity, EmRecoversAKnownMixture) {
  const Clusters c = three_clusters(3000);
  const GaussianMixture fit = fit_gaussian_mixture(c.points, c.n, 2, 3, 7);
  ASSERT_EQ(fit.components, 3);
  double weight_sum = 0.0;
  for (int64_t f = 0; f < 3; ++f) weight_sum += std::exp(fit.logits[f]);
  EXPECT_NEAR(weight_sum, 1.0, 1e-9);
  for (int64_t k = 0; k < 3; ++k) {
    // The fitted component nearest the true mean.
    int64_t best = 0;
    double best_distance = 1e300;
    for (int64_t f = 0; f < 3; ++f) {
      const double distance = std::hypot(fit.means[f * 2] - c.means[k * 2], fit.means[f * 2 + 1] - c.means[k * 2 + 1]);
      if (distance < best_distance) best_distance = distance, best = f;
    }
    SCOPED_TRACE("cluster " + std::to_string(k));
    EXPECT_LT(best_distance, 0.15);
    EXPECT_NEAR(std::exp(fit.logits[best]), c.weights[k], 0.03);
    const auto sigma = covariance_of(fit, best);
    for (int i = 0; i < 2; ++i) {
      const double variance = c.stddevs[k * 2 + i] * c.stddevs[k * 2 + i];
      EXPECT_NEAR(sigma[i * 3], variance, 0.15 * variance) << "axis " << i;
    }
    EXPECT_LT(std::fabs(sigma[1]), 0.1) << "independent axes";
  }
}

// mixture_log_likelihood against log Σ_c π_c N(x | μ_c, Σ_c) written out for two 2-D components; EM
// does not lower the likelihood, and three components fit three clusters better than one.
TEST(LatentDensity, LogLikelihoodMatchesTheFormulaAndEmImprovesIt) {
  GaussianMixture m{2, 2, {std::log(0.25), std::log(0.75)}, {0.0, 1.0, -2.0, 0.5}, {1.0, 0.0, 0.3, 0.8, 0.5, 0.0, -0.2, 1.2}};
  const std::vector<double> points{0.1, 0.2, -1.5, 0.4, 3.0, -1.0};
  double expected = 0.0;
  for (int p = 0; p < 3; ++p) {
    double total = 0.0;
    for (int c = 0; c < 2; ++c) {
      const auto sigma = covariance_of(m, c);
      total += std::exp(m.logits[c] + log_normal_2d(&points[p * 2], &m.means[c * 2], sigma.data()));
    }
    expected += std::log(total) / 3.0;
  }
  EXPECT_NEAR(mixture_log_likelihood(m, points, 3), expected, 1e-12);

  const Clusters c = three_clusters(1000);
  const double one_step = mixture_log_likelihood(fit_gaussian_mixture(c.points, c.n, 2, 3, 5, 0.0, 1), c.points, c.n);
  const double converged = mixture_log_likelihood(fit_gaussian_mixture(c.points, c.n, 2, 3, 5), c.points, c.n);
  const double single = mixture_log_likelihood(fit_gaussian_mixture(c.points, c.n, 2, 1, 5), c.points, c.n);
  EXPECT_GE(converged, one_step - 1e-9);
  EXPECT_GT(converged, single + 0.5) << "three clusters: a mixture is far likelier than one Gaussian";
}

// The same in 5 dimensions, with three random full-covariance components and 600 points (more than one block
// of the E-step's batched product, the last one partial), against Gaussian elimination on each Σ_c.
TEST(LatentDensity, LogLikelihoodMatchesDenseFormulaInFiveDimensions) {
  const int64_t d = 5, k = 3, n = 600;
  Rng rng(23);
  GaussianMixture m{k, d, {std::log(0.2), std::log(0.5), std::log(0.3)}, {}, {}};
  for (int64_t i = 0; i < k * d; ++i) m.means.push_back(2.0 * rng.normal());
  m.scale_tril.assign(k * d * d, 0.0);
  for (int64_t c = 0; c < k; ++c) {
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t j = 0; j < i; ++j) m.scale_tril[(c * d + i) * d + j] = 0.5 * rng.normal();
      m.scale_tril[(c * d + i) * d + i] = 0.5 + rng.uniform();
    }
  }
  std::vector<double> points;
  for (int64_t p = 0; p < n * d; ++p) points.push_back(3.0 * rng.normal());
  double expected = 0.0;
  for (int64_t p = 0; p < n; ++p) {
    double total = 0.0;
    for (int64_t c = 0; c < k; ++c) {
      total += std::exp(m.logits[c] + log_normal_dense(&points[p * d], &m.means[c * d], covariance_of(m, c), d));
    }
    expected += std::log(total) / static_cast<double>(n);
  }
  EXPECT_NEAR(mixture_log_likelihood(m, points, n), expected, 1e-9 * std::fabs(expected));
}

// Fewer points than components, identical points and non-finite codes give finite mixtures; the last
// falls back to N(0, I).
// One EM iteration written out densely, against the fit, which sums each component only over the points whose
// responsibility exceeds 1e-12 (and skips the exponentials of terms 69 nats below a point's best): two iterations
// of the fit are the dense M-step of the dense E-step of its first iteration. Three clusters, so most
// responsibilities are negligible and the skipping is exercised; 4 components, so one straddles two clusters and
// some are neither 0 nor 1; λ = 0.2, as the shipped jobs shrink.
TEST(LatentDensity, EmIterationMatchesTheDenseUpdate) {
  const Clusters clusters = three_clusters(900);
  const int64_t n = clusters.n, d = 2, k = 4;
  const double lambda = 0.2, no_tolerance = -std::numeric_limits<double>::infinity();
  const GaussianMixture first = fit_gaussian_mixture(clusters.points, n, d, k, 5, lambda, 1, no_tolerance);
  const GaussianMixture second = fit_gaussian_mixture(clusters.points, n, d, k, 5, lambda, 2, no_tolerance);

  // E-step: r_pc = π_c N(x_p | μ_c, Σ_c) / Σ_c' π_c' N(x_p | μ_c', Σ_c').
  std::vector<double> r(n * k);
  int64_t negligible = 0, split = 0;
  for (int64_t p = 0; p < n; ++p) {
    double total = 0.0;
    for (int64_t c = 0; c < k; ++c) {
      r[p * k + c] = std::exp(first.logits[c] + log_normal_2d(&clusters.points[p * d], &first.means[c * d],
                                                               covariance_of(first, c).data()));
      total += r[p * k + c];
    }
    for (int64_t c = 0; c < k; ++c) {
      r[p * k + c] /= total;
      negligible += r[p * k + c] < 1e-12;
      split += r[p * k + c] > 1e-3 && r[p * k + c] < 1.0 - 1e-3;
    }
  }
  ASSERT_GT(negligible, n) << "most responsibilities are negligible";
  ASSERT_GT(split, 0) << "some points are shared between components";

  // M-step: pulled by 0.01 points towards the sample's Gaussian, covariances x (1 - λ), a 1e-6 relative ridge.
  const double pull = 0.01;
  double mean[2] = {0.0, 0.0}, sample[4] = {0.0, 0.0, 0.0, 0.0};
  for (int64_t p = 0; p < n; ++p) {
    for (int i = 0; i < 2; ++i) mean[i] += clusters.points[p * d + i] / static_cast<double>(n);
  }
  for (int64_t p = 0; p < n; ++p) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        sample[i * 2 + j] += (clusters.points[p * d + i] - mean[i]) * (clusters.points[p * d + j] - mean[j]) / static_cast<double>(n);
      }
    }
  }
  const double ridge = 1e-6 * (sample[0] + sample[3]) / 2.0;
  for (int64_t c = 0; c < k; ++c) {
    SCOPED_TRACE("component " + std::to_string(c));
    double weight = 0.0, mu[2] = {pull * mean[0], pull * mean[1]};
    for (int64_t p = 0; p < n; ++p) {
      weight += r[p * k + c];
      for (int i = 0; i < 2; ++i) mu[i] += r[p * k + c] * clusters.points[p * d + i];
    }
    for (double& m : mu) m /= weight + pull;
    double sigma[4];
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        double s = pull * (sample[i * 2 + j] + (mean[i] - mu[i]) * (mean[j] - mu[j]));
        for (int64_t p = 0; p < n; ++p) {
          s += r[p * k + c] * (clusters.points[p * d + i] - mu[i]) * (clusters.points[p * d + j] - mu[j]);
        }
        sigma[i * 2 + j] = s / (weight + pull) * (i == j ? 1.0 : 1.0 - lambda) + (i == j ? ridge : 0.0);
      }
    }
    EXPECT_NEAR(second.logits[c], std::log((weight + pull / k) / (static_cast<double>(n) + pull)), 1e-9);
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(second.means[c * d + i], mu[i], 1e-9);
    const auto fitted = covariance_of(second, c);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(fitted[i], sigma[i], 1e-9 * (sigma[0] + sigma[3])) << i;
  }
}

TEST(LatentDensity, DegenerateInputsGiveFiniteMixtures) {
  const auto finite = [](const GaussianMixture& m) {
    for (const auto* v : {&m.logits, &m.means, &m.scale_tril}) {
      if (!std::all_of(v->begin(), v->end(), [](double x) { return std::isfinite(x); })) return false;
    }
    return true;
  };
  const std::vector<double> two_points{1.0, 2.0, 3.0, 1.0, 2.0, 3.0};
  const GaussianMixture few = fit_gaussian_mixture(two_points, 2, 3, 5, 1);
  EXPECT_TRUE(finite(few));
  EXPECT_TRUE(std::isfinite(mixture_log_likelihood(few, two_points, 2)));
  std::vector<double> broken(20, 0.5);
  broken[7] = std::nan("");
  const GaussianMixture fallback = fit_gaussian_mixture(broken, 10, 2, 4, 1);
  const GaussianMixture standard = standard_mixture(4, 2);
  EXPECT_EQ(fallback.means, standard.means);
  EXPECT_EQ(fallback.scale_tril, standard.scale_tril);
  EXPECT_TRUE(finite(fit_gaussian_mixture({}, 0, 2, 3, 1)));
}

TEST(LatentDensity, StoredTensorsRoundTripAfterTheTrainedOnes) {
  Layout layout;
  add_param(layout, "decoder.out.bias", "decoder", {5});
  EXPECT_FALSE(has_latent_density(layout));
  EXPECT_EQ(trained_param_count(layout), 5);
  add_latent_density(layout, 3, 2);
  EXPECT_TRUE(has_latent_density(layout));
  EXPECT_EQ(layout_size(layout), 5 + 3 + 3 * 2 + 3 * 2 * 2);
  EXPECT_EQ(trained_param_count(layout), 5) << "the density is not trained";
  const Clusters c = three_clusters(300);
  const GaussianMixture fit = fit_gaussian_mixture(c.points, c.n, 2, 3, 2);
  std::vector<float> weights(layout_size(layout), 7.0f);
  write_latent_density(fit, layout, weights.data());
  EXPECT_EQ(weights[4], 7.0f) << "the trained tensors are left alone";
  const GaussianMixture back = read_latent_density(layout, weights.data());
  ASSERT_EQ(back.components, 3);
  ASSERT_EQ(back.dim, 2);
  for (size_t i = 0; i < fit.means.size(); ++i) EXPECT_NEAR(back.means[i], fit.means[i], 1e-5);
  for (size_t i = 0; i < fit.scale_tril.size(); ++i) EXPECT_NEAR(back.scale_tril[i], fit.scale_tril[i], 1e-5);
}

}  // namespace
}  // namespace genzoo::test
