#include "plan/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <iterator>
#include <sstream>

#include "common/error.h"
#include "common/rng.h"

namespace genzoo {

const char* design_name(Design d) {
  switch (d) {
    case Design::kRandom: return "random";
    case Design::kTriplet: return "triplet";
    case Design::kChain: return "chain";
    case Design::kProbe: return "probe";
  }
  return "unknown";
}

namespace {

// Training indices per class slot, each ascending.
using ClassSamples = std::vector<std::vector<int64_t>>;

// Every random draw comes from a stream keyed by what is drawn (family, design, index), never by the
// model's position in the plan, so that growing one family or design leaves all other models as they were.
enum StreamTag : uint64_t {
  kFamilyStream = 1,        // (family, design, index...): one model, or one triplet / chain
  kProbeDatasetStream = 2,  // (dataset): the probe datasets shared by all families
  kInitStream = 3,          // (family, init group): initial weights
};
// Sub-streams of one model's key.
enum SubStream : uint64_t { kDataStream = 0, kLrStream = 1, kTrainStream = 2 };

// Folds a path of stream ids into a seed: stream_key(job seed, {tag, ...}).
uint64_t stream_key(uint64_t root, std::initializer_list<uint64_t> path) {
  uint64_t key = root;
  for (uint64_t part : path) key = mix_seed(key, part);
  return key;
}

int64_t total_size(const ClassSamples& samples) {
  int64_t n = 0;
  for (const auto& s : samples) n += static_cast<int64_t>(s.size());
  return n;
}

int64_t uniform_between(Rng& rng, int64_t lo, int64_t hi) { return lo + rng.uniform_int(hi - lo + 1); }

// counts[k] distinct samples of each class slot out of available[k].
ClassSamples draw_samples(Rng& rng, const ClassSamples& available, const std::vector<int64_t>& counts) {
  ClassSamples drawn(available.size());
  for (size_t k = 0; k < available.size(); ++k) {
    const auto& pool = available[k];
    for (int64_t position : rng.sample_without_replacement(static_cast<int64_t>(pool.size()), counts[k])) {
      drawn[k].push_back(pool[position]);
    }
    std::sort(drawn[k].begin(), drawn[k].end());
  }
  return drawn;
}

struct Mixture {
  std::vector<double> proportions;  // target
  ClassSamples samples;
};

// p ~ Dir(alpha 1_K), n ~ U{n_lo..n_hi}, counts ~ Mult(n, p) clipped to what is available.
Mixture draw_mixture(Rng& rng, double alpha, int64_t n_lo, int64_t n_hi, const ClassSamples& available) {
  Mixture mixture;
  mixture.proportions = rng.dirichlet(alpha, static_cast<int>(available.size()));
  std::vector<int64_t> counts = rng.multinomial(uniform_between(rng, n_lo, n_hi), mixture.proportions);
  for (size_t k = 0; k < counts.size(); ++k) {
    counts[k] = std::min<int64_t>(counts[k], static_cast<int64_t>(available[k].size()));
  }
  mixture.samples = draw_samples(rng, available, counts);
  return mixture;
}

ClassSamples without(const ClassSamples& pools, const ClassSamples& taken) {
  ClassSamples rest(pools.size());
  for (size_t k = 0; k < pools.size(); ++k) {
    std::set_difference(pools[k].begin(), pools[k].end(), taken[k].begin(), taken[k].end(),
                        std::back_inserter(rest[k]));
  }
  return rest;
}

ClassSamples merged(const ClassSamples& a, const ClassSamples& b) {
  ClassSamples both(a.size());
  for (size_t k = 0; k < a.size(); ++k) {
    std::merge(a[k].begin(), a[k].end(), b[k].begin(), b[k].end(), std::back_inserter(both[k]));
  }
  return both;
}

// A random proper subset of a chain member: every class keeps a U(0.4, 0.8) fraction of its samples
// (rounded down, so each non-empty class loses at least one), topped up to at least min_total samples.
ClassSamples nested_subset(Rng& rng, const ClassSamples& parent, int64_t min_total) {
  ClassSamples kept(parent.size());
  ClassSamples dropped(parent.size());
  int64_t total = 0;
  for (size_t k = 0; k < parent.size(); ++k) {
    std::vector<int64_t> shuffled = parent[k];
    rng.shuffle(shuffled);
    const double fraction = 0.4 + 0.4 * rng.uniform();
    const auto keep = static_cast<size_t>(std::floor(fraction * static_cast<double>(shuffled.size())));
    kept[k].assign(shuffled.begin(), shuffled.begin() + keep);
    dropped[k].assign(shuffled.begin() + keep, shuffled.end());
    total += static_cast<int64_t>(keep);
  }
  // Only tiny parents need the top-up; data.samples_min >= 3 keeps the subset proper.
  for (size_t k = 0; k < parent.size() && total < min_total; ++k) {
    while (!dropped[k].empty() && total < min_total) {
      kept[k].push_back(dropped[k].back());
      dropped[k].pop_back();
      ++total;
    }
  }
  for (auto& samples : kept) std::sort(samples.begin(), samples.end());
  return kept;
}

// Every sample of the dataset kept independently with probability q (redrawn in the rare empty case).
ClassSamples bernoulli_subset(Rng& rng, const ClassSamples& dataset, double q) {
  for (;;) {
    ClassSamples kept(dataset.size());
    for (size_t k = 0; k < dataset.size(); ++k) {
      for (int64_t index : dataset[k]) {
        if (rng.uniform() < q) kept[k].push_back(index);
      }
    }
    if (total_size(kept) > 0) return kept;
  }
}

std::vector<double> realized_proportions(const ClassSamples& samples) {
  const double n = static_cast<double>(total_size(samples));
  std::vector<double> p;
  for (const auto& s : samples) p.push_back(static_cast<double>(s.size()) / n);
  return p;
}

struct ProbeDataset {
  std::vector<double> proportions;
  double gap = 0.0;
  ClassSamples samples;
};

// Dataset A and every B: fixed by the job seed alone; A is disjoint from each B.
std::vector<ProbeDataset> draw_probe_datasets(const Job& job, const ClassSamples& pools) {
  const int64_t num_classes = static_cast<int64_t>(pools.size());
  const auto proportions = probe_dataset_proportions(job.probe, num_classes);
  const auto counts = probe_dataset_counts(job.probe, num_classes);
  std::vector<ProbeDataset> datasets;
  ClassSamples rest_after_a;
  for (size_t d = 0; d < proportions.size(); ++d) {
    const ClassSamples& available = d == 0 ? pools : rest_after_a;
    for (int64_t k = 0; k < num_classes; ++k) {
      if (counts[d][k] > static_cast<int64_t>(available[k].size())) {
        throw JobError(job.source + ": key 'probe.pool': probe dataset " + std::to_string(d) + " needs " +
                       std::to_string(counts[d][k]) + " samples of class slot " + std::to_string(k) + ", only " +
                       std::to_string(available[k].size()) + " are left");
      }
    }
    Rng rng(stream_key(job.seed, {kProbeDatasetStream, d}));
    datasets.push_back({proportions[d], probe_dataset_gap(job.probe, static_cast<int64_t>(d)),
                        draw_samples(rng, available, counts[d])});
    if (d == 0) rest_after_a = without(pools, datasets[0].samples);
  }
  return datasets;
}

class PlanBuilder {
 public:
  PlanBuilder(const Job& job, const ClassSamples& pools) : job_(job), pools_(pools) {
    const bool any_probe_models = std::any_of(job.families.begin(), job.families.end(),
                                              [](const FamilyConfig& f) { return f.probe_models > 0; });
    if (any_probe_models) probe_datasets_ = draw_probe_datasets(job, pools);
  }

