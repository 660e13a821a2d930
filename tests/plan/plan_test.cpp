#include "plan/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/error.h"
#include "helpers.h"

namespace genzoo::test {
namespace {

constexpr int64_t kClasses = 3;
constexpr int64_t kPerClass = 6000;

// Synthetic training split: sample i has class slot i mod K, as interleaved as real labels are.
std::vector<std::vector<int64_t>> synthetic_pools(int64_t per_class = kPerClass) {
  std::vector<std::vector<int64_t>> pools(kClasses);
  for (int64_t j = 0; j < per_class; ++j) {
    for (int64_t k = 0; k < kClasses; ++k) pools[k].push_back(j * kClasses + k);
  }
  return pools;
}

const std::vector<int64_t> kLabels = {0, 5, 9};

std::string job_text(int64_t conv_models = 10, int64_t conv_triplets = 2) {
  return R"(
name = "plan-test"
seed = 7
[data]
samples_min = 200
samples_max = 600
alpha = 0.8
[probe]
gaps = [0.1, 0.3]
pool = 900
keep = 0.5
[[family]]
name = "linear_ae"
models = 20
triplets = 5
chains = 5
probe_models = 4
init_groups = 3
chunk_models = 16
lr = 0.01
lr_spread = 0.5
[[family]]
name = "conv_ae"
models = )" + std::to_string(conv_models) + "\ntriplets = " + std::to_string(conv_triplets) + R"(
chains = 2
probe_models = 3
init = "model"
chunk_models = 7
)";
}

Plan plan_of(const std::string& text) { return make_plan(parse_job(text, "<test>"), kLabels, synthetic_pools()); }

std::set<int64_t> as_set(const ModelSpec& m) { return {m.sample_indices.begin(), m.sample_indices.end()}; }

bool is_strict_subset(const ModelSpec& small, const ModelSpec& large) {
  return small.sample_indices.size() < large.sample_indices.size() &&
         std::includes(large.sample_indices.begin(), large.sample_indices.end(), small.sample_indices.begin(),
                       small.sample_indices.end());
}

// Models of one design, keyed by design group, in role order.
std::map<int64_t, std::vector<const ModelSpec*>> groups_of(const Plan& plan, Design design) {
  std::map<int64_t, std::vector<const ModelSpec*>> groups;
  for (const ModelSpec& m : plan.models) {
    if (m.design == design) groups[m.design_group].push_back(&m);
  }
  return groups;
}

void expect_same_spec(const ModelSpec& a, const ModelSpec& b, bool same_id) {
  if (same_id) {
    EXPECT_EQ(a.id, b.id);
  }
  EXPECT_EQ(a.family_index, b.family_index);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.init_group, b.init_group);
  EXPECT_EQ(a.init_seed, b.init_seed);
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_EQ(a.proportions, b.proportions);
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.sample_indices, b.sample_indices);
  EXPECT_EQ(a.design, b.design);
  EXPECT_EQ(a.design_group, b.design_group);
  EXPECT_EQ(a.design_role, b.design_role);
  EXPECT_EQ(a.probe_gap, b.probe_gap);
}

TEST(Plan, LayoutFollowsTheJob) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan plan = make_plan(job, kLabels, synthetic_pools());
  EXPECT_EQ(plan.classes, kLabels);
  ASSERT_EQ(static_cast<int64_t>(plan.models.size()), job.total_models());
  EXPECT_EQ(job.total_models(), (20 + 15 + 15 + 4 * 3) + (10 + 6 + 6 + 3 * 3));
  for (size_t i = 0; i < plan.models.size(); ++i) EXPECT_EQ(plan.models[i].id, static_cast<int64_t>(i));
  // Per family: random, triplets, chains, probe models, families in job order.
  const std::vector<Design> linear_order = {Design::kRandom, Design::kTriplet, Design::kChain, Design::kProbe};
  size_t next = 0;
  for (int32_t f = 0; f < 2; ++f) {
    for (Design design : linear_order) {
      while (next < plan.models.size() && plan.models[next].family_index == f &&
             plan.models[next].design == design) {
        ++next;
      }
    }
  }
  EXPECT_EQ(next, plan.models.size()) << "designs out of order at model " << next;
}

