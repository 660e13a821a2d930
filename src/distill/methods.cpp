#include "distill/methods.h"

#include "common/error.h"
#include "common/text.h"

namespace genzoo::distill {

const std::vector<Method>& methods() {
  static const std::vector<Method> list = {
      {"scratch", "the family's usual initialization, no prior", PriorSource::kNone, false, false, false},
      {"isotropic", "N(init, s^2 I) prior, s^2 chosen on a validation split of the training set", PriorSource::kIsotropic,
       false, false, false},
      {"warm_start", "starts at the nearest node's (aligned) mean, no prior", PriorSource::kNone, true, false, false},
      {"hinton", "the data plus the nearest zoo model's reconstructions as soft targets (weight lambda)", PriorSource::kNone,
       false, false, true},
      {"map", "the nearest node's aligned prior as the regularizer (maximum a posteriori)", PriorSource::kNode, true, false,
       false},
      {"vi", "mean-field Gaussian q(w) on KL(q || nearest node's aligned prior) - E_q log p(D | w)", PriorSource::kNode, true,
       true, false},
      {"vi_root", "vi under the root prior of the node's init group", PriorSource::kRoot, true, true, false},
      {"vi_standard", "vi under N(0, I) from the family's usual init (seed 004's student without a teacher)",
       PriorSource::kStandard, false, true, false, false},
      {"vi_node_mean", "vi under N(nearest node's aligned mean, I) from that mean (seed 004's distil-student)",
       PriorSource::kNodeMean, true, true, false, false},
  };
  return list;
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const Method& method : methods()) names.push_back(method.name);
  return names;
}

std::vector<std::string> default_method_names() {
  std::vector<std::string> names;
  for (const Method& method : methods()) {
    if (method.by_default) names.push_back(method.name);
  }
  return names;
}

const Method& find_method(const std::string& name) {
  for (const Method& method : methods()) {
    if (method.name == name) return method;
  }
  throw DistillError("unknown distillation method '" + name + "' (known: " + join(method_names()) + ")");
}

}  // namespace genzoo::distill