  void add_family(int32_t family_index) {
    const FamilyConfig& family = job_.families[family_index];
    family_index_ = family_index;
    first_model_ = static_cast<int64_t>(plan_.models.size());
    const DataConfig& data = job_.data;
    const uint64_t family_stream = stream_key(job_.seed, {kFamilyStream, static_cast<uint64_t>(family_index)});
    const auto family_key = [family_stream](std::initializer_list<uint64_t> path) {
      return stream_key(family_stream, path);
    };

    for (int64_t i = 0; i < family.models; ++i) {
      const uint64_t key = family_key({static_cast<uint64_t>(Design::kRandom), static_cast<uint64_t>(i)});
      Rng rng(mix_seed(key, kDataStream));
      // The gaussian source (seed 000): X1 keeps each pool vector independently with probability p.
      Mixture mixture = data.gaussian() ? Mixture{{1.0}, bernoulli_subset(rng, pools_, data.inclusion)}
                                        : draw_mixture(rng, data.alpha, data.samples_min, data.samples_max, pools_);
      add_model(key, Design::kRandom, -1, -1, 0.0, mixture.proportions, mixture.samples);
    }

    // D1 and D2 take half the sample-size range each, so their union stays within reach of the range.
    const int64_t half_min = std::max<int64_t>(1, data.samples_min / 2);
    const int64_t half_max = std::max<int64_t>(half_min, data.samples_max / 2);
    for (int64_t t = 0; t < family.triplets; ++t) {
      const uint64_t key = family_key({static_cast<uint64_t>(Design::kTriplet), static_cast<uint64_t>(t)});
      Rng rng(mix_seed(key, kDataStream));
      const Mixture d1 = draw_mixture(rng, data.alpha, half_min, half_max, pools_);
      const Mixture d2 = draw_mixture(rng, data.alpha, half_min, half_max, without(pools_, d1.samples));
      const ClassSamples both = merged(d1.samples, d2.samples);
      const int64_t group = next_triplet_++;
      add_model(mix_seed(key, 0), Design::kTriplet, group, 0, 0.0, d1.proportions, d1.samples);
      add_model(mix_seed(key, 1), Design::kTriplet, group, 1, 0.0, d2.proportions, d2.samples);
      add_model(mix_seed(key, 2), Design::kTriplet, group, 2, 0.0, realized_proportions(both), both);
    }

    for (int64_t c = 0; c < family.chains; ++c) {
      const uint64_t key = family_key({static_cast<uint64_t>(Design::kChain), static_cast<uint64_t>(c)});
      Rng rng(mix_seed(key, kDataStream));
      const Mixture dc = draw_mixture(rng, data.alpha, data.samples_min, data.samples_max, pools_);
      const ClassSamples db = nested_subset(rng, dc.samples, 2);
      const ClassSamples da = nested_subset(rng, db, 1);
      const int64_t group = next_chain_++;
      add_model(mix_seed(key, 0), Design::kChain, group, 0, 0.0, realized_proportions(da), da);
      add_model(mix_seed(key, 1), Design::kChain, group, 1, 0.0, realized_proportions(db), db);
      add_model(mix_seed(key, 2), Design::kChain, group, 2, 0.0, dc.proportions, dc.samples);
    }

    for (size_t d = 0; d < probe_datasets_.size(); ++d) {
      const ProbeDataset& dataset = probe_datasets_[d];
      for (int64_t j = 0; j < family.probe_models; ++j) {
        const uint64_t key = family_key({static_cast<uint64_t>(Design::kProbe), d, static_cast<uint64_t>(j)});
        Rng rng(mix_seed(key, kDataStream));
        const ClassSamples subset = bernoulli_subset(rng, dataset.samples, job_.probe.keep);
        add_model(key, Design::kProbe, static_cast<int64_t>(d), static_cast<int32_t>(d), dataset.gap,
                  dataset.proportions, subset);
      }
    }
    add_chunks(family);
  }

