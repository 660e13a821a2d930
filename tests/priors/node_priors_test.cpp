// Tests for src/priors/node_priors.cpp: SWAG against its formula, the node priors of a synthetic
// family (names, members, groups, deduplication, the floor for a node of one repeated model) and the
// held-out check on clusters whose answer is known.
#include "priors/node_priors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "reduce/hierarchy.h"
#include "store/zoo.h"

namespace genzoo::test {
namespace {

using priors::LowRankGaussian;

TEST(NodePriors, SwagIsHalfDiagonalPlusHalfLowRankOfTheIterates) {
  const int64_t p = 4, t = 5, rank = 2;  // K = min(T, rank + 1) = 3 last iterates
  Rng rng(3);
  std::vector<std::vector<float>> iterates(t, std::vector<float>(p));
  for (auto& w : iterates)
    for (float& v : w) v = static_cast<float>(rng.uniform() * 2.0 - 1.0);
  std::vector<const float*> ptrs;
  for (const auto& w : iterates) ptrs.push_back(w.data());
  const LowRankGaussian g = priors::swag_posterior(ptrs, p, rank, 1e-12);
  ASSERT_EQ(g.rank, 3);
  for (int64_t i = 0; i < p; ++i) {
    double mean = 0.0, second = 0.0;
    for (const auto& w : iterates) mean += w[i] / 5.0, second += w[i] * w[i] / 5.0;
    EXPECT_NEAR(g.mean[i], mean, 1e-6);
    for (int64_t j = 0; j < p; ++j) {
      double mean_j = 0.0;
      for (const auto& w : iterates) mean_j += w[j] / 5.0;
      double low = 0.0;
      for (int64_t c = t - 3; c < t; ++c) low += (iterates[c][i] - mean) * (iterates[c][j] - mean_j);
      const double expected = (i == j ? 0.5 * (second - mean * mean) : 0.0) + 0.5 * low / 2.0;
      EXPECT_NEAR(g.covariance(i, j), expected, 1e-6) << i << "," << j;
    }
  }
  EXPECT_THROW(priors::swag_posterior({ptrs[0]}, p, rank, 1e-12), ReduceError);
}

// A family in two init groups and two clusters: per (group, cluster) block `per_block` models
// w = centre + a·v + noise, the centre ±1 per cluster, a ~ U(-0.5, 0.5) along a fixed direction v
// (a real low-rank structure), noise 0.01. The dendrogram merges each block as a chain, then the
// two groups' blocks of a cluster, then everything.
struct SyntheticFamily {
  FamilyWeights weights;
  std::vector<ModelRecord> models;
  std::map<int64_t, const ModelRecord*> records;
  Dendrogram dendrogram;
  std::vector<int64_t> leaf_ids;
};

SyntheticFamily synthetic_family(int64_t p, int64_t per_block) {
  SyntheticFamily f;
  f.weights.family = "linear_ae";
  add_param(f.weights.layout, "w", "encoder", {p});
  Rng rng(17);
  const int64_t n = 4 * per_block;
  f.models.resize(n);
  std::vector<std::vector<int64_t>> blocks(4);  // [group * 2 + cluster]
  for (int64_t id = 0; id < n; ++id) {
    ModelRecord& m = f.models[id];
    m.id = id;
    m.family = "linear_ae";
    m.status = "ok";
    const int64_t block = id / per_block, group = block / 2, cluster = block % 2;
    m.init_group = group;
    blocks[block].push_back(id);
    m.proportions = cluster == 0 ? std::vector<double>{0.8, 0.2} : std::vector<double>{0.2, 0.8};
    f.weights.model_ids.push_back(id);
    f.leaf_ids.push_back(id);
    const double a = rng.uniform() - 0.5;
    for (int64_t i = 0; i < p; ++i) {
      const double centre = cluster == 0 ? 1.0 : -1.0, v = i % 3 ? 1.0 : -1.0;
      f.weights.data.push_back(static_cast<float>(centre + a * v + 0.01 * (rng.uniform() - 0.5)));
    }
  }
  for (const ModelRecord& m : f.models) f.records[m.id] = &m;
  std::vector<std::vector<int64_t>> rows;
  for (const auto& block : blocks) {
    for (size_t k = 2; k <= block.size(); ++k) rows.emplace_back(block.begin(), block.begin() + static_cast<int64_t>(k));
  }
  for (int64_t cluster = 0; cluster < 2; ++cluster) {
    std::vector<int64_t> both = blocks[cluster];
    both.insert(both.end(), blocks[2 + cluster].begin(), blocks[2 + cluster].end());
    std::sort(both.begin(), both.end());
    rows.push_back(both);
  }
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), int64_t{0});
  rows.push_back(all);
  f.dendrogram.leaves = n;
  f.dendrogram.members = rows;
  f.dendrogram.linkage.assign((n - 1) * 4, 0.0);
  return f;
}

