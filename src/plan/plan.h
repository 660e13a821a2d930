// The planner turns a job into model specs: proportions, counts and the exact training samples of
// every model, structured designs and init groups. The plan is a pure function of the job, the
// training labels and the selected classes, so every MPI rank derives the same one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "job/job.h"

namespace genzoo {

enum class Design : int32_t { kRandom = 0, kTriplet = 1, kChain = 2, kProbe = 3 };
const char* design_name(Design d);

struct ModelSpec {
  int64_t id = 0;                   // global, dense, 0..N-1 in plan order
  int32_t family_index = 0;         // into Job::families
  uint64_t seed = 0;                // data stream, noise
  int64_t init_group = 0;
  uint64_t init_seed = 0;           // same for every model of one init group (when init = "group")
  double lr = 0.0;
  std::vector<double> proportions;  // [K] target proportions (Dirichlet draw or design)
  std::vector<int64_t> counts;      // [K] realized class counts of sample_indices
  std::vector<int64_t> sample_indices;  // into the training split, ascending
  Design design = Design::kRandom;
  int64_t design_group = -1;        // triplet / chain / probe dataset id, -1 for random
  int32_t design_role = -1;         // triplet: 0=D1 1=D2 2=union; chain: 0=a 1=b 2=c; probe: dataset
  double probe_gap = 0.0;
};

struct Chunk {
  int64_t index = 0;
  int32_t family_index = 0;
  std::vector<int64_t> model_ids;
};

struct Plan {
  std::vector<int64_t> classes;     // selected class labels, slot k -> label
  std::vector<ModelSpec> models;    // models[i].id == i
  std::vector<Chunk> chunks;        // models of one family, at most chunk_models each
};

// class_pools[k] = ascending training indices of class slot k (label classes[k]).
Plan make_plan(const Job& job, const std::vector<int64_t>& classes,
               const std::vector<std::vector<int64_t>>& class_pools);

// Writes one CSV row per model: id, family, design, group, role, init_group, seed, lr, n, counts...
std::string plan_csv(const Plan& plan, const Job& job);

}  // namespace genzoo
