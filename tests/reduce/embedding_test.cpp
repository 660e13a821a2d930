// Tests for src/reduce/embedding.{h,cpp}: the metrics on exact and on noisy predictions, the
// model-level split, and the encoder on synthetic features that determine the class counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "reduce/embedding.h"
#include "reduce/vectorize.h"

namespace genzoo {
namespace {

constexpr int64_t kClasses = 3;

std::vector<int64_t> random_counts(Rng& rng, int64_t total) {
  const std::vector<double> p = rng.dirichlet(1.0, kClasses);
  return rng.multinomial(total, p);
}

// A zoo-like design: random models, triplets (D1, D2, union) and chains (a < b < c).
std::vector<EmbeddingModel> design(int64_t random, int64_t triplets, int64_t chains, uint64_t seed) {
  Rng rng(seed);
  std::vector<EmbeddingModel> models;
  int64_t id = 0;
  for (int64_t i = 0; i < random; ++i) models.push_back({id++, random_counts(rng, 500 + rng.uniform_int(2500)), "random", -1, -1});
  for (int64_t t = 0; t < triplets; ++t) {
    const auto d1 = random_counts(rng, 300 + rng.uniform_int(1200)), d2 = random_counts(rng, 300 + rng.uniform_int(1200));
    std::vector<int64_t> both(kClasses);
    for (int64_t j = 0; j < kClasses; ++j) both[j] = d1[j] + d2[j];
    models.push_back({id++, d1, "triplet", t, 0});
    models.push_back({id++, d2, "triplet", t, 1});
    models.push_back({id++, both, "triplet", t, 2});
  }
  for (int64_t c = 0; c < chains; ++c) {
    const auto large = random_counts(rng, 1000 + rng.uniform_int(2000));
    std::vector<int64_t> middle(kClasses), small(kClasses);
    for (int64_t j = 0; j < kClasses; ++j) {
      middle[j] = large[j] * 2 / 3;
      small[j] = middle[j] / 2;
    }
    models.push_back({id++, small, "chain", c, 0});
    models.push_back({id++, middle, "chain", c, 1});
    models.push_back({id++, large, "chain", c, 2});
  }
  return models;
}

std::vector<double> counts_of(const std::vector<EmbeddingModel>& models) {
  std::vector<double> z;
  for (const auto& m : models) z.insert(z.end(), m.counts.begin(), m.counts.end());
  return z;
}

TEST(Embedding, MetricsOfExactPredictionsArePerfect) {
  const auto models = design(20, 5, 5, 1);
  const std::vector<double> z = counts_of(models), u = shapes_of(z, kClasses);
  for (size_t r = 0; r < models.size(); ++r) {
    double norm = 0.0;
    for (int64_t j = 0; j < kClasses; ++j) norm += u[r * kClasses + j] * u[r * kClasses + j];
    EXPECT_NEAR(norm, 1.0, 1e-12);  // on the unit sphere
  }
  EXPECT_NEAR(angular_error_deg(u, u, kClasses), 0.0, 1e-6);
  EXPECT_NEAR(hellinger_spearman(u, u, kClasses), 1.0, 1e-12);
  std::vector<std::vector<int64_t>> triplets;
  std::vector<std::pair<int64_t, int64_t>> nested;
  for (int64_t t = 0; t < 5; ++t) triplets.push_back({20 + 3 * t, 21 + 3 * t, 22 + 3 * t});
  for (int64_t c = 0; c < 5; ++c) nested.insert(nested.end(), {{35 + 3 * c, 36 + 3 * c}, {36 + 3 * c, 37 + 3 * c}});
  EXPECT_NEAR(additivity_rel_error(z, kClasses, triplets), 0.0, 1e-12);
  EXPECT_EQ(order_violation_rate(z, kClasses, nested, 0.0), 0.0);
  // Reversed pairs violate the order in every chain.
  std::vector<std::pair<int64_t, int64_t>> reversed;
  for (const auto& [a, b] : nested) reversed.push_back({b, a});
  EXPECT_EQ(order_violation_rate(z, kClasses, reversed, 0.0), 1.0);
  EXPECT_TRUE(std::isnan(additivity_rel_error(z, kClasses, {})));
}

TEST(Embedding, MetricsOfNoisyPredictionsDegrade) {
  const auto models = design(40, 5, 0, 2);
  const std::vector<double> z = counts_of(models), u = shapes_of(z, kClasses);
  Rng rng(3);
  std::vector<double> noisy = z;
  for (double& v : noisy) v = std::max(0.0, v * (1.0 + 0.5 * rng.normal()));
  const std::vector<double> u_noisy = shapes_of(noisy, kClasses);
  EXPECT_GT(angular_error_deg(u_noisy, u, kClasses), 3.0);
  EXPECT_LT(hellinger_spearman(u_noisy, u, kClasses), 0.95);
  std::vector<std::vector<int64_t>> triplets;
  for (int64_t t = 0; t < 5; ++t) triplets.push_back({40 + 3 * t, 41 + 3 * t, 42 + 3 * t});
  EXPECT_GT(additivity_rel_error(noisy, kClasses, triplets), 0.05);
  // An orthogonal shape is 90 degrees off; the same direction at another mass is 0.
  EXPECT_NEAR(angular_error_deg({1, 0, 0}, {0, 1, 0}, 3), 90.0, 1e-9);
  EXPECT_NEAR(angular_error_deg(shapes_of({2, 4, 6}, 3), shapes_of({1, 2, 3}, 3), 3), 0.0, 1e-6);
}

TEST(Embedding, SpearmanUsesAverageRanks) {
  EXPECT_NEAR(spearman_correlation({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0, 1e-12);
  EXPECT_NEAR(spearman_correlation({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0, 1e-12);
  // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505138
  EXPECT_NEAR(spearman_correlation({1, 2, 2, 3}, {1, 3, 2, 4}), 0.9486832980505138, 1e-12);
}

TEST(Embedding, SplitKeepsTripletsAndChainsWholeAndFillsEveryRole) {
  const auto models = design(30, 6, 6, 4);
  SplitOptions options{ReduceConfig{}};
  const std::vector<int32_t> split = split_models(models, options, "linear_ae");
  std::map<std::pair<std::string, int64_t>, std::set<int32_t>> roles;
  for (size_t i = 0; i < models.size(); ++i) {
    if (models[i].design != "random") roles[{models[i].design, models[i].design_group}].insert(split[i]);
  }
  std::map<std::string, std::set<int32_t>> by_design;
  for (const auto& [key, set] : roles) {
    EXPECT_EQ(set.size(), 1u) << key.first << " " << key.second << " is split";
    by_design[key.first].insert(*set.begin());
  }
  EXPECT_EQ(by_design["triplet"].count(kSplitTest), 1u);  // held-out triplets exist
  EXPECT_EQ(by_design["chain"].count(kSplitTest), 1u);
  for (int32_t role : {kSplitTrain, kSplitValidation, kSplitTest}) EXPECT_GT(std::count(split.begin(), split.end(), role), 0);
  EXPECT_EQ(split_models(models, options, "linear_ae"), split);  // deterministic
}

TEST(Embedding, TooFewModelsIsAClearErrorNamingTheFamily) {
  const auto models = design(4, 0, 0, 5);
  try {
    split_models(models, SplitOptions(ReduceConfig{}), "conv_ae");
    FAIL() << "no error";
  } catch (const ReduceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("family conv_ae has 4 models"), std::string::npos) << what;
    EXPECT_NE(what.find("at least 10"), std::string::npos) << what;
  }
}

// Features that determine the counts (plus distractor columns): the encoder must recover shapes on
// test models it never saw. Targets mirror the (angle <= 5 deg, Spearman >= 0.9) with margin
// for 60-odd training models.
TEST(Embedding, EncoderRecoversShapesFromInformativeFeatures) {
  const auto models = design(150, 10, 10, 6);
  FeatureMatrix features;
  features.name = "synthetic";
  features.family = "linear_ae";
  features.dim = 5;
  Rng rng(7);
  for (const auto& m : models) {
    features.model_ids.push_back(m.id);
    for (int64_t j = 0; j < kClasses; ++j) features.data.push_back(static_cast<float>(m.counts[j] / 1000.0));
    features.data.push_back(static_cast<float>(rng.normal()));
    features.data.push_back(static_cast<float>(rng.normal()));
  }
  EmbeddingOptions options{ReduceConfig{}};
  const EmbeddingResult result = train_embedding(features, models, options);
  ASSERT_EQ(result.z.size(), models.size() * kClasses);
  EXPECT_EQ(result.model_ids, features.model_ids);
  const EmbeddingMetrics& m = result.metrics;
  EXPECT_GT(m.test_models, 20);
  EXPECT_GT(m.test_triplets, 0);
  EXPECT_GT(m.test_chains, 0);
  EXPECT_LT(m.angular_error_deg, 5.0);
  EXPECT_GT(m.hellinger_spearman, 0.9);
  EXPECT_LT(m.additivity_rel_error, 0.2);
  EXPECT_GT(m.cophenetic_corr, 0.8);
  for (double v : result.z) EXPECT_GE(v, 0.0);  // mass vectors in R^K_+
}

}  // namespace
}  // namespace genzoo
