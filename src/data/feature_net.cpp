#include "data/feature_net.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "data/dataset.h"
#include "job/job.h"
#include "data/image.h"

namespace genzoo {

namespace {

constexpr int64_t kClasses = 10;

struct FeatureNetImpl : torch::nn::Module {
  explicit FeatureNetImpl(int64_t embedding)
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)))),
        fc1(register_module("fc1", torch::nn::Linear(32 * 7 * 7, embedding))),
        fc2(register_module("fc2", torch::nn::Linear(embedding, kClasses))) {}

  torch::Tensor embed(const torch::Tensor& images) {
    auto h = images.view({-1, 1, kImageSide, kImageSide});
    h = torch::max_pool2d(torch::relu(conv1->forward(h)), 2);
    h = torch::max_pool2d(torch::relu(conv2->forward(h)), 2);
    return torch::relu(fc1->forward(h.flatten(1)));
  }
  torch::Tensor forward(const torch::Tensor& images) { return fc2->forward(embed(images)); }

  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc1, fc2;
};

torch::Tensor as_tensor(const ImageSet& set) {
  return torch::from_blob(const_cast<float*>(set.pixels.data()), {set.size(), set.dim()});
}

Layout layout_of(FeatureNetImpl& net) {
  Layout layout;
  for (const auto& item : net.named_parameters()) {
    add_param(layout, item.key(), "classifier", item.value().sizes().vec());
  }
  return layout;
}

void load_into(FeatureNetImpl& net, const FeatureNetRecord& record) {
  torch::NoGradGuard no_grad;
  for (auto& item : net.named_parameters()) {
    const ParamLayout& p = find_param(record.layout, item.key());
    if (p.numel() != item.value().numel()) throw StorageError("feature net parameter '" + item.key() + "' has the wrong size");
    item.value().copy_(torch::from_blob(const_cast<float*>(record.weights.data() + p.offset), item.value().sizes()));
  }
}

// Runs f over [start, end) slices of n items in batches.
template <class F>
void in_batches(int64_t n, int64_t batch, F&& f) {
  for (int64_t start = 0; start < n; start += batch) f(start, std::min(n, start + batch));
}

}  // namespace

std::vector<int64_t> select_distant_classes(const std::vector<double>& distances, int64_t n, int64_t k) {
  if (k < 2 || k > n) throw JobError("cannot select " + std::to_string(k) + " classes out of " + std::to_string(n));
  std::vector<int64_t> current(k), best;
  double best_score = -1.0;
  // Enumerate subsets in lexicographic order; strict improvement keeps the first best.
  std::function<void(int64_t, int64_t)> visit = [&](int64_t depth, int64_t from) {
    if (depth == k) {
      double score = std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i + 1; j < k; ++j) score = std::min(score, distances[current[i] * n + current[j]]);
      if (score > best_score) {
        best_score = score;
        best = current;
      }
      return;
    }
    for (int64_t c = from; c <= n - (k - depth); ++c) {
      current[depth] = c;
      visit(depth + 1, c + 1);
    }
  };
  visit(0, 0);
  return best;
}

