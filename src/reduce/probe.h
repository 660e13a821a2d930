// Dataset-identification probe (seed 000's base task): a binary classifier on a model's features
// predicts which of two datasets (A = label 0, B = label 1) the model was trained on. Scores are
// stratified k-fold cross-validated; "positive" is dataset B.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

struct ReduceConfig;

// Built from a job's [reduce] section, the one place that holds the defaults (ReduceConfig{}).
struct ProbeOptions {
  explicit ProbeOptions(const ReduceConfig& config, uint64_t seed = 0);
  int64_t folds;            // capped by the smaller class's size; at least 2
  uint64_t seed;            // fold assignment and classifier init
  int64_t epochs;           // full-batch Adam steps
  double lr;
  double weight_decay;
  int64_t hidden;           // MLP hidden width
};

struct ProbeScores {
  double precision = 0.0;   // of label 1 over all folds' held-out predictions (0 when none predicted 1)
  double recall = 0.0;
  double accuracy = 0.0;
  int64_t folds = 0;
  int64_t negatives = 0, positives = 0;
};

// "logistic" (logistic regression) and "mlp" (one hidden ReLU layer).
std::vector<std::string> probe_classifier_names();

// Cross-validated scores of `classifier` on features [n, dim] with labels 0/1. Features are
// standardized with each training fold's statistics. Throws ReduceError for an unknown classifier or
// when either class has fewer than 2 models.
ProbeScores cross_validate_probe(const std::vector<float>& features, int64_t dim, const std::vector<int32_t>& labels,
                                 const std::string& classifier, const ProbeOptions& options);

// Stratified fold of every sample (0..folds-1), deterministic in seed.
std::vector<int64_t> stratified_folds(const std::vector<int32_t>& labels, int64_t folds, uint64_t seed);

}  // namespace genzoo
