// Cost of the reduce stage's priors at zoo-1k's sizes, without training zoo-1k: every family of the
// job gets synthetic weights of its real layout (init-group offsets plus per-model deviations along
// a few directions), a dendrogram from average linkage on random class shapes, 20 % held out, and the
// job's [reduce] prior settings. Prints per family the models, P, priors, seconds and the memory the
// priors hold (O(P r) each).
//   cmake --build build --target genzoo_bench_priors && build/genzoo_bench_priors jobs/zoo-1k.toml
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "common/rng.h"
#include "job/job.h"
#include "models/family.h"
#include "priors/node_priors.h"
#include "reduce/hierarchy.h"
#include "store/zoo.h"

using namespace genzoo;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s JOB.toml\n", argv[0]);
    return 2;
  }
  const Job job = load_job(argv[1]);
  const ReduceConfig& config = job.reduce;
  std::printf("family      models        P  priors  seconds  prior_MiB\n");
  for (const FamilyConfig& family : job.families) {
    const int64_t n = family.total_models(job.probe.datasets());
    FamilyWeights weights;
    weights.family = family.name;
    weights.layout = find_family(family.name).layout(family);
    const int64_t p = weights.param_count();
    Rng rng(1);
    std::vector<ModelRecord> models(n);
    std::vector<std::vector<float>> offsets(family.init_groups, std::vector<float>(p));
    for (auto& o : offsets)
      for (float& v : o) v = static_cast<float>(rng.uniform() - 0.5);
    std::vector<std::vector<float>> directions(4, std::vector<float>(p));
    for (auto& d : directions)
      for (float& v : d) v = static_cast<float>(0.1 * (rng.uniform() - 0.5));
    std::vector<double> shapes;
    weights.data.resize(static_cast<size_t>(n * p));
    for (int64_t id = 0; id < n; ++id) {
      ModelRecord& m = models[id];
      m.id = id;
      m.family = family.name;
      m.status = "ok";
      m.init_group = id % family.init_groups;
      double total = 0.0;
      for (int k = 0; k < 3; ++k) m.proportions.push_back(rng.uniform() + 0.05), total += m.proportions.back();
      for (double& q : m.proportions) q /= total, shapes.push_back(std::sqrt(q));
      weights.model_ids.push_back(id);
      float* w = weights.data.data() + id * p;
      for (int64_t i = 0; i < p; ++i) w[i] = offsets[m.init_group][i] + static_cast<float>(0.01 * (rng.uniform() - 0.5));
      for (const auto& d : directions) {
        const float a = static_cast<float>(rng.uniform() - 0.5);
        for (int64_t i = 0; i < p; ++i) w[i] += a * d[i];
      }
    }
    std::map<int64_t, const ModelRecord*> records;
    for (const ModelRecord& m : models) records[m.id] = &m;
    const Dendrogram dendrogram = average_linkage(euclidean_distances(shapes, n, 3), n);
    priors::FamilyPriorInputs in;
    in.weights = &weights;
    in.records = &records;
    in.config = &family;
    in.dendrogram = &dendrogram;
    in.leaf_ids.resize(n);
    std::iota(in.leaf_ids.begin(), in.leaf_ids.end(), int64_t{0});
    for (int64_t id = 0; id < n; id += 5) in.held_out.insert(id);
    in.num_classes = 3;
    const auto start = std::chrono::steady_clock::now();
    const priors::FamilyPriors out = priors::family_priors(in, config);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double bytes = 0.0;
    for (const auto& prior : out.priors) {
      bytes += 4.0 * (prior.gaussian.mean.size() + prior.gaussian.diag.size() + prior.gaussian.factor.size());
      for (const auto& a : prior.aligned) bytes += 4.0 * (a.gaussian.mean.size() + a.gaussian.diag.size() + a.gaussian.factor.size());
    }
    std::printf("%-10s %7lld %8lld %7zu %8.2f %10.1f\n", family.name.c_str(), static_cast<long long>(n),
                static_cast<long long>(p), out.priors.size(), seconds, bytes / (1 << 20));
  }
  return 0;
}