TEST(Plan, IsDeterministic) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan first = make_plan(job, kLabels, synthetic_pools());
  const Plan second = make_plan(parse_job(job_text(), "<other>"), kLabels, synthetic_pools());
  ASSERT_EQ(first.models.size(), second.models.size());
  for (size_t i = 0; i < first.models.size(); ++i) expect_same_spec(first.models[i], second.models[i], true);
  EXPECT_EQ(plan_csv(first, job), plan_csv(second, job));
}

TEST(Plan, SeedChangesThePlan) {
  std::string text = job_text();
  text.replace(text.find("seed = 7"), 8, "seed = 8");
  EXPECT_NE(plan_of(text).models[0].sample_indices, plan_of(job_text()).models[0].sample_indices);
}

TEST(Plan, CsvHasOneRowPerModel) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan plan = make_plan(job, kLabels, synthetic_pools());
  const std::string csv = plan_csv(plan, job);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "id,family,design,design_group,design_role,probe_gap,init_group,seed,lr,n_samples,count_0,count_1,"
            "count_2,p_0,p_1,p_2");
  EXPECT_EQ(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')), plan.models.size() + 1);
  const ModelSpec& first = plan.models[0];
  const std::string row = csv.substr(csv.find('\n') + 1);
  EXPECT_EQ(row.rfind("0,linear_ae,random,-1,-1,0,0," + std::to_string(first.seed) + ",", 0), 0u) << row;
}

// The gaussian source: every model keeps each pool vector independently with probability p, so
// m ~ Binomial(n, p) and each vector's inclusion frequency over the zoo is p.
TEST(Plan, GaussianSubsetsAreBernoulli) {
  const Job job = parse_job(R"(
name = "g"
[data]
source = "gaussian"
pool = 500
inclusion = 0.2
[[family]]
name = "linear_ae"
models = 400
)", "<test>");
  std::vector<int64_t> pool(500);
  for (int64_t i = 0; i < 500; ++i) pool[i] = i;
  const Plan plan = make_plan(job, {0}, {pool});
  ASSERT_EQ(plan.models.size(), 400u);
  double mean = 0.0, square = 0.0;
  std::vector<int64_t> included(500, 0);
  for (const ModelSpec& m : plan.models) {
    const auto size = static_cast<double>(m.sample_indices.size());
    EXPECT_EQ(m.counts, (std::vector<int64_t>{static_cast<int64_t>(m.sample_indices.size())}));
    EXPECT_EQ(m.proportions, (std::vector<double>{1.0}));
    mean += size / 400.0;
    square += size * size / 400.0;
    for (int64_t index : m.sample_indices) ++included[index];
  }
  // Binomial(500, 0.2): mean 100, variance 80; over 400 models the mean's standard error is 0.45.
  EXPECT_NEAR(mean, 100.0, 2.5);
  EXPECT_NEAR(square - mean * mean, 80.0, 20.0);
  // Each vector in Binomial(400, 0.2) models: 80 ± 8; none is never or always taken.
  for (int64_t count : included) {
    EXPECT_GT(count, 40);
    EXPECT_LT(count, 120);
  }
}

