#include "distill/student_weights.h"

#include <cmath>

#include "common/error.h"
#include "train/adam.h"

namespace genzoo::distill {

namespace {
constexpr double kInitialStdShare = 0.1;
}

float initial_log_sigma(const priors::LowRankGaussian& prior, int64_t i) {
  return static_cast<float>(0.5 * std::log(prior.diag[i]) + std::log(kInitialStdShare));
}

StudentWeights::StudentWeights(const std::vector<StudentWeightsSpec>& specs, const torch::Device& device) {
  if (specs.empty()) throw DistillError("distill: no students to train");
  const auto models = static_cast<int64_t>(specs.size());
  const auto params = static_cast<int64_t>(specs.front().start.size());
  auto start = torch::empty({models, params}), scale = torch::ones({models, params}), log_sigma = torch::zeros({models, params}),
       variational = torch::zeros({models, 1});
  std::vector<const priors::LowRankGaussian*> priors;
  std::vector<float> samples;
  for (int64_t m = 0; m < models; ++m) {
    const StudentWeightsSpec& spec = specs[m];
    if (static_cast<int64_t>(spec.start.size()) != params || (spec.prior && spec.prior->size() != params)) {
      throw DistillError("distill: student " + std::to_string(m) + " of a batch over " + std::to_string(params) +
                         " weights starts from " + std::to_string(spec.start.size()) + " or has a prior of another size");
    }
    if (spec.variational && !spec.prior) throw DistillError("distill: variational student " + std::to_string(m) + " has no prior");
    std::copy(spec.start.begin(), spec.start.end(), start[m].data_ptr<float>());
    if (!spec.scale.empty()) {
      if (static_cast<int64_t>(spec.scale.size()) != params) {
        throw DistillError("distill: student " + std::to_string(m) + " has " + std::to_string(spec.scale.size()) +
                           " preconditioning scales for " + std::to_string(params) + " weights");
      }
      std::copy(spec.scale.begin(), spec.scale.end(), scale[m].data_ptr<float>());
    }
    lr_.push_back(static_cast<float>(spec.lr));
    lr_sigma_.push_back(static_cast<float>(spec.sigma_lr));
    if (spec.prior) {
      bayesian_rows_.push_back(m);
      priors.push_back(spec.prior);
      samples.push_back(static_cast<float>(spec.samples));
    }
    if (spec.variational) {
      any_variational_ = true;
      variational[m] = 1.0f;
      float* row = log_sigma[m].data_ptr<float>();
      for (int64_t i = 0; i < params; ++i) row[i] = initial_log_sigma(*spec.prior, i);
    }
  }
  start_ = start.to(device);
  scale_ = scale.to(device);
  z_ = torch::zeros({models, params}, torch::TensorOptions().device(device)).requires_grad_(true);
  log_sigma_ = log_sigma.to(device).requires_grad_(true);
  variational_ = variational.to(device);
  adam_m_ = torch::zeros({models, params});
  adam_v_ = torch::zeros({models, params});
  sigma_m_ = torch::zeros({models, params});
  sigma_v_ = torch::zeros({models, params});
  if (!bayesian_rows_.empty()) {
    prior_ = prior_tensors(priors, device);
    bayes_index_ = torch::tensor(bayesian_rows_, torch::kLong).to(device);
    bayes_variational_ = variational_.index_select(0, bayes_index_).squeeze(1).to(torch::kBool);
    bayes_samples_ = torch::tensor(samples).to(device);
  }
}

torch::Tensor StudentWeights::draw(std::vector<torch::Generator>& generators) {
  theta_ = start_ + scale_ * z_;
  if (!any_variational_) return theta_;
  const int64_t params = theta_.size(1);
  auto noise = torch::zeros({size(), params});
  for (int64_t m = 0; m < size(); ++m) {
    if (variational_[m].item<float>() != 0.0f) noise[m].copy_(torch::randn({params}, generators[m]));
  }
  return theta_ + variational_ * torch::exp(log_sigma_) * noise.to(theta_.device());
}

void StudentWeights::step(const torch::Tensor& data) {
  auto loss = data;
  if (!bayesian_rows_.empty()) {
    const auto mu = theta_.index_select(0, bayes_index_), log_sigma = log_sigma_.index_select(0, bayes_index_);
    const auto regularizer = torch::where(bayes_variational_, kl_mean_field(prior_, mu, log_sigma), 0.5 * prior_quadratic(prior_, mu));
    loss = loss.index_add(0, bayes_index_, regularizer / bayes_samples_);
  }
  loss.sum().backward();
  ++step_;
  torch::NoGradGuard no_grad;
  const int64_t models = size(), params = z_.size(1);
  const bool on_cpu = z_.device().is_cpu();
  auto z = z_.detach().to(torch::kCPU).contiguous(), grads = z_.grad().to(torch::kCPU).contiguous();
  adam_step(z.data_ptr<float>(), grads.data_ptr<float>(), adam_m_.data_ptr<float>(), adam_v_.data_ptr<float>(), models,
            params, lr_.data(), step_);
  if (any_variational_) {
    auto log_sigma = log_sigma_.detach().to(torch::kCPU).contiguous(), sigma_grads = log_sigma_.grad().to(torch::kCPU).contiguous();
    adam_step(log_sigma.data_ptr<float>(), sigma_grads.data_ptr<float>(), sigma_m_.data_ptr<float>(), sigma_v_.data_ptr<float>(),
              models, params, lr_sigma_.data(), step_);
    if (!on_cpu) log_sigma_ = log_sigma.to(z_.device()).requires_grad_(true);
  }
  if (on_cpu) {
    z_.grad().zero_();
    if (log_sigma_.grad().defined()) log_sigma_.grad().zero_();
  } else {
    z_ = z.to(z_.device()).requires_grad_(true);
  }
}

}  // namespace genzoo::distill
