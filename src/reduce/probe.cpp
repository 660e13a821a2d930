#include "reduce/probe.h"

#include <torch/torch.h>

#include <algorithm>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"

namespace genzoo {

ProbeOptions::ProbeOptions(const ReduceConfig& config, uint64_t seed)
    : folds(config.folds),
      seed(seed),
      epochs(config.probe_epochs),
      lr(config.probe_lr),
      weight_decay(config.probe_weight_decay),
      hidden(config.probe_hidden) {}

namespace {

// Trains on (x, y) and returns the predicted labels of x_test (probability >= 0.5).
torch::Tensor fit_predict(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& x_test,
                          const std::string& classifier, const ProbeOptions& options, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t dim = x.size(1);
  torch::nn::Sequential net;
  if (classifier == "logistic") {
    net = torch::nn::Sequential(torch::nn::Linear(dim, 1));
  } else {
    net = torch::nn::Sequential(torch::nn::Linear(dim, options.hidden), torch::nn::ReLU(),
                                torch::nn::Linear(options.hidden, 1));
  }
  net->to(torch::kFloat64);
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    optimizer.zero_grad();
    const auto loss = torch::binary_cross_entropy_with_logits(net->forward(x).squeeze(1), y);
    loss.backward();
    optimizer.step();
  }
  torch::NoGradGuard no_grad;
  return (net->forward(x_test).squeeze(1) >= 0.0).to(torch::kInt32);
}

}  // namespace

std::vector<std::string> probe_classifier_names() { return {"logistic", "mlp"}; }

std::vector<int64_t> stratified_folds(const std::vector<int32_t>& labels, int64_t folds, uint64_t seed) {
  std::vector<int64_t> fold(labels.size(), 0);
  Rng rng(mix_seed(seed, 0x50524f4245));
  for (int32_t label : {0, 1}) {
    std::vector<int64_t> members;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] == label) members.push_back(static_cast<int64_t>(i));
    }
    rng.shuffle(members);
    for (size_t j = 0; j < members.size(); ++j) fold[members[j]] = static_cast<int64_t>(j) % folds;
  }
  return fold;
}

ProbeScores cross_validate_probe(const std::vector<float>& features, int64_t dim, const std::vector<int32_t>& labels,
                                 const std::string& classifier, const ProbeOptions& options) {
  const auto names = probe_classifier_names();
  if (std::find(names.begin(), names.end(), classifier) == names.end()) {
    throw ReduceError("unknown probe classifier '" + classifier + "' (known: logistic, mlp)");
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  if (static_cast<int64_t>(features.size()) != n * dim) {
    throw ReduceError("probe: " + std::to_string(features.size()) + " feature values for " + std::to_string(n) +
                      " models of dimension " + std::to_string(dim));
  }
  ProbeScores scores;
  for (int32_t label : labels) (label == 1 ? scores.positives : scores.negatives) += 1;
  if (std::min(scores.positives, scores.negatives) < 2) {
    throw ReduceError("probe: needs at least 2 models of each dataset, got " + std::to_string(scores.negatives) +
                      " of A and " + std::to_string(scores.positives) + " of B");
  }
  scores.folds = std::max<int64_t>(2, std::min({options.folds, scores.positives, scores.negatives}));
  const std::vector<int64_t> fold = stratified_folds(labels, scores.folds, options.seed);

  const auto x_all = torch::from_blob(const_cast<float*>(features.data()), {n, dim}, torch::kFloat32).to(torch::kFloat64);
  const auto y_all = torch::tensor(std::vector<int32_t>(labels), torch::kInt32).to(torch::kFloat64);
  int64_t true_positive = 0, false_positive = 0, false_negative = 0, correct = 0;
  for (int64_t f = 0; f < scores.folds; ++f) {
    std::vector<int64_t> train, test;
    for (int64_t i = 0; i < n; ++i) (fold[i] == f ? test : train).push_back(i);
    const auto train_index = torch::tensor(train, torch::kInt64), test_index = torch::tensor(test, torch::kInt64);
    auto x = x_all.index_select(0, train_index), x_test = x_all.index_select(0, test_index);
    const auto mean = x.mean(0), scale = x.std(0, /*unbiased=*/false).clamp_min(1e-12);
    x = (x - mean) / scale;
    x_test = (x_test - mean) / scale;
    const auto predicted = fit_predict(x, y_all.index_select(0, train_index), x_test, classifier, options,
                                       mix_seed(options.seed, static_cast<uint64_t>(f)));
    const auto* p = predicted.data_ptr<int32_t>();
    for (size_t j = 0; j < test.size(); ++j) {
      const int32_t truth = labels[test[j]];
      true_positive += p[j] == 1 && truth == 1;
      false_positive += p[j] == 1 && truth == 0;
      false_negative += p[j] == 0 && truth == 1;
      correct += p[j] == truth;
    }
  }
  scores.precision = true_positive + false_positive == 0 ? 0.0 : double(true_positive) / double(true_positive + false_positive);
  scores.recall = double(true_positive) / double(true_positive + false_negative);
  scores.accuracy = double(correct) / double(n);
  return scores;
}

}  // namespace genzoo