TEST(Plan, SamplesMatchCountsAndPools) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan plan = make_plan(job, kLabels, synthetic_pools());
  for (const ModelSpec& m : plan.models) {
    ASSERT_EQ(static_cast<int64_t>(m.counts.size()), kClasses);
    ASSERT_EQ(static_cast<int64_t>(m.proportions.size()), kClasses);
    std::vector<int64_t> counted(kClasses, 0);
    for (int64_t index : m.sample_indices) {
      ASSERT_GE(index, 0);
      ASSERT_LT(index, kClasses * kPerClass);
      ++counted[index % kClasses];  // the class slot of a synthetic sample
    }
    EXPECT_EQ(counted, m.counts) << "model " << m.id;
    EXPECT_TRUE(std::adjacent_find(m.sample_indices.begin(), m.sample_indices.end(),
                                   [](int64_t a, int64_t b) { return a >= b; }) == m.sample_indices.end())
        << "model " << m.id << ": indices not strictly ascending";
    double sum = 0.0;
    for (double p : m.proportions) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-9);  // K normalized doubles: rounding ~K eps (1e-15); 1e-9 spares any margin
    const auto n = static_cast<int64_t>(m.sample_indices.size());
    if (m.design == Design::kRandom || (m.design == Design::kChain && m.design_role == 2)) {
      EXPECT_GE(n, job.data.samples_min);
      EXPECT_LE(n, job.data.samples_max);
    }
    if (m.design == Design::kTriplet && m.design_role < 2) {
      EXPECT_GE(n, job.data.samples_min / 2);
      EXPECT_LE(n, job.data.samples_max / 2);
    }
    const FamilyConfig& family = job.families[m.family_index];
    EXPECT_GE(m.lr, family.lr * std::exp(-family.lr_spread));
    EXPECT_LE(m.lr, family.lr * std::exp(family.lr_spread));
  }
  EXPECT_EQ(plan.models.back().lr, job.families[1].lr);  // no spread: exactly the family's lr
}

TEST(Plan, TripletsAreDisjointWithExactUnion) {
  const Plan plan = plan_of(job_text());
  const auto triplets = groups_of(plan, Design::kTriplet);
  EXPECT_EQ(triplets.size(), 5u + 2u);  // design groups are unique across families
  for (const auto& [group, members] : triplets) {
    ASSERT_EQ(members.size(), 3u) << "triplet " << group;
    for (int32_t role = 0; role < 3; ++role) EXPECT_EQ(members[role]->design_role, role);
    EXPECT_EQ(members[0]->family_index, members[2]->family_index);
    const auto d1 = as_set(*members[0]);
    const auto d2 = as_set(*members[1]);
    std::set<int64_t> both = d1;
    both.insert(d2.begin(), d2.end());
    EXPECT_EQ(both.size(), d1.size() + d2.size()) << "triplet " << group << ": D1 and D2 overlap";
    EXPECT_EQ(both, as_set(*members[2])) << "triplet " << group << ": union is not D1 u D2";
    for (int64_t k = 0; k < kClasses; ++k) {
      EXPECT_EQ(members[2]->counts[k], members[0]->counts[k] + members[1]->counts[k]);
      EXPECT_DOUBLE_EQ(members[2]->proportions[k],
                       static_cast<double>(members[2]->counts[k]) / members[2]->sample_indices.size());
    }
  }
}

TEST(Plan, ChainsAreStrictlyNested) {
  const Plan plan = plan_of(job_text());
  const auto chains = groups_of(plan, Design::kChain);
  EXPECT_EQ(chains.size(), 5u + 2u);
  for (const auto& [group, members] : chains) {
    ASSERT_EQ(members.size(), 3u) << "chain " << group;
    for (int32_t role = 0; role < 3; ++role) EXPECT_EQ(members[role]->design_role, role);
    EXPECT_FALSE(members[0]->sample_indices.empty());
    EXPECT_TRUE(is_strict_subset(*members[0], *members[1])) << "chain " << group << ": Da not inside Db";
    EXPECT_TRUE(is_strict_subset(*members[1], *members[2])) << "chain " << group << ": Db not inside Dc";
  }
}

TEST(Plan, ChainsStayNestedForTinySamples) {
  std::string text = job_text();
  text.replace(text.find("samples_min = 200"), 17, "samples_min = 3");
  text.replace(text.find("samples_max = 600"), 17, "samples_max = 4");
  const Plan plan = plan_of(text);
  for (const auto& [group, members] : groups_of(plan, Design::kChain)) {
    EXPECT_FALSE(members[0]->sample_indices.empty());
    EXPECT_TRUE(is_strict_subset(*members[0], *members[1])) << "chain " << group;
    EXPECT_TRUE(is_strict_subset(*members[1], *members[2])) << "chain " << group;
  }
}

