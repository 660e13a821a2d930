// Tests for src/data/feature_net.cpp: class selection on hand-made distance matrices with known
// answers, and a short training run on a small synthetic dataset (structure of the record, not
// accuracy; the >= 0.88 Fashion-MNIST accuracy check lives with the integration tests).
#include "data/feature_net.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "data/dataset.h"
#include "helpers.h"
#include "job/job.h"

namespace genzoo::test {
namespace {

// Symmetric n x n matrix from a distance function.
template <class F>
std::vector<double> matrix(int64_t n, F&& distance) {
  std::vector<double> d(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) d[i * n + j] = i == j ? 0.0 : distance(std::min(i, j), std::max(i, j));
  return d;
}

TEST(SelectDistantClasses, PointsOnALineGiveTheEndsAndTheMiddle) {
  // Classes at positions on a line: the 3 classes maximizing the minimum gap are 0 (at 0), 4 (at 5)
  // and 6 (at 10): min gap 5. Every other triple has a smaller minimum gap.
  const std::vector<double> position = {0.0, 1.0, 2.5, 4.0, 5.0, 9.0, 10.0};
  const auto d = matrix(7, [&](int64_t i, int64_t j) { return std::fabs(position[i] - position[j]); });
  EXPECT_EQ(select_distant_classes(d, 7, 3), (std::vector<int64_t>{0, 4, 6}));
  // Two classes: the two ends.
  EXPECT_EQ(select_distant_classes(d, 7, 2), (std::vector<int64_t>{0, 6}));
  // All of them when k = n.
  EXPECT_EQ(select_distant_classes(d, 7, 7), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(SelectDistantClasses, MaximizesTheMinimumNotTheSum) {
  // Classes 0 and 1 are far from 3 but close to each other: the triple with the largest sum of
  // distances, {0, 1, 3}, loses on its small 0-1 distance.
  std::vector<double> d(16, 0.0);
  const auto set = [&](int64_t i, int64_t j, double v) { d[i * 4 + j] = d[j * 4 + i] = v; };
  set(0, 1, 1.0);   // small
  set(0, 2, 4.0);
  set(0, 3, 100.0);
  set(1, 2, 3.0);
  set(1, 3, 100.0);
  set(2, 3, 5.0);
  // Triples: {0,1,2} min 1, {0,1,3} min 1 (sum 201), {0,2,3} min 4, {1,2,3} min 3.
  EXPECT_EQ(select_distant_classes(d, 4, 3), (std::vector<int64_t>{0, 2, 3}));
}

TEST(SelectDistantClasses, TiesGoToTheLexicographicallySmallestSubset) {
  // All off-diagonal distances equal: every triple ties (keeping the last tie would give {7, 8, 9}).
  const auto equal = matrix(10, [](int64_t, int64_t) { return 2.0; });
  EXPECT_EQ(select_distant_classes(equal, 10, 3), (std::vector<int64_t>{0, 1, 2}));
  // Two optimal triples, {2, 5, 7} and {3, 6, 8} (pairwise 10 apart; all other distances 1).
  const auto two_best = matrix(10, [](int64_t i, int64_t j) {
    const bool first = (i == 2 || i == 5 || i == 7) && (j == 2 || j == 5 || j == 7);
    const bool second = (i == 3 || i == 6 || i == 8) && (j == 3 || j == 6 || j == 8);
    return first || second ? 10.0 : 1.0;
  });
  EXPECT_EQ(select_distant_classes(two_best, 10, 3), (std::vector<int64_t>{2, 5, 7}));
}

TEST(SelectDistantClasses, RejectsImpossibleRequests) {
  const auto d = matrix(4, [](int64_t, int64_t) { return 1.0; });
  EXPECT_THROW(select_distant_classes(d, 4, 5), JobError);
  EXPECT_THROW(select_distant_classes(d, 4, 1), JobError);
}

TEST(FeatureNet, ShortTrainingGivesAConsistentRecord) {
  const Dataset dataset = synthetic_dataset(40, 10, 10, 5);
  FeatureNetConfig config;
  config.epochs = 2;
  config.batch_size = 50;
  config.lr = 3e-3;
  config.embedding = 16;
  int64_t calls = 0, last_epoch = 0;
  const FeatureNetRecord record = train_feature_net(dataset, config, 3, 4, [&](int64_t epoch, int64_t epochs) {
    ++calls;
    last_epoch = epoch;
    EXPECT_EQ(epochs, 2);
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(last_epoch, 2);

  EXPECT_EQ(record.embedding_dim, 16);
  ASSERT_EQ(record.centroids.size(), 10u * 16u);
  ASSERT_EQ(record.centroid_distances.size(), 100u);
  EXPECT_EQ(static_cast<int64_t>(record.weights.size()), layout_size(record.layout));
  // conv1 (16x1x3x3 + 16), conv2 (32x16x3x3 + 32), fc1 (16 x 1568 + 16), fc2 (10 x 16 + 10).
  EXPECT_EQ(layout_size(record.layout), 160 + 4640 + 25104 + 170);
  // Classes of the synthetic set are separable: even two short epochs beat chance (0.1) clearly.
  EXPECT_GT(record.test_accuracy, 0.3);
  EXPECT_LE(record.test_accuracy, 1.0);

  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(record.centroid_distances[i * 10 + i], 0.0) << "class " << i;
    for (int64_t j = 0; j < 10; ++j) {
      EXPECT_NEAR(record.centroid_distances[i * 10 + j], record.centroid_distances[j * 10 + i], 1e-9);
      // The distance is the Euclidean distance between the stored (float) centroids.
      double squared = 0.0;
      for (int64_t e = 0; e < 16; ++e) {
        const double diff = record.centroids[i * 16 + e] - record.centroids[j * 16 + e];
        squared += diff * diff;
      }
      EXPECT_NEAR(record.centroid_distances[i * 10 + j], std::sqrt(squared), 1e-4) << i << "," << j;
    }
  }
  ASSERT_EQ(record.selected_classes.size(), 4u);
  EXPECT_EQ(record.selected_classes, select_distant_classes(record.centroid_distances, 10, 4));

  // The stored weights reproduce the embeddings: the centroid of class 0 from feature_net_embed.
  std::vector<float> class0;
  for (int64_t i = 0; i < dataset.train.size(); ++i) {
    if (dataset.train.labels[i] == 0) class0.insert(class0.end(), dataset.train.image(i), dataset.train.image(i) + 784);
  }
  const int64_t count = static_cast<int64_t>(class0.size()) / 784;
  const auto embedding = feature_net_embed(record, class0.data(), count);
  ASSERT_EQ(static_cast<int64_t>(embedding.size()), count * 16);
  for (int64_t e = 0; e < 16; ++e) {
    double mean = 0.0;
    for (int64_t i = 0; i < count; ++i) mean += embedding[i * 16 + e];
    EXPECT_NEAR(mean / count, record.centroids[e], 1e-4 * (1.0 + std::fabs(record.centroids[e]))) << "dimension " << e;
  }
}

TEST(FeatureNet, IsDeterministicPerSeed) {
  const Dataset dataset = synthetic_dataset(10, 4, 10, 6);
  FeatureNetConfig config;
  config.epochs = 1;
  config.batch_size = 32;
  config.embedding = 8;
  const auto a = train_feature_net(dataset, config, 11, 3);
  const auto b = train_feature_net(dataset, config, 11, 3);
  const auto c = train_feature_net(dataset, config, 12, 3);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.centroid_distances, b.centroid_distances);
  EXPECT_NE(a.weights, c.weights);
}

}  // namespace
}  // namespace genzoo::test
