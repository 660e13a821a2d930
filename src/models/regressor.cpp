// regressor: x -> ReLU(U_2 x) [-> ReLU(U_3 h)] -> U_L h, no biases (the thesis's networks); the loss is
// each model's mean squared error on its own subset. The trivial predictor (its subset's mean target)
// gives the "garbage" bound: the variance of its targets.
#include "models/regressor.h"

#include "job/job.h"
#include "models/mlp.h"
#include "priors/alignment.h"

namespace genzoo {

namespace {

class RegressorTorch : public TorchFamily {
 public:
  torch::Tensor loss(const StackedParams& p, const torch::Tensor& x, const LossContext&) const override {
    return squared_errors(p, x).mean(1);
  }
  bool regresses() const override { return true; }
  torch::Tensor predict(const StackedParams& p, const torch::Tensor& x) const override {
    return layered_outputs(p, regression_inputs(x));
  }
  torch::Tensor sample_loss(const StackedParams& p, const torch::Tensor& x, const torch::Tensor&,
                            const FamilyConfig&) const override {
    return squared_errors(p, x);
  }

 private:
  // (f(x) - y)² per sample: [M, B].
  torch::Tensor squared_errors(const StackedParams& p, const torch::Tensor& x) const {
    return (predict(p, x) - regression_target(x)).pow(2).squeeze(2);
  }
};

class Regressor : public Family {
 public:
  std::string name() const override { return "regressor"; }
  std::string description() const override {
    return "bias-free ReLU regression net d-hidden[-hidden2]-1 on the gaussian source's target, squared error "
           "(seed 004's synthetic case)";
  }
  Layout layout(const FamilyConfig& config) const override {
    return priors::layered_layout({regressor_widths(config), false, "relu"});
  }
  double flops_per_sample(const FamilyConfig& config) const override {
    return layered_flops_per_sample(regressor_widths(config));
  }
  const TorchFamily& torch_impl() const override { return impl_; }

 private:
  RegressorTorch impl_;
};

GENZOO_REGISTER_FAMILY(Regressor);

}  // namespace

std::vector<int64_t> regressor_widths(const FamilyConfig& config) {
  std::vector<int64_t> widths = {config.input_dim, config.hidden};
  if (config.hidden2 > 0) widths.push_back(config.hidden2);
  widths.push_back(1);
  return widths;
}

torch::Tensor regression_inputs(const torch::Tensor& x) { return x.narrow(2, 0, x.size(2) - 1); }
torch::Tensor regression_target(const torch::Tensor& x) { return x.narrow(2, x.size(2) - 1, 1); }

}  // namespace genzoo
