// The zoo's Bayesian-distillation priors (DESIGN.md section 6, seed 004): for every node of a
// family's dendrogram and its root, per init group with at least prior_min_members models, the
// members' Gaussian N(m, D + F Fᵀ) over the flattened weights (zoo.h5's layout order), aligned to the
// job's student structures; a held-out check that the node's Gaussian means something; and, on
// request, single-teacher posteriors (SWAG from the stored checkpoints here; Laplace in
// priors/teacher_posteriors.h, which needs LibTorch and the data).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "priors/alignment.h"
#include "priors/low_rank_gaussian.h"
#include "store/layout.h"

namespace genzoo {
struct FamilyConfig;
struct FamilyWeights;
struct ModelRecord;
struct ReduceConfig;
struct Dendrogram;
}  // namespace genzoo

namespace genzoo::priors {

// A Gaussian as stored: float32 like the weights it describes (O(P r) memory per prior).
struct StoredGaussian {
  std::vector<float> mean, diag, factor;  // [P], [P], [P, r]
  int64_t rank = 0;
  static StoredGaussian from(const LowRankGaussian& g);
  LowRankGaussian gaussian() const;
  int64_t size() const { return static_cast<int64_t>(mean.size()); }
};

struct AlignedRecord {
  std::string student;             // the spec after "family:", e.g. "latent=8"
  std::string order;               // the removal order used
  std::vector<std::string> steps;  // "phi(code, 13)", ...
  StoredGaussian gaussian;
  Layout layout;                   // the student's own layout
};

struct PriorRecord {
  std::string family;
  std::string name;                // "root-g0", "c517-g3" (dendrogram cluster 517), "swag-m42", "laplace-m42"
  std::string kind;                // "node", "swag", "laplace"
  int64_t cluster = -1;            // dendrogram cluster id (leaves + linkage row); -1 without a dendrogram
  int64_t init_group = -1;
  int64_t model_id = -1;           // single-teacher posteriors: the teacher
  std::vector<int64_t> member_ids;
  std::vector<double> proportions; // the members' mean class proportions (the node's mean shape is their square root)
  double shrinkage = 0.0, diag_floor = 0.0;
  StoredGaussian gaussian;
  Layout layout;
  std::vector<AlignedRecord> aligned;
};

// Held-out models' log densities (nats) under their node's Gaussian, the root's (same init group)
// and N(m_node, σ² I) with σ² = tr Σ_node / P (the isotropic Gaussian of the same total variance).
struct PriorCheckRecord {
  std::string family;
  std::vector<int64_t> model_ids;
  std::vector<std::string> nodes;
  std::vector<double> log_node, log_root, log_isotropic;
  int64_t beats_root() const;
  int64_t beats_isotropic() const;
};

struct FamilyPriorInputs {
  const FamilyWeights* weights = nullptr;
  const std::map<int64_t, const ModelRecord*>* records = nullptr;
  const FamilyConfig* config = nullptr;   // the teacher configuration (for aligning to students)
  // The dendrogram over `leaf_ids` (null: root priors only) and the models held out of the fits.
  const Dendrogram* dendrogram = nullptr;
  std::vector<int64_t> leaf_ids;
  std::set<int64_t> held_out;
  int64_t num_classes = 0;
  uint64_t seed = 0;                      // random removal order
  // gradient_covariance order: per row of weights, the variance of the model's per-sample gradients
  // (priors/laplace.h); a node uses its members' mean. Null otherwise.
  const std::vector<std::vector<float>>* gradient_variance = nullptr;
};

struct FamilyPriors {
  std::vector<PriorRecord> priors;
  PriorCheckRecord check;
  std::vector<std::string> notes;         // groups without enough members, skipped students
};

// Node priors of one family (and their aligned students, from config.prior_students of this family).
// Diverged models are left out. Cost: one O(n² P) Gram pass per init group, then O(n r P + n³) per node.
FamilyPriors family_priors(const FamilyPriorInputs& inputs, const ReduceConfig& config);

// SWAG (Maddox et al. 2019) from one model's checkpoint trajectory θ_1 .. θ_T (the stored
// checkpoints, then the final weights): θ̄ = mean, Σ = ½ diag(mean θ² - θ̄²) + ½ D̂ D̂ᵀ / (K - 1) with
// D̂ the deviations θ_t - θ̄ of the last K = min(T, rank + 1) iterates; D floored. Throws ReduceError
// when the model has fewer than two iterates.
LowRankGaussian swag_posterior(const std::vector<const float*>& iterates, int64_t size, int64_t rank, double diag_floor);

// The aligned priors of one Gaussian for every student of its family in config.prior_students
// (gradient_variance: per weight, for the gradient_covariance order).
std::vector<AlignedRecord> align_students(const LowRankGaussian& g, const FamilyConfig& teacher, const ReduceConfig& config,
                                          uint64_t seed, const std::vector<double>& gradient_variance = {});

}  // namespace genzoo::priors
