// The feature net (DESIGN.md section 2): a small CNN classifier trained on the full training split.
// Its penultimate embeddings give class centroids (class selection) and FID features.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "store/zoo.h"

namespace genzoo {

struct Dataset;
struct FeatureNetConfig;

// Trains the net, measures test accuracy, computes class centroids and their distances, and selects
// the num_select most distant classes. progress(epoch, epochs, accuracy so far) may be empty.
FeatureNetRecord train_feature_net(const Dataset& dataset, const FeatureNetConfig& config, uint64_t seed,
                                   int64_t num_select, const std::function<void(int64_t, int64_t)>& progress = {});

// The k classes maximizing the minimum pairwise distance (exhaustive over subsets; ties -> the
// lexicographically smallest subset, so the choice is deterministic). distances: [n, n].
std::vector<int64_t> select_distant_classes(const std::vector<double>& distances, int64_t n, int64_t k);

// Penultimate embeddings [count, embedding_dim] of images [count, 784] with a stored feature net.
std::vector<float> feature_net_embed(const FeatureNetRecord& net, const float* images, int64_t count);

// The classifier's logits [count, 10] of images [count, 784] with a stored feature net (seed 004's
// Hinton distillation uses it as the teacher).
std::vector<float> feature_net_logits(const FeatureNetRecord& net, const float* images, int64_t count);

// Predicted class labels (0..9) of images [count, 784] with a stored feature net.
std::vector<int64_t> feature_net_classify(const FeatureNetRecord& net, const float* images, int64_t count);

}  // namespace genzoo
