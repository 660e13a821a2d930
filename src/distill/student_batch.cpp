#include "distill/student_batch.h"

#include <torch/torch.h>

#include <algorithm>
#include <mutex>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"
#include "train/trainer.h"
#include "train/fast_trainer.h"
#include "train/adam.h"
#include "common/rng.h"
#include "data/dataset.h"
#include "data/image.h"
#include "distill/student_weights.h"
#include "job/job.h"
#include "models/mlp.h"
#include "models/torch_family.h"
#include "train/data_stream.h"

namespace genzoo::distill {

namespace {

constexpr int64_t kEvalBatch = 256;

// What a student that does not classify fits: an autoencoder's reconstruction of x [M, B, D], a
// regressor's prediction of y (the last column of x).
torch::Tensor fitted_outputs(const TorchFamily& impl, const StackedParams& params, const torch::Tensor& x, const FamilyConfig& config) {
  return impl.regresses() ? impl.predict(params, x) : impl.reconstruct(params, x, config);
}
// The column of a row of `dim` values where that fit's target starts.
int64_t target_column(const TorchFamily& impl, int64_t dim) { return impl.regresses() ? dim - 1 : 0; }

void check_jobs(const std::vector<StudentJob>& jobs, int64_t params, const std::string& family, int64_t target_width,
                bool classifies) {
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
    if (job.method->bayesian() && !classifies && !(job.pixel_variance > 0.0)) {
      throw DistillError("distill: " + which + " needs a positive likelihood variance");
    }
    if (job.method->teacher_outputs && job.teacher_targets.size() != job.samples.size() * target_width) {
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
    const auto labels = labels_of(images, indices.data() + begin, n).to(flat.device()).expand({models, n});
    const auto errors =
        family.torch_impl().sample_loss(params, x.to(flat.device()).expand({models, n, x.size(2)}).contiguous(), labels, config);
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

int64_t target_width(const FamilyConfig& config) {
  const TorchFamily& impl = find_family(config.name).torch_impl();
  return impl.classifies() ? kMlpClasses : impl.regresses() ? 1 : config.input_dim;
}

std::vector<float> teacher_outputs(const FamilyConfig& config, const std::vector<float>& weights, const ImageSet& images,
                                   const std::vector<int64_t>& indices, double temperature, const std::string& device) {
  torch::NoGradGuard no_grad;
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const auto flat = flat_of(weights, 1, layout_size(layout), device);
  const int64_t width = target_width(config);
  std::vector<float> out(indices.size() * width);
  for (int64_t begin = 0; begin < static_cast<int64_t>(indices.size()); begin += kEvalBatch) {
    const int64_t n = std::min<int64_t>(kEvalBatch, static_cast<int64_t>(indices.size()) - begin);
    auto x = torch::empty({1, n, images.dim()});
    gather_images(images, indices.data() + begin, n, x.data_ptr<float>());
    const auto params = view_params(flat, layout);
    const auto input = x.to(flat.device());
    const auto y = (impl.classifies() ? torch::softmax(impl.logits(params, input) / temperature, 2) : fitted_outputs(impl, params, input, config))
                       .to(torch::kCPU)
                       .contiguous();
    std::copy_n(y.data_ptr<float>(), n * width, out.data() + begin * width);
  }
  return out;
}

namespace {

// The weights' update for one student: its start, prior, rates and (zoo priors) preconditioning.
StudentWeightsSpec spec_of(const StudentJob& job, int64_t params, const TrainSettings& settings) {
  // log σ moves on a log scale: ten times the weights' rate.
  StudentWeightsSpec spec{job.start, {}, job.method->variational, job.method->bayesian() ? job.prior : nullptr,
                          static_cast<double>(job.samples.size()), settings.lr, 10.0 * settings.lr};
  const bool zoo_prior = job.method->prior == PriorSource::kNode || job.method->prior == PriorSource::kRoot;
  if (zoo_prior && settings.prior_lr > 0.0) {
    for (int64_t i = 0; i < params; ++i) spec.scale.push_back(static_cast<float>(std::sqrt(job.prior->covariance(i, i))));
    spec.lr = settings.prior_lr;
  }
  return spec;
}

// Per-sample nats of the pixel likelihood for bayesian methods, per unit of the per-pixel MSE; the plain
// per-pixel MSE (factor 1) otherwise.
double mse_scale(const StudentJob& job, int64_t pixels) {
  return job.method->bayesian() ? static_cast<double>(pixels) / (2.0 * job.pixel_variance) : 1.0;
}

// What a trained student leaves: its q's mean θ [P] and σ [P] (empty unless variational), the curve.
struct Trained {
  std::vector<float> theta, sigma;
  std::vector<double> curve;
};

// LibTorch: the students of `rows` as one model batch, autograd through StudentWeights.
void train_torch_students(const FamilyConfig& config, const std::vector<StudentJob>& jobs, const std::vector<int64_t>& rows,
                          const Dataset& dataset, const TestSet& test, const TrainSettings& settings, std::vector<Trained>& out) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const int64_t params = layout_size(layout), models = static_cast<int64_t>(rows.size()), dim = dataset.train.dim();
  // As in training: LibTorch's native grouped ops compute each model alone, bit-identical in any batch.
  at::globalContext().setUserEnabledMkldnn(false);
  const torch::Device device(settings.device);
  std::vector<StudentWeightsSpec> specs;
  std::vector<float> scale(models);
  const int64_t width = target_width(config);
  std::vector<int64_t> batch(models);
  std::vector<SampleStream> streams;
  std::vector<torch::Generator> generators;
  for (int64_t m = 0; m < models; ++m) {
    const StudentJob& job = jobs[rows[m]];
    const auto n = static_cast<int64_t>(job.samples.size());
    specs.push_back(spec_of(job, params, settings));
    batch[m] = std::min(settings.batch_size, n);
    // Of the fitted columns' summed squares; a classifier's cross-entropy is already in nats per sample.
    scale[m] = static_cast<float>(impl.classifies() ? 1.0 : mse_scale(job, width) / static_cast<double>(width));
    std::vector<int64_t> positions(n);
    std::iota(positions.begin(), positions.end(), 0);
    streams.emplace_back(std::move(positions), job.seed);
    generators.push_back(noise_generator(job.seed));
  }
  StudentWeights weights(specs, device);
  const auto scale_t = torch::from_blob(scale.data(), {models}).clone().to(device);
  const int64_t widest = *std::max_element(batch.begin(), batch.end());
  const std::vector<int64_t> evaluations = curve_steps(settings.steps, settings.curve_points);
  std::vector<int64_t> positions(widest), indices(widest);
  const auto lambda = static_cast<float>(settings.hinton_weight);
  const bool any_variational = std::any_of(specs.begin(), specs.end(), [](const StudentWeightsSpec& spec) { return spec.variational; });
  const int64_t draws = any_variational ? settings.vi_gradient_samples : 1;
  std::vector<int64_t> scored;  // positions in the batch of the students whose curve is wanted
  for (int64_t m = 0; m < models; ++m) {
    if (jobs[rows[m]].scored) scored.push_back(m);
  }
  const auto scored_index = torch::tensor(scored, torch::kLong).to(device);
  const auto record_curve = [&] {
    if (scored.empty()) return;
    const auto losses = weighted(class_losses(config, weights.mean().index_select(0, scored_index), dataset, test), test.proportions);
    for (size_t k = 0; k < scored.size(); ++k) out[rows[scored[k]]].curve.push_back(losses[k]);
  };
  record_curve();  // step 0: where each student starts
  const bool classifies = impl.classifies();
  const int64_t first = target_column(impl, dim);
  const auto temperature = settings.hinton_temperature;
  for (int64_t step = 1; step <= settings.steps; ++step) {
    // Each student's minibatch (rows past its own batch size stay zero and are masked out) and targets:
    // autoencoders' pixels (hinton: mixed with the teacher's), a classifier's labels (and the teacher's
    // softened probabilities).
    auto x = torch::zeros({models, widest, dim}), target = torch::zeros({models, widest, width});
    auto labels = torch::zeros({models, widest}, torch::kLong);
    auto mask = torch::zeros({models, widest}), hinton = torch::zeros({models});
    for (int64_t m = 0; m < models; ++m) {
      const StudentJob& job = jobs[rows[m]];
      streams[m].next_batch(batch[m], positions.data());
      for (int64_t b = 0; b < batch[m]; ++b) indices[b] = job.samples[positions[b]];
      gather_images(dataset.train, indices.data(), batch[m], x[m].data_ptr<float>());
      labels[m].narrow(0, 0, batch[m]).copy_(labels_of(dataset.train, indices.data(), batch[m]));
      float* t = target[m].data_ptr<float>();
      const float* xi = x[m].data_ptr<float>();
      for (int64_t b = 0; b < batch[m]; ++b) {
        for (int64_t i = 0; i < width; ++i) {
          const float teacher = job.method->teacher_outputs ? job.teacher_targets[positions[b] * width + i] : 0.0f;
          // (1 - λ) ‖x̂ - x‖² + λ ‖x̂ - t‖² = ‖x̂ - ((1 - λ) x + λ t)‖² + const.
          const float own = xi[b * dim + first + i];
          t[b * width + i] = classifies ? teacher : job.method->teacher_outputs ? (1.0f - lambda) * own + lambda * teacher : own;
        }
      }
      mask[m].narrow(0, 0, batch[m]).fill_(1.0f / static_cast<float>(batch[m]));
      if (job.method->teacher_outputs) hinton[m] = lambda;
    }
    // E_q of the data term over `draws` weight samples on the same minibatch (variational students).
    torch::Tensor data;
    for (int64_t draw = 0; draw < draws; ++draw) {
      const auto params = view_params(weights.draw(generators), layout);
      torch::Tensor per_sample;
      if (classifies) {
        // The seed's Hinton loss: (1 - λ) CE(y, g(x)) + λ CE(softmax(f(x) / T), softmax(g(x) / T)); λ = 0 without a teacher.
        const auto z = impl.logits(params, x.to(device));
        const auto hard = class_cross_entropy(z, labels);
        const auto soft = -(target.to(device) * torch::log_softmax(z / temperature, 2)).sum(2);
        const auto weight = hinton.to(device).unsqueeze(1);
        per_sample = (1.0 - weight) * hard + weight * soft;
      } else {
        per_sample = (fitted_outputs(impl, params, x.to(device), config) - target.to(device)).pow(2).sum(2);
      }
      const auto term = (per_sample * mask.to(device)).sum(1) * scale_t / static_cast<double>(draws);
      data = draw == 0 ? term : data + term;
    }
    weights.step(data);
    if (std::binary_search(evaluations.begin(), evaluations.end(), step)) record_curve();
  }
  torch::NoGradGuard no_grad;
  const auto theta = weights.mean().to(torch::kCPU).contiguous(), sigma = weights.std().to(torch::kCPU).contiguous();
  for (int64_t m = 0; m < models; ++m) {
    out[rows[m]].theta.assign(theta[m].data_ptr<float>(), theta[m].data_ptr<float>() + params);
    if (specs[m].variational) out[rows[m]].sigma.assign(sigma[m].data_ptr<float>(), sigma[m].data_ptr<float>() + params);
  }
}

// The hand-written CPU kernels (the family's GradientStep, as in training): each student alone, in
// parallel over threads; per step the data term's gradient at w comes from the kernel, the prior's
// in closed form (Σ⁻¹ = D⁻¹ - C Cᵀ), and Adam runs on z (θ = start + s ⊙ z) and log σ:
//   ∂L/∂θ = g(w) + Σ⁻¹ (θ - m) / n,   ∂L/∂log σ_i = g_i(w) σ_i ε_i + (σ_i² (Σ⁻¹)_ii - 1) / n   (vi)
// with g the per-sample nats' gradient and w = θ + σ ⊙ ε. The curve's weights are kept and scored afterwards.
void train_kernel_students(const FamilyConfig& config, const std::vector<StudentJob>& jobs, const std::vector<int64_t>& rows,
                           const Dataset& dataset, const TestSet& test, const TrainSettings& settings, std::vector<Trained>& out) {
  const int64_t params = layout_size(find_family(config.name).layout(config)), pixels = dataset.train.dim();
  const std::vector<int64_t> evaluations = curve_steps(settings.steps, settings.curve_points);
  const auto points = static_cast<int64_t>(evaluations.size());
  std::vector<float> snapshots(rows.size() * points * params);
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::atomic<int64_t> next{0};
  at::parallel_for(0, std::max(1, at::get_num_threads()), 1, [&](int64_t, int64_t) {
    try {
      for (int64_t r = next++; r < static_cast<int64_t>(rows.size()); r = next++) {
        const StudentJob& job = jobs[rows[r]];
        const auto n = static_cast<int64_t>(job.samples.size());
        FamilyConfig student = config;
        student.batch_size = std::min(settings.batch_size, n);
        const std::unique_ptr<FastStep> step_impl = make_fast_step(student);
        const auto* gradient_step = dynamic_cast<const GradientStep*>(step_impl.get());
        const StudentWeightsSpec spec = spec_of(job, params, settings);
        const int64_t internal = gradient_step->internal_size();
        AlignedFloats w_internal(internal), grad(params), z(params), z_m(params), z_v(params), s_m(params), s_v(params);
        std::vector<float> theta(spec.start), log_sigma(params, 0.0f), sigma(params, 0.0f), epsilon(params, 0.0f), w(params);
        const priors::PrecisionFactor factor = job.method->bayesian() ? priors::precision_factor(*job.prior) : priors::PrecisionFactor{};
        const std::vector<double>& woodbury = factor.woodbury;
        const int64_t rank = job.method->bayesian() ? job.prior->rank : 0;
        if (spec.variational) {
          for (int64_t i = 0; i < params; ++i) log_sigma[i] = initial_log_sigma(*job.prior, i);
        }
        const float lr = static_cast<float>(spec.lr), sigma_lr = static_cast<float>(spec.sigma_lr);
        const double scale = mse_scale(job, pixels), count = static_cast<double>(n);
        SampleStream stream(job.samples, job.seed);
        Rng noise(mix_seed(job.seed, 0x6e6f697365ULL));
        const std::unique_ptr<StepScratch> scratch = gradient_step->make_scratch();
        std::vector<int64_t> batch(student.batch_size);
        int64_t point = 0;
        const auto snapshot = [&] {
          std::copy(theta.begin(), theta.end(), snapshots.begin() + (r * points + point++) * params);
        };
        snapshot();
        std::vector<double> centred(rank);
        const int64_t draws = spec.variational ? settings.vi_gradient_samples : 1;
        std::vector<double> data_theta(params), data_sigma(params);
        for (int64_t step = 1; step <= settings.steps; ++step) {
          stream.next_batch(student.batch_size, batch.data());
          // E_q of the data term's gradients over `draws` weight samples on the same minibatch.
          std::fill(data_theta.begin(), data_theta.end(), 0.0);
          std::fill(data_sigma.begin(), data_sigma.end(), 0.0);
          bool finite = true;
          for (int64_t draw = 0; draw < draws && finite; ++draw) {
            for (int64_t i = 0; i < params; ++i) {
              sigma[i] = spec.variational ? std::exp(log_sigma[i]) : 0.0f;
              epsilon[i] = spec.variational ? static_cast<float>(noise.normal()) : 0.0f;
              w[i] = theta[i] + sigma[i] * epsilon[i];
            }
            gradient_step->to_internal(w.data(), w_internal.data());
            BatchPrefetcher prefetch(dataset.train, nullptr, 0);
            const FastModel model{w_internal.data(), nullptr, nullptr, nullptr, nullptr};
            finite = std::isfinite(gradient_step->gradients(dataset.train, batch.data(), model, *scratch, prefetch));
            gradient_step->to_canonical(scratch->grads(), grad.data());
            for (int64_t i = 0; i < params; ++i) {
              const double data = scale * grad[i] / static_cast<double>(draws);
              data_theta[i] += data;
              data_sigma[i] += data * sigma[i] * epsilon[i];
            }
          }
          if (!finite) break;  // diverged: θ stays where it was (its losses show it)
          // The prior's gradient Σ⁻¹ (θ - m) / n by Woodbury: (θ - m) / D - C Cᵀ (θ - m).
          std::fill(centred.begin(), centred.end(), 0.0);
          if (job.method->bayesian()) {
            for (int64_t i = 0; i < params; ++i) {
              const double d = theta[i] - job.prior->mean[i];
              for (int64_t k = 0; k < rank; ++k) centred[k] += woodbury[i * rank + k] * d;
            }
          }
          for (int64_t i = 0; i < params; ++i) {
            double g_theta = data_theta[i];
            if (job.method->bayesian()) {
              double wc = 0.0;
              for (int64_t k = 0; k < rank; ++k) wc += woodbury[i * rank + k] * centred[k];
              g_theta += ((theta[i] - job.prior->mean[i]) / job.prior->diag[i] - wc) / count;
            }
            grad[i] = static_cast<float>(spec.scale.empty() ? g_theta : g_theta * spec.scale[i]);  // ∂L/∂z
            if (spec.variational) {
              epsilon[i] = static_cast<float>(data_sigma[i] + (sigma[i] * sigma[i] * factor.precision_diag[i] - 1.0) / count);
            }
          }
          adam_step(z.data(), grad.data(), z_m.data(), z_v.data(), 1, params, &lr, step);
          if (spec.variational) adam_step(log_sigma.data(), epsilon.data(), s_m.data(), s_v.data(), 1, params, &sigma_lr, step);
          for (int64_t i = 0; i < params; ++i) theta[i] = spec.start[i] + (spec.scale.empty() ? 1.0f : spec.scale[i]) * z[i];
          if (std::binary_search(evaluations.begin(), evaluations.end(), step)) snapshot();
        }
        while (point < points) snapshot();  // a diverged student keeps its last weights
        out[rows[r]].theta = theta;
        if (spec.variational) {
          out[rows[r]].sigma.resize(params);
          for (int64_t i = 0; i < params; ++i) out[rows[r]].sigma[i] = std::exp(log_sigma[i]);
        }
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = static_cast<int64_t>(rows.size());
    }
  });
  if (failure) std::rethrow_exception(failure);
  // The curves: the scored students' kept weights in one batch per curve point.
  std::vector<size_t> scored;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (jobs[rows[r]].scored) scored.push_back(r);
  }
  for (int64_t point = 0; point < points && !scored.empty(); ++point) {
    auto flat = torch::empty({static_cast<int64_t>(scored.size()), params});
    for (size_t k = 0; k < scored.size(); ++k) {
      std::copy_n(snapshots.data() + (scored[k] * points + point) * params, params, flat[k].data_ptr<float>());
    }
    const auto losses = weighted(class_losses(config, flat.to(torch::Device(settings.device)), dataset, test), test.proportions);
    for (size_t k = 0; k < scored.size(); ++k) out[rows[scored[k]]].curve.push_back(losses[k]);
  }
}

}  // namespace

std::vector<StudentOutcome> train_students(const FamilyConfig& config, const std::vector<StudentJob>& jobs,
                                           const Dataset& dataset, const TestSet& test, const TrainSettings& settings) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  if (!impl.reconstructs() && !impl.classifies() && !impl.regresses()) {
    throw DistillError("distill: family " + config.name + " neither reconstructs, classifies nor regresses");
  }
  const int64_t params = layout_size(family.layout(config)), models = static_cast<int64_t>(jobs.size());
  check_jobs(jobs, params, config.name, target_width(config), impl.classifies());
  // Students learn to reconstruct: the zoo's regularizers and input noise are not theirs.
  FamilyConfig student = config;
  student.regularizer = "none";
  student.reg_weight = 0.0;
  student.noise_level = 0.0;
  // hinton's mixed targets have no kernel; everything else takes the family's hand-written step where
  // training would (kernels auto: AVX2 / AVX-512; fast: any target; torch: never).
  TrainOptions kernel_options;
  kernel_options.device = settings.device;
  kernel_options.kernels = settings.kernels;
  const std::unique_ptr<FastStep> probe = uses_fast_kernels(student, kernel_options) ? make_fast_step(student) : nullptr;
  const bool kernels = dynamic_cast<const GradientStep*>(probe.get()) != nullptr;
  std::vector<int64_t> kernel_rows, torch_rows;
  for (int64_t m = 0; m < models; ++m) (kernels && !jobs[m].method->teacher_outputs ? kernel_rows : torch_rows).push_back(m);
  std::vector<Trained> trained(models);
  if (!torch_rows.empty()) train_torch_students(student, jobs, torch_rows, dataset, test, settings, trained);
  if (!kernel_rows.empty()) train_kernel_students(student, jobs, kernel_rows, dataset, test, settings, trained);

  torch::NoGradGuard no_grad;
  std::vector<StudentOutcome> out(models);
  for (int64_t m = 0; m < models; ++m) {
    out[m].weights = std::move(trained[m].theta);
    out[m].std = std::move(trained[m].sigma);
    out[m].curve = std::move(trained[m].curve);
    out[m].test_loss = out[m].curve.empty() ? std::numeric_limits<double>::quiet_NaN() : out[m].curve.back();
    out[m].test_loss_sampled = out[m].test_loss;
    out[m].train_loss = sample_losses(student, out[m].weights, 1, dataset.train, jobs[m].samples, settings.device).front();
  }
  // Variational students: the expected test loss under q, from vi_samples draws (each its own noise).
  std::vector<int64_t> variational_rows;
  for (int64_t m = 0; m < models; ++m) {
    if (jobs[m].method->variational && jobs[m].scored) variational_rows.push_back(m);
  }
  if (!variational_rows.empty()) {
    std::vector<Rng> draws_rng;
    for (int64_t m : variational_rows) draws_rng.emplace_back(mix_seed(jobs[m].seed, 0x73616d706c65ULL));  // "sample"
    std::vector<double> sums(variational_rows.size(), 0.0);
    for (int64_t s = 0; s < settings.vi_samples; ++s) {
      auto draws = torch::empty({static_cast<int64_t>(variational_rows.size()), params});
      for (size_t v = 0; v < variational_rows.size(); ++v) {
        const StudentOutcome& o = out[variational_rows[v]];
        float* row = draws[v].data_ptr<float>();
        for (int64_t i = 0; i < params; ++i) row[i] = o.weights[i] + o.std[i] * static_cast<float>(draws_rng[v].normal());
      }
      const auto losses = weighted(class_losses(student, draws.to(torch::Device(settings.device)), dataset, test), test.proportions);
      for (size_t v = 0; v < variational_rows.size(); ++v) sums[v] += losses[v];
    }
    for (size_t v = 0; v < variational_rows.size(); ++v) {
      out[variational_rows[v]].test_loss_sampled = sums[v] / static_cast<double>(settings.vi_samples);
    }
  }
  return out;
}

}  // namespace genzoo::distill
