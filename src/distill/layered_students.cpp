#include "distill/layered_students.h"

#include <cmath>
#include <numeric>

#include "common/error.h"
#include "common/rng.h"
#include "models/mlp.h"
#include "models/torch_family.h"
#include "train/data_stream.h"

namespace genzoo::distill {

torch::Tensor layered_forward(const torch::Tensor& w, const priors::LayeredNetwork& net, const torch::Tensor& x) {
  return layered_outputs(view_params(w, priors::layered_layout(net)), x, net.activation == "relu");
}

LayeredData synthetic_regression(int64_t dim, int64_t train, int64_t test, double noise, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> w(dim);
  for (float& v : w) v = static_cast<float>(rng.normal());
  const auto draw = [&](int64_t n, torch::Tensor& x, torch::Tensor& y) {
    x = torch::empty({n, dim});
    y = torch::empty({n, 1});
    float* xs = x.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      double dot = 0.0;
      for (int64_t j = 0; j < dim; ++j) {
        xs[i * dim + j] = static_cast<float>(rng.normal());
        dot += xs[i * dim + j] * w[j];
      }
      y[i][0] = static_cast<float>(dot + noise * rng.normal());
    }
  };
  LayeredData data;
  draw(train, data.x_train, data.y_train);
  draw(test, data.x_test, data.y_test);
  return data;
}

namespace {

// Per network, the mean over the batch of -log p(y | f(x)) up to the Gaussian's constant: predictions
// [M, B, n_L], targets [M, B, n_L] (gaussian) or [M, B] labels (softmax).
torch::Tensor negative_log_likelihood(const torch::Tensor& prediction, const torch::Tensor& y, LayeredLikelihood likelihood,
                                      double variance) {
  if (likelihood == LayeredLikelihood::kGaussian) return (prediction - y).pow(2).sum(2).mean(1) / (2.0 * variance);
  return class_cross_entropy(prediction, y).mean(1);
}

}  // namespace

std::vector<LayeredFit> fit_layered(const priors::LayeredNetwork& net, const std::vector<StudentWeightsSpec>& specs,
                                    const LayeredData& data, LayeredLikelihood likelihood, double noise, int64_t epochs,
                                    int64_t batch_size, const std::vector<uint64_t>& seeds, int64_t steps_per_epoch) {
  const auto models = static_cast<int64_t>(specs.size());
  if (static_cast<int64_t>(seeds.size()) != models) throw DistillError("fit_layered: one seed per network");
  const bool softmax = likelihood == LayeredLikelihood::kSoftmax;
  if (softmax != (data.y_train.scalar_type() == torch::kLong)) {
    throw DistillError("fit_layered: softmax takes long class labels, gaussian float targets");
  }
  const int64_t n = data.x_train.size(0), dim = data.x_train.size(1);
  StudentWeights weights(specs, torch::kCPU);
  std::vector<SampleStream> streams;
  std::vector<torch::Generator> generators;
  for (uint64_t seed : seeds) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    streams.emplace_back(std::move(order), seed);
    generators.push_back(noise_generator(seed));
  }
  const double variance = noise * noise;
  const double log_norm = softmax ? 0.0 : 0.5 * static_cast<double>(data.y_test.size(1)) * std::log(2.0 * M_PI * variance);
  std::vector<LayeredFit> out(models);
  if (steps_per_epoch <= 0) steps_per_epoch = (n + batch_size - 1) / batch_size;
  std::vector<int64_t> positions(batch_size);
  // Targets of a batch: [M, B, n_L] floats or [M, B] labels.
  std::vector<int64_t> target_shape = {models, batch_size};
  for (int64_t d = 1; d < data.y_train.dim(); ++d) target_shape.push_back(data.y_train.size(d));
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      auto x = torch::empty({models, batch_size, dim}), y = torch::empty(target_shape, data.y_train.options());
      for (int64_t m = 0; m < models; ++m) {
        streams[m].next_batch(batch_size, positions.data());
        const auto index = torch::tensor(positions, torch::kLong);
        x[m].copy_(data.x_train.index_select(0, index));
        y[m].copy_(data.y_train.index_select(0, index));
      }
      weights.step(negative_log_likelihood(layered_forward(weights.draw(generators), net, x), y, likelihood, variance));
    }
    torch::NoGradGuard no_grad;
    const int64_t t = data.x_test.size(0);
    const auto prediction = layered_forward(weights.mean(), net, data.x_test.unsqueeze(0).expand({models, t, dim}).contiguous());
    const auto y_test = data.y_test.unsqueeze(0).expand(softmax ? std::vector<int64_t>{models, t}
                                                                : std::vector<int64_t>{models, t, data.y_test.size(1)});
    const auto ll = -negative_log_likelihood(prediction, y_test.contiguous(), likelihood, variance) - log_norm;
    const auto accuracy = softmax ? prediction.argmax(2).eq(y_test).to(torch::kDouble).mean(1) : torch::Tensor();
    for (int64_t m = 0; m < models; ++m) {
      out[m].test_log_likelihood.push_back(ll[m].item<double>());
      if (softmax) out[m].test_accuracy.push_back(accuracy[m].item<double>());
    }
  }
  const auto mean = weights.mean().contiguous(), std = weights.std().contiguous();
  for (int64_t m = 0; m < models; ++m) {
    out[m].mean.assign(mean[m].data_ptr<float>(), mean[m].data_ptr<float>() + mean.size(1));
    if (specs[m].variational) out[m].std.assign(std[m].data_ptr<float>(), std[m].data_ptr<float>() + std.size(1));
  }
  return out;
}

}  // namespace genzoo::distill
