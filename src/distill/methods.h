// The distillation methods of `genzoo distill` (issue 13, seed 004), each a registered name: where a
// student starts, which prior it trains under, and how. Baselines: scratch, isotropic, warm_start,
// hinton; with the zoo's priors: map, vi (the nearest node's prior aligned to the student) and vi_root
// (its init group's root prior, to show what the hierarchy adds).
#pragma once

#include <string>
#include <vector>

namespace genzoo::distill {

enum class PriorSource {
  kNone,       // no prior term
  kNode,       // the node nearest the target mixture, aligned to the student
  kRoot,       // the root of that node's init group, aligned to the student
  kIsotropic,  // N(the family's init, σ² I), σ² chosen on a validation split
};

struct Method {
  std::string name;
  std::string description;
  PriorSource prior = PriorSource::kNone;
  bool starts_at_prior_mean = false;  // else at the family's usual initialization
  bool variational = false;           // a mean-field Gaussian q(w) instead of a point estimate
  bool teacher_outputs = false;       // hinton: the teacher's outputs as soft targets
  bool uses_node() const { return prior == PriorSource::kNode || prior == PriorSource::kRoot || starts_at_prior_mean; }
  // Its data term is a likelihood in nats weighed against a prior (else a plain mean squared error).
  bool bayesian() const { return prior != PriorSource::kNone; }
};

const std::vector<Method>& methods();
std::vector<std::string> method_names();
// Throws DistillError naming the known methods.
const Method& find_method(const std::string& name);

}  // namespace genzoo::distill