TEST(Plan, ProbeModelsSubsampleSharedDisjointDatasets) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan plan = make_plan(job, kLabels, synthetic_pools());
  const auto dataset_counts = probe_dataset_counts(job.probe, kClasses);
  ASSERT_EQ(dataset_counts.size(), 3u);  // A and one B per gap
  // Union of what all models (of both families) saw of each dataset: never more than the dataset.
  std::vector<std::set<int64_t>> seen(dataset_counts.size());
  std::map<std::pair<int32_t, int64_t>, int64_t> models_per_dataset;
  for (const ModelSpec& m : plan.models) {
    if (m.design != Design::kProbe) continue;
    ASSERT_GE(m.design_group, 0);
    ASSERT_LT(m.design_group, 3);
    EXPECT_EQ(m.design_role, m.design_group);
    EXPECT_EQ(m.probe_gap, probe_dataset_gap(job.probe, m.design_group));
    EXPECT_EQ(m.proportions, probe_dataset_proportions(job.probe, kClasses)[m.design_group]);
    EXPECT_GT(m.sample_indices.size(), 0u);
    EXPECT_LT(static_cast<int64_t>(m.sample_indices.size()), job.probe.pool);
    seen[m.design_group].insert(m.sample_indices.begin(), m.sample_indices.end());
    ++models_per_dataset[{m.family_index, m.design_group}];
  }
  for (size_t d = 0; d < seen.size(); ++d) {
    const auto dataset = static_cast<int64_t>(d);
    EXPECT_EQ(models_per_dataset[std::make_pair(0, dataset)], 4);
    EXPECT_EQ(models_per_dataset[std::make_pair(1, dataset)], 3);
    std::vector<int64_t> per_class(kClasses, 0);
    for (int64_t index : seen[d]) ++per_class[index % kClasses];
    for (int64_t k = 0; k < kClasses; ++k) {
      EXPECT_LE(per_class[k], dataset_counts[d][k]) << "dataset " << d << " class " << k;
      // 7 models at q = 0.5 see nearly all of the dataset.
      EXPECT_GE(per_class[k], dataset_counts[d][k] * 9 / 10) << "dataset " << d << " class " << k;
    }
  }
  for (size_t b = 1; b < seen.size(); ++b) {
    for (int64_t index : seen[b]) EXPECT_EQ(seen[0].count(index), 0u) << "A and B" << b << " share " << index;
  }
}

TEST(Plan, ProbeDatasetsMustFitThePools) {
  const Job job = parse_job(job_text(), "<test>");
  EXPECT_THROW(make_plan(job, kLabels, synthetic_pools(400)), JobError);
}

TEST(Plan, InitGroupsShareInitSeeds) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan plan = make_plan(job, kLabels, synthetic_pools());
  std::map<std::pair<int32_t, int64_t>, std::set<uint64_t>> seeds_of_group;
  std::set<uint64_t> model_seeds;
  int64_t index_in_family = 0;
  int32_t family = 0;
  for (const ModelSpec& m : plan.models) {
    if (m.family_index != family) {
      family = m.family_index;
      index_in_family = 0;
    }
    const FamilyConfig& config = job.families[m.family_index];
    const int64_t expected = config.init == "group" ? index_in_family % config.init_groups : index_in_family;
    EXPECT_EQ(m.init_group, expected) << "model " << m.id;
    seeds_of_group[{m.family_index, m.init_group}].insert(m.init_seed);
    model_seeds.insert(m.seed);
    ++index_in_family;
  }
  std::set<uint64_t> distinct_init_seeds;
  for (const auto& [group, seeds] : seeds_of_group) {
    EXPECT_EQ(seeds.size(), 1u) << "family " << group.first << " init group " << group.second;
    distinct_init_seeds.insert(*seeds.begin());
  }
  EXPECT_EQ(seeds_of_group.size(), 3u + 31u);  // 3 groups, then one per conv_ae model (init = "model")
  EXPECT_EQ(distinct_init_seeds.size(), seeds_of_group.size());
  EXPECT_EQ(model_seeds.size(), plan.models.size());  // every model its own data stream
}

