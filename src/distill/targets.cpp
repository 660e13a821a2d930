#include "distill/targets.h"

#include <cmath>
#include <numeric>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "priors/node_priors.h"
#include "store/zoo.h"

namespace genzoo::distill {

namespace {
constexpr uint64_t kMixtureStream = 0x64697374696c6cULL;  // "distill"
}

std::vector<std::vector<double>> target_mixtures(const DistillConfig& config, int64_t num_classes, double alpha,
                                                 uint64_t job_seed) {
  std::vector<std::vector<double>> out;
  if (!config.proportions.empty()) {
    for (size_t start = 0; start + num_classes <= config.proportions.size(); start += num_classes) {
      out.emplace_back(config.proportions.begin() + start, config.proportions.begin() + start + num_classes);
    }
    return out;
  }
  Rng rng(mix_seed(job_seed, kMixtureStream));
  for (int64_t i = 0; i < config.mixtures; ++i) out.push_back(rng.dirichlet(alpha, static_cast<int>(num_classes)));
  return out;
}

std::vector<int64_t> training_samples(const std::vector<double>& proportions, int64_t n,
                                      const std::vector<std::vector<int64_t>>& class_pools, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int64_t>> orders = class_pools;
  for (auto& order : orders) rng.shuffle(order);
  std::vector<double> cumulative(proportions.size());
  std::partial_sum(proportions.begin(), proportions.end(), cumulative.begin());
  std::vector<size_t> taken(orders.size(), 0);
  std::vector<int64_t> samples;
  samples.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const double u = rng.uniform() * cumulative.back();
    size_t slot = 0;
    while (slot + 1 < cumulative.size() && u >= cumulative[slot]) ++slot;
    if (taken[slot] == orders[slot].size()) {
      throw DistillError("key 'distill.sizes': n = " + std::to_string(n) + " needs more than the " +
                         std::to_string(orders[slot].size()) + " training images of class slot " + std::to_string(slot) +
                         " (mixture proportion " + std::to_string(proportions[slot]) + ")");
    }
    samples.push_back(orders[slot][taken[slot]++]);
  }
  return samples;
}

double shape_distance(const std::vector<double>& p, const std::vector<double>& q) {
  double sum = 0.0;
  for (size_t k = 0; k < p.size() && k < q.size(); ++k) {
    const double d = std::sqrt(std::max(p[k], 0.0)) - std::sqrt(std::max(q[k], 0.0));
    sum += d * d;
  }
  return std::sqrt(sum);
}

const priors::PriorRecord* nearest_node(const std::vector<priors::PriorRecord>& priors, const std::string& family,
                                        const std::vector<double>& proportions) {
  const priors::PriorRecord* best = nullptr;
  double best_distance = 0.0;
  for (const priors::PriorRecord& record : priors) {
    if (record.family != family || record.kind != "node") continue;
    const double distance = shape_distance(record.proportions, proportions);
    const bool better = !best || distance < best_distance ||
                        (distance == best_distance && (record.member_ids.size() > best->member_ids.size() ||
                                                       (record.member_ids.size() == best->member_ids.size() && record.name < best->name)));
    if (better) {
      best = &record;
      best_distance = distance;
    }
  }
  return best;
}

const priors::PriorRecord* root_of(const std::vector<priors::PriorRecord>& priors, const priors::PriorRecord& node) {
  const std::string name = "root-g" + std::to_string(node.init_group);
  for (const priors::PriorRecord& record : priors) {
    if (record.family == node.family && record.name == name) return &record;
  }
  return nullptr;
}

const ModelRecord* nearest_model(const std::vector<ModelRecord>& models, const std::string& family,
                                 const std::vector<double>& proportions) {
  const ModelRecord* best = nullptr;
  double best_distance = 0.0;
  for (const ModelRecord& model : models) {
    if (model.family != family || model.status != "ok") continue;
    const double distance = shape_distance(model.proportions, proportions);
    if (!best || distance < best_distance) {
      best = &model;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace genzoo::distill
