#include "priors/node_priors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "priors/students.h"
#include "reduce/hierarchy.h"
#include "store/zoo.h"

namespace genzoo::priors {

namespace {

std::vector<double> as_doubles(const float* x, int64_t n) { return std::vector<double>(x, x + n); }

// One candidate node of an init group: its members (indices into the group's fit rows) and, for the
// held-out check, every model id under it.
struct Candidate {
  std::string name;
  int64_t cluster = -1;
  std::vector<int64_t> subset;
  std::set<int64_t> leaves;  // model ids under the cluster (all of them, held-out included)
};

std::vector<double> sample_variances(const std::vector<const float*>& members, const std::vector<double>& mean) {
  std::vector<double> v(mean.size(), 0.0);
  const double dof = static_cast<double>(std::max<size_t>(members.size(), 2) - 1);
  for (const float* m : members)
    for (size_t i = 0; i < mean.size(); ++i) v[i] += (m[i] - mean[i]) * (m[i] - mean[i]) / dof;
  return v;
}

double isotropic_variance(const LowRankGaussian& g) {
  double total = 0.0;
  for (int64_t i = 0; i < g.size(); ++i) {
    total += g.diag[i];
    for (int64_t k = 0; k < g.rank; ++k) total += g.factor[i * g.rank + k] * g.factor[i * g.rank + k];
  }
  return total / static_cast<double>(g.size());
}

}  // namespace

StoredGaussian StoredGaussian::from(const LowRankGaussian& g) {
  StoredGaussian s;
  s.mean.assign(g.mean.begin(), g.mean.end());
  s.diag.assign(g.diag.begin(), g.diag.end());
  s.factor.assign(g.factor.begin(), g.factor.end());
  s.rank = g.rank;
  return s;
}

LowRankGaussian StoredGaussian::gaussian() const {
  LowRankGaussian g;
  g.mean.assign(mean.begin(), mean.end());
  g.diag.assign(diag.begin(), diag.end());
  g.factor.assign(factor.begin(), factor.end());
  g.rank = rank;
  g.check();
  return g;
}

int64_t PriorCheckRecord::beats_root() const {
  int64_t n = 0;
  for (size_t i = 0; i < log_node.size(); ++i) n += log_node[i] > log_root[i];
  return n;
}

int64_t PriorCheckRecord::beats_isotropic() const {
  int64_t n = 0;
  for (size_t i = 0; i < log_node.size(); ++i) n += log_node[i] > log_isotropic[i];
  return n;
}

std::vector<AlignedRecord> align_students(const LowRankGaussian& g, const FamilyConfig& teacher, const ReduceConfig& config,
                                          uint64_t seed, const std::vector<double>& gradient_variance) {
  std::vector<AlignedRecord> out;
  for (const std::string& text : config.prior_students) {
    const StudentSpec spec = parse_student_spec(text);
    if (spec.family != teacher.name) continue;
    try {
      AlignedPrior aligned = align(g, teacher, student_config(teacher, spec), config.prior_order, seed, gradient_variance);
      out.push_back({spec.name, config.prior_order, std::move(aligned.steps), StoredGaussian::from(aligned.gaussian),
                     std::move(aligned.layout)});
    } catch (const ReduceError& e) {
      throw ReduceError("reduce.prior_students \"" + text + "\": " + e.what());
    }
  }
  return out;
}

LowRankGaussian swag_posterior(const std::vector<const float*>& iterates, int64_t size, int64_t rank, double diag_floor) {
  const int64_t t = static_cast<int64_t>(iterates.size());
  if (t < 2) throw ReduceError("SWAG: needs at least two iterates (stored checkpoints and the final weights), got " + std::to_string(t));
  const int64_t k = std::min(t, rank + 1);  // deviations of the last K iterates: rank K
  LowRankGaussian g;
  g.mean.assign(size, 0.0);
  std::vector<double> second(size, 0.0);
  for (const float* w : iterates) {
    for (int64_t i = 0; i < size; ++i) g.mean[i] += w[i], second[i] += static_cast<double>(w[i]) * w[i];
  }
  g.diag.resize(size);
  for (int64_t i = 0; i < size; ++i) {
    g.mean[i] /= static_cast<double>(t);
    const double variance = std::max(second[i] / static_cast<double>(t) - g.mean[i] * g.mean[i], 0.0);
    g.diag[i] = std::max(diag_floor, 0.5 * variance);
  }
  g.rank = k;
  g.factor.assign(size * k, 0.0);
  const double scale = 1.0 / std::sqrt(2.0 * static_cast<double>(k - 1));
  for (int64_t c = 0; c < k; ++c) {
    const float* w = iterates[t - k + c];
    for (int64_t i = 0; i < size; ++i) g.factor[i * k + c] = (w[i] - g.mean[i]) * scale;
  }
  return g;
}

FamilyPriors family_priors(const FamilyPriorInputs& in, const ReduceConfig& config) {
  const FamilyWeights& weights = *in.weights;
  const int64_t p = weights.param_count();
  FamilyPriors out;
  out.check.family = weights.family;
  // Fit rows per init group, and the held-out rows.
  std::map<int64_t, std::vector<int64_t>> fit_rows;
  std::vector<int64_t> held_rows;
  for (size_t r = 0; r < weights.model_ids.size(); ++r) {
    const auto it = in.records->find(weights.model_ids[r]);
    if (it == in.records->end() || it->second->status == "diverged") continue;
    (in.held_out.count(weights.model_ids[r]) ? held_rows : fit_rows[it->second->init_group]).push_back(static_cast<int64_t>(r));
  }
  const auto row_of = [&](int64_t r) { return weights.data.data() + r * p; };
  Rng seeds(in.seed);
  for (const auto& [group, rows] : fit_rows) {
    const int64_t n = static_cast<int64_t>(rows.size());
    const std::string suffix = "-g" + std::to_string(group);
    if (n < config.prior_min_members) {
      out.notes.push_back(weights.family + " init group " + std::to_string(group) + ": " + std::to_string(n) +
                          " models, fewer than reduce.prior_min_members = " + std::to_string(config.prior_min_members) +
                          "; no priors");
      continue;
    }
    // Candidates: the root, then each dendrogram cluster whose members of this group differ from
    // every earlier candidate's (nested clusters often add only other groups' models).
    std::vector<Candidate> candidates;
    Candidate root{"root" + suffix, -1, std::vector<int64_t>(n), {}};
    std::iota(root.subset.begin(), root.subset.end(), int64_t{0});
    root.leaves.insert(weights.model_ids.begin(), weights.model_ids.end());
    std::map<int64_t, int64_t> index_of_id;
    for (int64_t a = 0; a < n; ++a) index_of_id[weights.model_ids[rows[a]]] = a;
    std::set<std::vector<int64_t>> seen{root.subset};
    if (in.dendrogram) {
      const int64_t leaves = in.dendrogram->leaves;
      root.cluster = 2 * leaves - 2;
      for (size_t row = 0; row + 1 < in.dendrogram->members.size(); ++row) {
        Candidate c;
        c.cluster = leaves + static_cast<int64_t>(row);
        c.name = "c" + std::to_string(c.cluster) + suffix;
        for (int64_t leaf : in.dendrogram->members[row]) {
          const int64_t id = in.leaf_ids.at(leaf);
          c.leaves.insert(id);
          const auto it = index_of_id.find(id);
          if (it != index_of_id.end()) c.subset.push_back(it->second);
        }
        std::sort(c.subset.begin(), c.subset.end());
        if (static_cast<int64_t>(c.subset.size()) < config.prior_min_members) continue;
        // A cluster with the same fit members as an earlier one shares its prior (the lowest cluster
        // names it), which then also serves the held-out models under this cluster.
        const auto same = seen.find(c.subset);
        if (same != seen.end()) {
          for (Candidate& earlier : candidates) {
            if (earlier.subset == c.subset) earlier.leaves.insert(c.leaves.begin(), c.leaves.end());
          }
          continue;
        }
        seen.insert(c.subset);
        candidates.push_back(std::move(c));
      }
    }
    candidates.insert(candidates.begin(), std::move(root));
    // Each held-out model of the group is checked at the smallest non-root candidate above it.
    std::map<size_t, std::vector<int64_t>> checks;  // candidate -> held-out rows
    for (int64_t r : held_rows) {
      if (in.records->at(weights.model_ids[r])->init_group != group) continue;
      size_t best = 0;
      for (size_t c = 1; c < candidates.size(); ++c) {
        if (candidates[c].leaves.count(weights.model_ids[r]) &&
            (best == 0 || candidates[c].subset.size() < candidates[best].subset.size())) {
          best = c;
        }
      }
      if (best > 0) checks[best].push_back(r);
    }

    std::vector<const float*> group_members;
    for (int64_t r : rows) group_members.push_back(row_of(r));
    std::vector<double> shift(p, 0.0);
    for (const float* m : group_members)
      for (int64_t i = 0; i < p; ++i) shift[i] += m[i] / static_cast<double>(n);
    const std::vector<double> gram = shifted_gram(group_members, p, shift);
    LowRankGaussian root_gaussian;
    std::vector<double> root_variance;
    std::vector<uint64_t> align_seeds;  // drawn in candidate order: the same priors on any thread count
    for (size_t c = 0; c < candidates.size(); ++c) align_seeds.push_back(seeds.next_u64());
    std::vector<PriorRecord> records(candidates.size());
    std::vector<PriorCheckRecord> checked(candidates.size());
    const auto fit_candidate = [&](size_t c) {
      const Candidate& cand = candidates[c];
      std::vector<const float*> members;
      PriorRecord& record = records[c];
      record.family = weights.family;
      record.name = cand.name;
      record.kind = "node";
      record.cluster = cand.cluster;
      record.init_group = group;
      record.proportions.assign(in.num_classes, 0.0);
      for (int64_t a : cand.subset) {
        members.push_back(group_members[a]);
        const ModelRecord& m = *in.records->at(weights.model_ids[rows[a]]);
        record.member_ids.push_back(m.id);
        for (int64_t k = 0; k < in.num_classes && k < static_cast<int64_t>(m.proportions.size()); ++k) {
          record.proportions[k] += m.proportions[k] / static_cast<double>(cand.subset.size());
        }
      }
      const int64_t rank = std::min<int64_t>(config.prior_rank, static_cast<int64_t>(members.size()) - 1);
      const std::vector<double> centred = centred_gram(gram, n, cand.subset);
      // A node's diagonal shrinks toward its root's sample variances ("parent") or its own mean
      // variance ("pooled"); the root always toward its pooled variance.
      const bool to_root = c > 0 && config.prior_shrinkage_target == "parent";
      LowRankGaussian g = fit_members(members, p, rank, config.prior_shrinkage, config.prior_floor, &centred,
                                      to_root ? &root_variance : nullptr);
      if (c == 0) root_variance = sample_variances(members, g.mean);
      record.shrinkage = config.prior_shrinkage;
      record.diag_floor = config.prior_floor;
      record.layout = weights.layout;
      std::vector<double> gradient_variance;
      if (in.gradient_variance) {
        gradient_variance.assign(p, 0.0);
        for (int64_t a : cand.subset) {
          const std::vector<float>& v = (*in.gradient_variance)[rows[a]];
          for (int64_t i = 0; i < p; ++i) gradient_variance[i] += v[i] / static_cast<double>(cand.subset.size());
        }
      }
      if (in.config) record.aligned = align_students(g, *in.config, config, align_seeds[c], gradient_variance);
      if (c == 0) {
        root_gaussian = g;
      } else if (checks.count(c)) {
        const LowRankGaussian iso = isotropic(g.mean, isotropic_variance(g));
        for (int64_t r : checks.at(c)) {
          const std::vector<double> x = as_doubles(row_of(r), p);
          checked[c].model_ids.push_back(weights.model_ids[r]);
          checked[c].nodes.push_back(cand.name);
          checked[c].log_node.push_back(g.log_density(x));
          checked[c].log_root.push_back(root_gaussian.log_density(x));
          checked[c].log_isotropic.push_back(iso.log_density(x));
        }
      }
      record.gaussian = StoredGaussian::from(g);
    };
    fit_candidate(0);  // the root first: the nodes shrink toward it and are checked against it
    // The nodes are independent: one per thread (OpenMP), the first error rethrown after the loop.
    std::string error;
#pragma omp parallel for schedule(dynamic)
    for (size_t c = 1; c < candidates.size(); ++c) {
      try {
        fit_candidate(c);
      } catch (const std::exception& e) {
#pragma omp critical
        if (error.empty()) error = e.what();
      }
    }
    if (!error.empty()) throw ReduceError(error);
    for (size_t c = 0; c < candidates.size(); ++c) {
      const PriorCheckRecord& part = checked[c];
      out.check.model_ids.insert(out.check.model_ids.end(), part.model_ids.begin(), part.model_ids.end());
      out.check.nodes.insert(out.check.nodes.end(), part.nodes.begin(), part.nodes.end());
      out.check.log_node.insert(out.check.log_node.end(), part.log_node.begin(), part.log_node.end());
      out.check.log_root.insert(out.check.log_root.end(), part.log_root.begin(), part.log_root.end());
      out.check.log_isotropic.insert(out.check.log_isotropic.end(), part.log_isotropic.begin(), part.log_isotropic.end());
      out.priors.push_back(std::move(records[c]));
    }
  }
  return out;
}

}  // namespace genzoo::priors
