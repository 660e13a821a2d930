// mlp: x -> ReLU(U_2 x + b_2) [-> ReLU(U_3 h + b_3)] -> logits over the 10 classes; cross-entropy on each
// model's own labelled samples. The trivial predictor (the model's class frequencies) gives the
// "garbage" bound: the entropy of its training labels.
#include "models/mlp.h"

#include "common/error.h"
#include "data/image.h"
#include "job/job.h"
#include "priors/alignment.h"

namespace genzoo {

namespace {

class MlpTorch : public TorchFamily {
 public:
  torch::Tensor loss(const StackedParams& p, const torch::Tensor& x, const LossContext& ctx) const override {
    return class_cross_entropy(logits(p, x), ctx.labels).mean(1);
  }
  bool classifies() const override { return true; }
  torch::Tensor logits(const StackedParams& p, const torch::Tensor& x) const override { return layered_outputs(p, x); }
  torch::Tensor sample_loss(const StackedParams& p, const torch::Tensor& x, const torch::Tensor& labels,
                            const FamilyConfig&) const override {
    return class_cross_entropy(logits(p, x), labels);
  }
  std::map<std::string, torch::Tensor> evaluation_terms(const StackedParams& p, const torch::Tensor& x, const torch::Tensor& labels,
                                                        const FamilyConfig&) const override {
    return {{"accuracy", logits(p, x).argmax(2).eq(labels.to(x.device())).to(x.dtype())}};
  }
};

class Mlp : public Family {
 public:
  std::string name() const override { return "mlp"; }
  std::string description() const override {
    return "ReLU classifier 784-hidden[-hidden2]-10 with biases, cross-entropy (seed 004's networks)";
  }
  Layout layout(const FamilyConfig& config) const override {
    return priors::layered_layout({mlp_widths(config), true, "relu"});
  }
  double flops_per_sample(const FamilyConfig& config) const override { return layered_flops_per_sample(mlp_widths(config)); }
  const TorchFamily& torch_impl() const override { return impl_; }

 private:
  MlpTorch impl_;
};

GENZOO_REGISTER_FAMILY(Mlp);

}  // namespace

std::vector<int64_t> mlp_widths(const FamilyConfig& config) {
  std::vector<int64_t> widths = {kImagePixels, config.hidden};
  if (config.hidden2 > 0) widths.push_back(config.hidden2);
  widths.push_back(kMlpClasses);
  return widths;
}

double layered_flops_per_sample(const std::vector<int64_t>& widths) {
  double multiply_adds = 0.0;
  for (size_t t = 1; t < widths.size(); ++t) multiply_adds += static_cast<double>(widths[t - 1] * widths[t]);
  return 3.0 * 2.0 * multiply_adds;
}

torch::Tensor layered_outputs(const StackedParams& params, const torch::Tensor& x, bool relu) {
  torch::Tensor h = x;
  for (int t = 2; params.count(priors::layered_weight(t)); ++t) {
    if (t > 2 && relu) h = torch::relu(h);
    // [M, B, n_{t-1}] x [M, n_{t-1}, n_t]
    const auto weight = params.at(priors::layered_weight(t)).transpose(1, 2);
    const auto bias = params.find(priors::layered_bias(t));
    h = bias == params.end() ? torch::bmm(h, weight) : torch::baddbmm(bias->second.unsqueeze(1), h, weight);
  }
  return h;
}

torch::Tensor class_cross_entropy(const torch::Tensor& z, const torch::Tensor& labels) {
  if (!labels.defined()) throw TrainError("mlp: a classifier's loss needs the inputs' labels");
  return -torch::log_softmax(z, 2).gather(2, labels.to(z.device()).unsqueeze(2)).squeeze(2);
}

}  // namespace genzoo