TEST(Plan, ChunksCoverEveryModelOnce) {
  const Job job = parse_job(job_text(), "<test>");
  const Plan plan = make_plan(job, kLabels, synthetic_pools());
  std::vector<int> covered(plan.models.size(), 0);
  int64_t expected_next = 0;
  for (size_t c = 0; c < plan.chunks.size(); ++c) {
    const Chunk& chunk = plan.chunks[c];
    EXPECT_EQ(chunk.index, static_cast<int64_t>(c));
    ASSERT_FALSE(chunk.model_ids.empty());
    EXPECT_LE(static_cast<int64_t>(chunk.model_ids.size()), job.families[chunk.family_index].chunk_models);
    for (int64_t id : chunk.model_ids) {
      EXPECT_EQ(id, expected_next++) << "chunks are consecutive runs of models";
      EXPECT_EQ(plan.models[id].family_index, chunk.family_index);
      ++covered[id];
    }
  }
  for (size_t id = 0; id < covered.size(); ++id) EXPECT_EQ(covered[id], 1) << "model " << id;
  // 62 linear_ae models in chunks of <= 16 -> 4 chunks; 31 conv_ae models in chunks of <= 7 -> 5 chunks.
  EXPECT_EQ(plan.chunks.size(), 4u + 5u);
}

TEST(Plan, DirichletMeanIsUniform) {
  const Plan plan = plan_of(R"(
name = "dirichlet"
[data]
samples_min = 10
samples_max = 20
alpha = 0.5
[[family]]
name = "linear_ae"
models = 4000
chunk_models = 4096
)");
  std::vector<double> mean(kClasses, 0.0);
  std::vector<double> realized(kClasses, 0.0);
  for (const ModelSpec& m : plan.models) {
    for (int64_t k = 0; k < kClasses; ++k) {
      mean[k] += m.proportions[k] / plan.models.size();
      realized[k] += static_cast<double>(m.counts[k]) / m.sample_indices.size() / plan.models.size();
    }
  }
  // Dir(0.5, 0.5, 0.5): each component has sd sqrt((1/3)(2/3)/2.5) = 0.30, so the mean of 4000 draws
  // has sd 0.0047; 0.025 is more than 5 sd.
  for (int64_t k = 0; k < kClasses; ++k) {
    EXPECT_NEAR(mean[k], 1.0 / kClasses, 0.025) << "class " << k;
    EXPECT_NEAR(realized[k], 1.0 / kClasses, 0.025) << "class " << k;
  }
}

TEST(Plan, FamiliesDoNotDisturbEachOther) {
  const Plan base = plan_of(job_text(10, 2));
  const Plan grown = plan_of(job_text(25, 4));
  const auto linear_models = [](const Plan& plan) {
    std::vector<const ModelSpec*> models;
    for (const ModelSpec& m : plan.models) {
      if (m.family_index == 0) models.push_back(&m);
    }
    return models;
  };
  const auto before = linear_models(base);
  const auto after = linear_models(grown);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) expect_same_spec(*before[i], *after[i], true);
  // The first conv_ae models are unchanged too: growing a design appends to it.
  const ModelSpec& first_conv = base.models[before.size()];
  const ModelSpec& first_conv_grown = grown.models[after.size()];
  EXPECT_EQ(first_conv.sample_indices, first_conv_grown.sample_indices);
  EXPECT_EQ(first_conv.seed, first_conv_grown.seed);
}

TEST(Plan, RefusesMismatchedClasses) {
  const Job job = parse_job(job_text(), "<test>");
  auto pools = synthetic_pools();
  pools.pop_back();
  EXPECT_THROW(make_plan(job, {0, 5}, pools), JobError);
}

TEST(Plan, ShippedJobsPlan) {
  for (const char* file : {"quickstart.toml", "paper-probe.toml", "zoo-1k.toml"}) {
    const Job job = load_job(source_dir() + "/jobs/" + file);
    const Plan plan = make_plan(job, kLabels, synthetic_pools());
    EXPECT_EQ(static_cast<int64_t>(plan.models.size()), job.total_models()) << file;
  }
}

}  // namespace
}  // namespace genzoo::test
