// The distillation methods of `genzoo distill` (issue 13, seed 004), each a registered name: where a
// student starts, which prior it trains under, and how. Baselines: scratch, isotropic, warm_start,
// hinton; with the zoo's priors: map, vi (the nearest node's prior aligned to the student) and vi_root
// (its init group's root prior, to show what the hierarchy adds). Seed 004's comparison of priors under
// the same variational student: vi_standard (N(0, I)), vi_node_mean (the node's mean with identity
// covariance) and vi (mean and covariance).
#pragma once

#include <string>
#include <vector>

namespace genzoo::distill {

enum class PriorSource {
  kNone,       // no prior term
  kNode,       // the node nearest the target mixture, aligned to the student
  kRoot,       // the root of that node's init group, aligned to the student
  kIsotropic,  // N(the family's init, σ² I), σ² chosen on a validation split
  kStandard,   // N(0, I): seed 004's "student", a Bayesian student without a teacher
  kNodeMean,   // N(the node's aligned mean, I): seed 004's "distil-student" (the teacher's mean, not its covariance)
};

struct Method {
  std::string name;
  std::string description;
  PriorSource prior = PriorSource::kNone;
  bool starts_at_prior_mean = false;  // else at the family's usual initialization
  bool variational = false;           // a mean-field Gaussian q(w) instead of a point estimate
  bool teacher_outputs = false;       // hinton: the teacher's outputs as soft targets
  bool by_default = true;             // run when [distill] methods is empty (seed 004's prior comparisons are asked for)
  bool uses_node() const { return prior == PriorSource::kNode || prior == PriorSource::kRoot || starts_at_prior_mean; }
  // Its data term is a likelihood in nats weighed against a prior (else a plain mean squared error).
  bool bayesian() const { return prior != PriorSource::kNone; }
};

const std::vector<Method>& methods();
std::vector<std::string> method_names();
// What an empty [distill] methods runs: every method but seed 004's prior comparisons.
std::vector<std::string> default_method_names();
// Throws DistillError naming the known methods.
const Method& find_method(const std::string& name);

}  // namespace genzoo::distill
