#include "distill/student_batch.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"
#include "data/dataset.h"
#include "data/image.h"
#include "distill/student_weights.h"
#include "job/job.h"
#include "models/torch_family.h"
#include "train/data_stream.h"

namespace genzoo::distill {

namespace {

constexpr int64_t kEvalBatch = 256;

void check_jobs(const std::vector<StudentJob>& jobs, int64_t params, const std::string& family) {
  if (jobs.empty()) throw DistillError("distill: an empty batch of " + family + " students");
  for (size_t s = 0; s < jobs.size(); ++s) {
    const StudentJob& job = jobs[s];
    const std::string which = family + " student " + std::to_string(s) + " (" + (job.method ? job.method->name : "?") + ")";
    if (!job.method) throw DistillError("distill: " + which + " has no method");
    if (static_cast<int64_t>(job.start.size()) != params) {
      throw DistillError("distill: " + which + " starts from " + std::to_string(job.start.size()) + " weights, its layout has " +
                         std::to_string(params));
    }
    if (job.samples.empty()) throw DistillError("distill: " + which + " has no training samples");
    if (job.method->bayesian() && (!job.prior || job.prior->size() != params)) {
      throw DistillError("distill: " + which + " needs a prior over its " + std::to_string(params) + " weights");
    }
    if (job.method->bayesian() && !(job.pixel_variance > 0.0)) {
      throw DistillError("distill: " + which + " needs a positive likelihood variance");
    }
    if (job.method->teacher_outputs && job.teacher_targets.size() != job.samples.size() * kImagePixels) {
      throw DistillError("distill: " + which + " needs the teacher's outputs for each of its samples");
    }
  }
}

// Σ over the images `indices` of each model's mean squared reconstruction error: [M] in double, for the
// models flat [M, P].
torch::Tensor error_sums(const FamilyConfig& config, const torch::Tensor& flat, const ImageSet& images,
                         const std::vector<int64_t>& indices) {
  torch::NoGradGuard no_grad;
  const Family& family = find_family(config.name);
  const auto params = view_params(flat, family.layout(config));
  const int64_t models = flat.size(0);
  auto sums = torch::zeros({models}, torch::kDouble);
  for (int64_t begin = 0; begin < static_cast<int64_t>(indices.size()); begin += kEvalBatch) {
    const int64_t n = std::min<int64_t>(kEvalBatch, static_cast<int64_t>(indices.size()) - begin);
    auto x = torch::empty({1, n, images.dim()});
    gather_images(images, indices.data() + begin, n, x.data_ptr<float>());
    const auto errors =
        family.torch_impl().reconstruction_error(params, x.to(flat.device()).expand({models, n, x.size(2)}).contiguous(), config);
    sums.add_(errors.sum(1).to(torch::kCPU).to(torch::kDouble));
  }
  return sums;
}

// Mean squared reconstruction error per class slot of the models flat [M, P]: [M, K] in double.
torch::Tensor class_losses(const FamilyConfig& config, const torch::Tensor& flat, const Dataset& dataset, const TestSet& test) {
  const int64_t slots = static_cast<int64_t>(test.class_indices.size());
  auto out = torch::zeros({flat.size(0), slots}, torch::kDouble);
  for (int64_t slot = 0; slot < slots; ++slot) {
    const auto& pool = test.class_indices[slot];
    out.select(1, slot).copy_(error_sums(config, flat, dataset.test, pool) / static_cast<double>(pool.size()));
  }
  return out;
}

torch::Tensor flat_of(const std::vector<float>& weights, int64_t models, int64_t params, const std::string& device) {
  if (static_cast<int64_t>(weights.size()) != models * params) {
    throw DistillError("distill: " + std::to_string(weights.size()) + " weights for " + std::to_string(models) +
                       " models of " + std::to_string(params));
  }
  return torch::from_blob(const_cast<float*>(weights.data()), {models, params}).to(torch::Device(device));
}

// Σ_k p_k loss_k per model: [M] in double.
std::vector<double> weighted(const torch::Tensor& per_class, const std::vector<double>& proportions) {
  std::vector<double> out(per_class.size(0), 0.0);
  const auto values = per_class.contiguous();
  for (int64_t m = 0; m < per_class.size(0); ++m) {
    for (int64_t k = 0; k < per_class.size(1); ++k) out[m] += proportions[k] * values[m][k].item<double>();
  }
  return out;
}

}  // namespace

std::vector<int64_t> curve_steps(int64_t steps, int64_t points) {
  points = std::clamp<int64_t>(points, 1, steps);
  std::vector<int64_t> out = {0};
  for (int64_t i = 1; i <= points; ++i) out.push_back((steps * i + points - 1) / points);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::vector<double>> class_test_losses(const FamilyConfig& config, const std::vector<float>& weights,
                                                   int64_t models, const Dataset& dataset, const TestSet& test,
                                                   const std::string& device) {
  const int64_t params = layout_size(find_family(config.name).layout(config));
  const auto losses = class_losses(config, flat_of(weights, models, params, device), dataset, test);
  std::vector<std::vector<double>> out(models);
  for (int64_t m = 0; m < models; ++m) {
    for (int64_t k = 0; k < losses.size(1); ++k) out[m].push_back(losses[m][k].item<double>());
  }
  return out;
}

std::vector<double> sample_losses(const FamilyConfig& config, const std::vector<float>& weights, int64_t models,
                                  const ImageSet& images, const std::vector<int64_t>& indices, const std::string& device) {
  if (indices.empty()) throw DistillError("distill: a loss over no images");
  const int64_t params = layout_size(find_family(config.name).layout(config));
  const auto sums = error_sums(config, flat_of(weights, models, params, device), images, indices);
  std::vector<double> out(models);
  for (int64_t m = 0; m < models; ++m) out[m] = sums[m].item<double>() / static_cast<double>(indices.size());
  return out;
}

std::vector<float> teacher_outputs(const FamilyConfig& config, const std::vector<float>& weights, const ImageSet& images,
                                   const std::vector<int64_t>& indices, const std::string& device) {
  torch::NoGradGuard no_grad;
  const Family& family = find_family(config.name);
  const Layout layout = family.layout(config);
  const auto flat = flat_of(weights, 1, layout_size(layout), device);
  std::vector<float> out(indices.size() * images.dim());
  for (int64_t begin = 0; begin < static_cast<int64_t>(indices.size()); begin += kEvalBatch) {
    const int64_t n = std::min<int64_t>(kEvalBatch, static_cast<int64_t>(indices.size()) - begin);
    auto x = torch::empty({1, n, images.dim()});
    gather_images(images, indices.data() + begin, n, x.data_ptr<float>());
    const auto y = family.torch_impl().reconstruct(view_params(flat, layout), x.to(flat.device()), config).to(torch::kCPU).contiguous();
    std::copy_n(y.data_ptr<float>(), n * images.dim(), out.data() + begin * images.dim());
  }
  return out;
}

std::vector<StudentOutcome> train_students(const FamilyConfig& config, const std::vector<StudentJob>& jobs,
                                           const Dataset& dataset, const TestSet& test, const TrainSettings& settings) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  if (!impl.reconstructs()) throw DistillError("distill: family " + config.name + " does not reconstruct its inputs");
  const Layout layout = family.layout(config);
  const int64_t params = layout_size(layout), models = static_cast<int64_t>(jobs.size()), dim = dataset.train.dim();
  check_jobs(jobs, params, config.name);
  // As in training: LibTorch's native grouped ops compute each model alone, bit-identical in any batch.
  at::globalContext().setUserEnabledMkldnn(false);
  const torch::Device device(settings.device);

  std::vector<StudentWeightsSpec> specs;
  std::vector<float> scale(models);
  std::vector<int64_t> batch(models);
  std::vector<SampleStream> streams;
  std::vector<torch::Generator> generators;
  for (int64_t m = 0; m < models; ++m) {
    const StudentJob& job = jobs[m];
    const auto n = static_cast<int64_t>(job.samples.size());
    // log σ moves on a log scale: ten times the weights' rate.
    StudentWeightsSpec spec{job.start, {}, job.method->variational, job.method->bayesian() ? job.prior : nullptr,
                            static_cast<double>(n), settings.lr, 10.0 * settings.lr};
    const bool zoo_prior = job.method->prior == PriorSource::kNode || job.method->prior == PriorSource::kRoot;
    if (zoo_prior && settings.prior_lr > 0.0) {
      for (int64_t i = 0; i < params; ++i) {
        double variance = job.prior->diag[i];
        for (int64_t k = 0; k < job.prior->rank; ++k) variance += job.prior->factor[i * job.prior->rank + k] * job.prior->factor[i * job.prior->rank + k];
        spec.scale.push_back(static_cast<float>(std::sqrt(variance)));
      }
      spec.lr = settings.prior_lr;
    }
    specs.push_back(std::move(spec));
    batch[m] = std::min(settings.batch_size, n);
    // Per-sample nats of the pixel likelihood for bayesian methods; the plain per-pixel MSE otherwise.
    scale[m] = static_cast<float>(job.method->bayesian() ? 1.0 / (2.0 * job.pixel_variance) : 1.0 / static_cast<double>(dim));
    std::vector<int64_t> positions(n);
    std::iota(positions.begin(), positions.end(), 0);
    streams.emplace_back(std::move(positions), job.seed);
    generators.push_back(noise_generator(job.seed));
  }
  StudentWeights weights(specs, device);
  const auto scale_t = torch::from_blob(scale.data(), {models}).clone().to(device);
  const int64_t widest = *std::max_element(batch.begin(), batch.end());
  const std::vector<int64_t> evaluations = curve_steps(settings.steps, settings.curve_points);
  std::vector<StudentOutcome> out(models);
  std::vector<int64_t> positions(widest), indices(widest);
  const auto lambda = static_cast<float>(settings.hinton_weight);

  const auto record_curve = [&] {
    const auto losses = weighted(class_losses(config, weights.mean(), dataset, test), test.proportions);
    for (int64_t m = 0; m < models; ++m) out[m].curve.push_back(losses[m]);
  };
  record_curve();  // step 0: where each student starts
  for (int64_t step = 1; step <= settings.steps; ++step) {
    // Each student's minibatch (rows past its own batch size stay zero and are masked out) and targets.
    auto x = torch::zeros({models, widest, dim}), target = torch::zeros({models, widest, dim});
    auto mask = torch::zeros({models, widest});
    for (int64_t m = 0; m < models; ++m) {
      const StudentJob& job = jobs[m];
      streams[m].next_batch(batch[m], positions.data());
      for (int64_t b = 0; b < batch[m]; ++b) indices[b] = job.samples[positions[b]];
      gather_images(dataset.train, indices.data(), batch[m], x[m].data_ptr<float>());
      float* t = target[m].data_ptr<float>();
      const float* xi = x[m].data_ptr<float>();
      for (int64_t b = 0; b < batch[m]; ++b) {
        for (int64_t i = 0; i < dim; ++i) {
          // (1 - λ) ‖x̂ - x‖² + λ ‖x̂ - t‖² = ‖x̂ - ((1 - λ) x + λ t)‖² + const.
          t[b * dim + i] = job.method->teacher_outputs
                               ? (1.0f - lambda) * xi[b * dim + i] + lambda * job.teacher_targets[positions[b] * dim + i]
                               : xi[b * dim + i];
        }
      }
      mask[m].narrow(0, 0, batch[m]).fill_(1.0f / static_cast<float>(batch[m]));
    }
    const auto recon = impl.reconstruct(view_params(weights.draw(generators), layout), x.to(device), config);
    weights.step(((recon - target.to(device)).pow(2).sum(2) * mask.to(device)).sum(1) * scale_t);
    if (std::binary_search(evaluations.begin(), evaluations.end(), step)) record_curve();
  }

  torch::NoGradGuard no_grad;
  const auto final_theta = weights.mean().to(torch::kCPU).contiguous();
  const auto final_sigma = weights.std().to(torch::kCPU).contiguous();
  for (int64_t m = 0; m < models; ++m) {
    out[m].weights.assign(final_theta[m].data_ptr<float>(), final_theta[m].data_ptr<float>() + params);
    if (jobs[m].method->variational) out[m].std.assign(final_sigma[m].data_ptr<float>(), final_sigma[m].data_ptr<float>() + params);
    out[m].test_loss = out[m].curve.back();
    out[m].test_loss_sampled = out[m].test_loss;
    out[m].train_loss = sample_losses(config, out[m].weights, 1, dataset.train, jobs[m].samples, settings.device).front();
  }
  // Variational students: the expected test loss under q, from vi_samples draws (each its own noise).
  std::vector<int64_t> variational_rows;
  for (int64_t m = 0; m < models; ++m) {
    if (jobs[m].method->variational) variational_rows.push_back(m);
  }
  if (!variational_rows.empty()) {
    std::vector<double> sums(variational_rows.size(), 0.0);
    for (int64_t s = 0; s < settings.vi_samples; ++s) {
      auto draws = torch::empty({static_cast<int64_t>(variational_rows.size()), params});
      for (size_t v = 0; v < variational_rows.size(); ++v) {
        const int64_t m = variational_rows[v];
        draws[v].copy_(final_theta[m] + final_sigma[m] * torch::randn({params}, generators[m]));
      }
      const auto losses = weighted(class_losses(config, draws.to(device), dataset, test), test.proportions);
      for (size_t v = 0; v < variational_rows.size(); ++v) sums[v] += losses[v];
    }
    for (size_t v = 0; v < variational_rows.size(); ++v) {
      out[variational_rows[v]].test_loss_sampled = sums[v] / static_cast<double>(settings.vi_samples);
    }
  }
  return out;
}

}  // namespace genzoo::distill
