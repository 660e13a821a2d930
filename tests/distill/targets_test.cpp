// Tests for src/distill/targets.cpp: held-out mixtures, nested training samples and their pool limit,
// shape distances, and the choice of the node, the root and hinton's teacher.
#include "distill/targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "common/error.h"
#include "job/job.h"
#include "priors/node_priors.h"
#include "store/zoo.h"

namespace genzoo::test {
namespace {

TEST(DistillTargets, MixturesAreDrawnFromTheJobSeedOrGiven) {
  DistillConfig config;
  config.mixtures = 4;
  const auto a = distill::target_mixtures(config, 3, 1.0, 7), b = distill::target_mixtures(config, 3, 1.0, 7);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, distill::target_mixtures(config, 3, 1.0, 8));
  for (const auto& p : a) {
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
    for (double v : p) EXPECT_GE(v, 0.0);
  }
  config.proportions = {0.2, 0.3, 0.5, 1.0, 0.0, 0.0};
  const auto given = distill::target_mixtures(config, 3, 1.0, 7);
  ASSERT_EQ(given.size(), 2u);
  EXPECT_EQ(given[1], (std::vector<double>{1.0, 0.0, 0.0}));
}

TEST(DistillTargets, TrainingSetsAreNestedAndFollowTheProportions) {
  std::vector<std::vector<int64_t>> pools(3);
  for (int64_t i = 0; i < 9000; ++i) pools[i % 3].push_back(i);
  const std::vector<double> p = {0.6, 0.3, 0.1};
  const auto small = distill::training_samples(p, 50, pools, 5), large = distill::training_samples(p, 2000, pools, 5);
  ASSERT_EQ(small.size(), 50u);
  ASSERT_EQ(large.size(), 2000u);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), large.begin()));
  std::vector<int64_t> counts(3, 0);
  for (int64_t i : large) ++counts[i % 3];
  for (int k = 0; k < 3; ++k) {
    // Multinomial(2000, p): within 5 standard deviations.
    const double sd = std::sqrt(2000 * p[k] * (1 - p[k]));
    EXPECT_NEAR(counts[k], 2000 * p[k], 5 * sd) << k;
  }
  auto sorted = large;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a sample drawn twice";
  EXPECT_NE(distill::training_samples(p, 50, pools, 6), small);
}

TEST(DistillTargets, ASizeBeyondAClassPoolIsAnErrorNamingTheKey) {
  std::vector<std::vector<int64_t>> pools(2);
  for (int64_t i = 0; i < 100; ++i) pools[i % 2].push_back(i);
  try {
    distill::training_samples({0.9, 0.1}, 90, pools, 1);
    FAIL() << "no error";
  } catch (const DistillError& e) {
    EXPECT_NE(std::string(e.what()).find("distill.sizes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("class slot 0"), std::string::npos) << e.what();
  }
}

TEST(DistillTargets, ShapeDistanceIsRootTwoTimesHellinger) {
  const std::vector<double> p = {0.5, 0.5, 0.0}, q = {0.0, 0.5, 0.5};
  double hellinger = 0.0;
  for (int k = 0; k < 3; ++k) hellinger += std::pow(std::sqrt(p[k]) - std::sqrt(q[k]), 2);
  hellinger = std::sqrt(hellinger / 2.0);
  EXPECT_NEAR(distill::shape_distance(p, q), std::sqrt(2.0) * hellinger, 1e-12);
  EXPECT_EQ(distill::shape_distance(p, p), 0.0);
}

priors::PriorRecord record(const std::string& name, const std::string& kind, std::vector<double> proportions, int64_t members,
                           int64_t group = 0) {
  priors::PriorRecord r;
  r.family = "linear_ae";
  r.name = name;
  r.kind = kind;
  r.proportions = std::move(proportions);
  r.member_ids.resize(members);
  r.init_group = group;
  return r;
}

TEST(DistillTargets, TheNearestNodeByShapeAndItsRoot) {
  const std::vector<priors::PriorRecord> priors = {
      record("root-g0", "node", {0.4, 0.3, 0.3}, 40),      record("c10-g0", "node", {0.8, 0.1, 0.1}, 10),
      record("c11-g0", "node", {0.1, 0.1, 0.8}, 12),       record("swag-m3", "swag", {0.9, 0.05, 0.05}, 1),
      record("root-g1", "node", {0.4, 0.3, 0.3}, 40, 1),
  };
  const auto* node = distill::nearest_node(priors, "linear_ae", {0.85, 0.1, 0.05});
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->name, "c10-g0");  // the swag posterior is nearer but is no node
  EXPECT_EQ(distill::nearest_node(priors, "linear_ae", {0.1, 0.2, 0.7})->name, "c11-g0");
  // Equal shapes: the node with more members.
  EXPECT_EQ(distill::nearest_node(priors, "linear_ae", {0.4, 0.3, 0.3})->name, "root-g0");
  EXPECT_EQ(distill::root_of(priors, *node)->name, "root-g0");
  EXPECT_EQ(distill::root_of(priors, priors[4])->name, "root-g1");
  EXPECT_EQ(distill::nearest_node(priors, "conv_ae", {0.4, 0.3, 0.3}), nullptr);
}

ModelRecord model(int64_t id, const std::string& family, std::vector<double> proportions, const std::string& status) {
  ModelRecord m;
  m.id = id;
  m.family = family;
  m.proportions = std::move(proportions);
  m.status = status;
  return m;
}

TEST(DistillTargets, HintonsTeacherIsTheNearestOkModelOfTheFamily) {
  const std::vector<ModelRecord> models = {model(0, "linear_ae", {0.9, 0.05, 0.05}, "diverged"),
                                           model(1, "linear_ae", {0.7, 0.2, 0.1}, "ok"),
                                           model(2, "conv_ae", {0.9, 0.05, 0.05}, "ok"),
                                           model(3, "linear_ae", {0.1, 0.1, 0.8}, "ok")};
  EXPECT_EQ(distill::nearest_model(models, "linear_ae", {0.9, 0.05, 0.05})->id, 1);
  EXPECT_EQ(distill::nearest_model(models, "gan", {0.9, 0.05, 0.05}), nullptr);
}

}  // namespace
}  // namespace genzoo::test
