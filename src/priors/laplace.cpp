#include "priors/laplace.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "models/torch_family.h"
#include "train/data_stream.h"

namespace genzoo::priors {

bool has_likelihood(const std::string& family) { return !find_family(family).torch_impl().adversarial(); }

std::vector<double> GradientMoments::variance() const {
  std::vector<double> v(sum.size());
  const double n = static_cast<double>(std::max<int64_t>(samples, 1));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::max(sum_squares[i] / n - (sum[i] / n) * (sum[i] / n), 0.0);
  return v;
}

GradientMoments gradient_moments(const FamilyConfig& config, const Layout& layout, const float* weights,
                                 const ImageSet& train, const std::vector<int64_t>& samples, uint64_t seed) {
  const TorchFamily& family = find_family(config.name).torch_impl();
  if (family.adversarial()) throw ReduceError("gradients: " + config.name + " is adversarial and has no likelihood");
  if (samples.empty()) throw ReduceError("gradients: the model has no training samples");
  const int64_t p = layout_size(layout);
  const torch::Tensor w = torch::from_blob(const_cast<float*>(weights), {1, p}).clone();
  GradientMoments moments;
  moments.sum_squares.assign(p, 0.0);
  moments.sum.assign(p, 0.0);
  moments.samples = static_cast<int64_t>(samples.size());
  // Stack as many copies as keep the per-sample gradients near 16M floats.
  const int64_t chunk = std::clamp<int64_t>((int64_t{1} << 24) / std::max<int64_t>(p, 1), 1, 256);
  std::vector<float> images;
  for (size_t start = 0; start < samples.size(); start += chunk) {
    const int64_t m = std::min<int64_t>(chunk, static_cast<int64_t>(samples.size() - start));
    images.resize(m * kImagePixels);
    gather_images(train, samples.data() + start, m, images.data());
    const torch::Tensor x = torch::from_blob(images.data(), {m, 1, kImagePixels});
    torch::Tensor flat = w.expand({m, p}).clone().requires_grad_(true);
    std::vector<torch::Generator> generators;
    for (int64_t i = 0; i < m; ++i) generators.push_back(noise_generator(seed + start + i));
    LossContext ctx;
    ctx.config = &config;
    ctx.training = false;
    ctx.generators = &generators;
    ctx.labels = labels_of(train, samples.data() + start, m).view({m, 1});
    family.loss(view_params(flat, layout), x, ctx).sum().backward();
    const torch::Tensor grads = flat.grad().to(torch::kFloat64);
    const torch::Tensor squares = grads.square().sum(0).contiguous(), sums = grads.sum(0).contiguous();
    const double* sq = squares.data_ptr<double>();
    const double* su = sums.data_ptr<double>();
    for (int64_t i = 0; i < p; ++i) moments.sum_squares[i] += sq[i], moments.sum[i] += su[i];
  }
  for (int64_t i = 0; i < p; ++i) {
    if (!std::isfinite(moments.sum_squares[i])) throw ReduceError("gradients: a non-finite gradient at weight " + std::to_string(i));
  }
  return moments;
}

LowRankGaussian laplace_posterior(const FamilyConfig& config, const Layout& layout, const float* weights,
                                  const ImageSet& train, const std::vector<int64_t>& samples, double prior_precision,
                                  uint64_t seed) {
  if (!(prior_precision > 0.0)) throw ReduceError("Laplace: prior precision must be positive");
  const GradientMoments moments = gradient_moments(config, layout, weights, train, samples, seed);
  const int64_t p = layout_size(layout);
  LowRankGaussian g;
  g.mean.assign(weights, weights + p);
  g.diag.resize(p);
  for (int64_t i = 0; i < p; ++i) g.diag[i] = 1.0 / (moments.sum_squares[i] + prior_precision);
  return g;
}

}  // namespace genzoo::priors