FeatureNetRecord train_feature_net(const Dataset& dataset, const FeatureNetConfig& config, uint64_t seed,
                                   int64_t num_select, const std::function<void(int64_t, int64_t)>& progress) {
  torch::manual_seed(seed);
  FeatureNetImpl net(config.embedding);
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(config.lr));
  const auto train_x = as_tensor(dataset.train);
  const auto train_y = torch::tensor(std::vector<int64_t>(dataset.train.labels.begin(), dataset.train.labels.end()));
  const int64_t n = dataset.train.size();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);

  net.train();
  for (int64_t epoch = 0; epoch < config.epochs; ++epoch) {
    // Halving the step size each epoch settles Adam: +1-2 points of test accuracy for few epochs.
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(config.lr * std::pow(0.5, static_cast<double>(epoch)));
    }
    const auto order = torch::randperm(n, generator);
    in_batches(n, config.batch_size, [&](int64_t start, int64_t end) {
      const auto idx = order.slice(0, start, end);
      optimizer.zero_grad();
      torch::nn::functional::cross_entropy(net.forward(train_x.index_select(0, idx)), train_y.index_select(0, idx))
          .backward();
      optimizer.step();
    });
    if (progress) progress(epoch + 1, config.epochs);
  }

  net.eval();
  torch::NoGradGuard no_grad;
  FeatureNetRecord record;
  record.embedding_dim = config.embedding;
  record.layout = layout_of(net);
  record.weights.resize(layout_size(record.layout));
  for (const auto& item : net.named_parameters()) {
    const auto value = item.value().contiguous();
    std::copy_n(value.data_ptr<float>(), value.numel(), record.weights.data() + find_param(record.layout, item.key()).offset);
  }

  int64_t correct = 0;
  const auto test_x = as_tensor(dataset.test);
  in_batches(dataset.test.size(), 1000, [&](int64_t start, int64_t end) {
    const auto predicted = net.forward(test_x.slice(0, start, end)).argmax(1);
    for (int64_t i = start; i < end; ++i) correct += predicted[i - start].item<int64_t>() == dataset.test.labels[i];
  });
  record.test_accuracy = static_cast<double>(correct) / static_cast<double>(dataset.test.size());

  auto sums = torch::zeros({kClasses, config.embedding}, torch::kDouble);
  auto counts = torch::zeros({kClasses}, torch::kDouble);
  in_batches(n, 1000, [&](int64_t start, int64_t end) {
    const auto embedding = net.embed(train_x.slice(0, start, end)).to(torch::kDouble);
    const auto labels = train_y.slice(0, start, end);
    sums.index_add_(0, labels, embedding);
    counts.index_add_(0, labels, torch::ones({end - start}, torch::kDouble));
  });
  const auto centroids = sums / counts.clamp_min(1.0).unsqueeze(1);
  const auto distances = torch::cdist(centroids.unsqueeze(0), centroids.unsqueeze(0)).squeeze(0).contiguous();
  record.centroids.resize(kClasses * config.embedding);
  const auto centroids_float = centroids.to(torch::kFloat).contiguous();
  std::copy_n(centroids_float.data_ptr<float>(), record.centroids.size(), record.centroids.data());
  record.centroid_distances.assign(distances.data_ptr<double>(), distances.data_ptr<double>() + kClasses * kClasses);
  record.selected_classes = select_distant_classes(record.centroid_distances, kClasses, num_select);
  return record;
}

std::vector<float> feature_net_logits(const FeatureNetRecord& record, const float* images, int64_t count) {
  FeatureNetImpl net(record.embedding_dim);
  load_into(net, record);
  net.eval();
  torch::NoGradGuard no_grad;
  const auto logits = net.forward(torch::from_blob(const_cast<float*>(images), {count, kImagePixels})).contiguous();
  return std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
}

std::vector<int64_t> feature_net_classify(const FeatureNetRecord& record, const float* images, int64_t count) {
  const std::vector<float> logits = feature_net_logits(record, images, count);
  std::vector<int64_t> predicted(count);
  for (int64_t i = 0; i < count; ++i) {
    const float* row = logits.data() + i * kClasses;
    predicted[i] = std::max_element(row, row + kClasses) - row;
  }
  return predicted;
}

std::vector<float> feature_net_embed(const FeatureNetRecord& record, const float* images, int64_t count) {
  FeatureNetImpl net(record.embedding_dim);
  load_into(net, record);
  net.eval();
  torch::NoGradGuard no_grad;
  const auto embedding = net.embed(torch::from_blob(const_cast<float*>(images), {count, kImagePixels})).contiguous();
  return std::vector<float>(embedding.data_ptr<float>(), embedding.data_ptr<float>() + embedding.numel());
}

}  // namespace genzoo