  Plan take() { return std::move(plan_); }

 private:
  void add_model(uint64_t key, Design design, int64_t group, int32_t role, double gap,
                 const std::vector<double>& proportions, const ClassSamples& samples) {
    const FamilyConfig& family = job_.families[family_index_];
    const int64_t index_in_family = static_cast<int64_t>(plan_.models.size()) - first_model_;
    if (total_size(samples) == 0) {
      throw JobError(job_.source + ": family[" + std::to_string(family_index_) + "] (" + family.name + "): model " +
                     std::to_string(index_in_family) + " of the family has no training samples (class pools too small)");
    }
    ModelSpec spec;
    spec.id = static_cast<int64_t>(plan_.models.size());
    spec.family_index = family_index_;
    spec.seed = mix_seed(key, kTrainStream);
    spec.init_group = family.init == "group" ? index_in_family % family.init_groups : index_in_family;
    spec.init_seed = stream_key(job_.seed, {kInitStream, static_cast<uint64_t>(family_index_),
                                            static_cast<uint64_t>(spec.init_group)});
    Rng lr_rng(mix_seed(key, kLrStream));
    spec.lr = family.lr * std::exp(family.lr_spread * (2.0 * lr_rng.uniform() - 1.0));
    spec.proportions = proportions;
    for (const auto& s : samples) {
      spec.counts.push_back(static_cast<int64_t>(s.size()));
      spec.sample_indices.insert(spec.sample_indices.end(), s.begin(), s.end());
    }
    std::sort(spec.sample_indices.begin(), spec.sample_indices.end());
    spec.design = design;
    spec.design_group = group;
    spec.design_role = role;
    spec.probe_gap = gap;
    plan_.models.push_back(std::move(spec));
  }

