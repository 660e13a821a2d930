// A model family (linear_ae, conv_ae, ...) registers itself by name; the job file, plan, train and
// inspect find it through this registry. This header stays LibTorch-free: it only describes shapes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/layout.h"

namespace genzoo {

struct FamilyConfig;
class FastStep;
class TorchFamily;

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Parameters of one model, in the canonical (PyTorch) layout that zoo.h5 stores.
  virtual Layout layout(const FamilyConfig& config) const = 0;
  // Training FLOPs for one sample in one step (forward + backward), for cost estimates.
  virtual double flops_per_sample(const FamilyConfig& config) const = 0;
  // The LibTorch implementation (defined in the family's .cpp).
  virtual const TorchFamily& torch_impl() const = 0;
  // The hand-written CPU training step for config (models/<family>_cpu.cpp), or null where the family
  // has none or none for this configuration: LibTorch trains it.
  virtual std::unique_ptr<FastStep> cpu_step(const FamilyConfig& config) const;
};

// Throws JobError listing the registered families when the name is unknown.
const Family& find_family(const std::string& name);
std::vector<std::string> family_names();

// Planned training FLOPs of one model of this configuration: flops_per_sample x batch_size x steps
// (`genzoo plan`'s cost estimate; the weight of a model in train's progress rate and ETA).
double training_flops(const FamilyConfig& config);

// zoo.h5 stacks one parameter layout per family: several [[family]] tables of one family must agree on
// it. Throws JobError naming the tables otherwise.
void check_family_layouts(const std::vector<FamilyConfig>& families, const std::string& source);

namespace detail {
struct FamilyRegistration {
  explicit FamilyRegistration(std::unique_ptr<Family> family);
};
}  // namespace detail

#define GENZOO_REGISTER_FAMILY(ClassName) \
  static ::genzoo::detail::FamilyRegistration genzoo_family_registration_##ClassName(std::make_unique<ClassName>())

}  // namespace genzoo