priors::FamilyPriorInputs inputs_of(const SyntheticFamily& f) {
  priors::FamilyPriorInputs in;
  in.weights = &f.weights;
  in.records = &f.records;
  in.dendrogram = &f.dendrogram;
  in.leaf_ids = f.leaf_ids;
  in.num_classes = 2;
  return in;
}

ReduceConfig prior_config(int64_t min_members, int64_t rank) {
  ReduceConfig config;
  config.prior_min_members = min_members;
  config.prior_rank = rank;
  config.prior_shrinkage = 0.1;
  config.prior_floor = 1e-8;
  return config;
}

TEST(NodePriors, OnePriorPerNodeAndGroupWithEnoughMembers) {
  const SyntheticFamily f = synthetic_family(6, 3);  // blocks {0,1,2} {3,4,5} (group 0), {6,7,8} {9,10,11}
  const priors::FamilyPriors out = priors::family_priors(inputs_of(f), prior_config(3, 1));
  std::map<std::vector<int64_t>, std::string> names;
  for (const auto& p : out.priors) names[p.member_ids] = p.name;
  // Per group: the root and its two 3-member blocks; the 2-member chain links are too small, and
  // the union of one cluster across groups adds nothing new within a group.
  const std::map<std::vector<int64_t>, std::string> expected = {
      {{0, 1, 2, 3, 4, 5}, "root-g0"}, {{0, 1, 2}, "c13-g0"}, {{3, 4, 5}, "c15-g0"},
      {{6, 7, 8, 9, 10, 11}, "root-g1"}, {{6, 7, 8}, "c17-g1"}, {{9, 10, 11}, "c19-g1"}};
  EXPECT_EQ(names, expected);
  for (const auto& p : out.priors) {
    if (p.name != "c13-g0") continue;
    EXPECT_NEAR(p.proportions[0], 0.8, 1e-12);
    EXPECT_EQ(p.cluster, 13);
    EXPECT_EQ(p.gaussian.rank, 1);
    EXPECT_NEAR(p.gaussian.mean[1], 1.0, 0.5);
  }
  // A larger minimum leaves only the roots; a group too small says so.
  EXPECT_EQ(priors::family_priors(inputs_of(f), prior_config(6, 2)).priors.size(), 2u);
  const priors::FamilyPriors none = priors::family_priors(inputs_of(f), prior_config(7, 2));
  EXPECT_TRUE(none.priors.empty());
  ASSERT_EQ(none.notes.size(), 2u);
  EXPECT_NE(none.notes[0].find("prior_min_members"), std::string::npos) << none.notes[0];
}

// Held out: one model of each block of group 0. Its block's Gaussian (centred on its cluster, with
// the block's direction of variation in F) must give it a higher density than the root's (spread
// over both clusters) and than N(m, σ² I) of the same total variance.
TEST(NodePriors, HeldOutModelsAreLikelierUnderTheirNodeThanUnderTheRoot) {
  const SyntheticFamily f = synthetic_family(30, 6);
  priors::FamilyPriorInputs in = inputs_of(f);
  in.held_out = {5, 11};
  const priors::FamilyPriors out = priors::family_priors(in, prior_config(4, 2));
  ASSERT_EQ(out.check.model_ids, (std::vector<int64_t>{5, 11}));
  EXPECT_EQ(out.check.beats_root(), 2);
  EXPECT_EQ(out.check.beats_isotropic(), 2);
  for (const auto& p : out.priors) {
    for (int64_t id : p.member_ids) EXPECT_TRUE(id != 5 && id != 11) << p.name << " fitted a held-out model";
  }
}

TEST(NodePriors, AllMembersOneModelGiveTheFloor) {
  SyntheticFamily f = synthetic_family(5, 3);
  for (int64_t id = 1; id < 6; ++id) std::copy_n(f.weights.data.begin(), 5, f.weights.data.begin() + id * 5);
  priors::FamilyPriorInputs in = inputs_of(f);
  in.dendrogram = nullptr;
  const priors::FamilyPriors out = priors::family_priors(in, prior_config(3, 2));
  ASSERT_EQ(out.priors.size(), 2u);  // roots only: no dendrogram
  const LowRankGaussian g = out.priors[0].gaussian.gaussian();
  for (double d : g.diag) EXPECT_NEAR(d, 1e-8, 1e-14);
  for (double v : g.factor) EXPECT_EQ(v, 0.0);
  std::vector<double> x(g.mean.begin(), g.mean.end());
  EXPECT_TRUE(std::isfinite(g.log_density(x)));
}

}  // namespace
}  // namespace genzoo::test