  // The family's models in consecutive chunks of at most chunk_models, sizes balanced within one.
  void add_chunks(const FamilyConfig& family) {
    const int64_t count = static_cast<int64_t>(plan_.models.size()) - first_model_;
    if (count == 0) return;
    const int64_t chunks = (count + family.chunk_models - 1) / family.chunk_models;
    int64_t next = first_model_;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t size = count / chunks + (c < count % chunks ? 1 : 0);
      Chunk chunk;
      chunk.index = static_cast<int64_t>(plan_.chunks.size());
      chunk.family_index = family_index_;
      for (int64_t i = 0; i < size; ++i) chunk.model_ids.push_back(next++);
      plan_.chunks.push_back(std::move(chunk));
    }
  }

  const Job& job_;
  const ClassSamples& pools_;
  std::vector<ProbeDataset> probe_datasets_;
  Plan plan_;
  int32_t family_index_ = 0;
  int64_t first_model_ = 0;
  int64_t next_triplet_ = 0;  // design groups are unique within the plan
  int64_t next_chain_ = 0;
};

}  // namespace

Plan make_plan(const Job& job, const std::vector<int64_t>& classes,
               const std::vector<std::vector<int64_t>>& class_pools) {
  if (static_cast<int64_t>(classes.size()) != job.data.num_classes || class_pools.size() != classes.size()) {
    throw JobError(job.source + ": the plan needs data.num_classes = " + std::to_string(job.data.num_classes) +
                   " classes with a sample pool each, got " + std::to_string(classes.size()) + " classes and " +
                   std::to_string(class_pools.size()) + " pools");
  }
  for (const auto& pool : class_pools) {
    if (!std::is_sorted(pool.begin(), pool.end())) throw JobError("make_plan: class pools must be ascending");
  }
  PlanBuilder builder(job, class_pools);
  for (size_t f = 0; f < job.families.size(); ++f) builder.add_family(static_cast<int32_t>(f));
  Plan plan = builder.take();
  plan.classes = classes;
  return plan;
}

std::string plan_csv(const Plan& plan, const Job& job) {
  const size_t num_classes = plan.classes.size();
  std::ostringstream out;
  out << "id,family,design,design_group,design_role,probe_gap,init_group,seed,lr,n_samples";
  for (size_t k = 0; k < num_classes; ++k) out << ",count_" << k;
  for (size_t k = 0; k < num_classes; ++k) out << ",p_" << k;
  out << "\n";
  char number[64];
  const auto decimal = [&number](double x) {
    std::snprintf(number, sizeof number, "%.9g", x);
    return std::string(number);
  };
  for (const ModelSpec& m : plan.models) {
    out << m.id << ',' << job.families.at(m.family_index).name << ',' << design_name(m.design) << ','
        << m.design_group << ',' << m.design_role << ',' << decimal(m.probe_gap) << ',' << m.init_group << ','
        << m.seed << ',' << decimal(m.lr) << ',' << m.sample_indices.size();
    for (int64_t count : m.counts) out << ',' << count;
    for (double p : m.proportions) out << ',' << decimal(p);
    out << "\n";
  }
  return out.str();
}

}  // namespace genzoo
