#include "train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "common/error.h"
#include "data/dataset.h"
#include "job/job.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/adam.h"
#include "train/data_stream.h"
#include "train/fast_linear_ae.h"

namespace genzoo {

namespace {

constexpr int64_t kEvalBatch = 256;
const AdamSettings kAdam{};

// Batched Adam on LibTorch tensors for devices other than the CPU (same formula as adam_step).
void adam_step_tensors(torch::Tensor& params, const torch::Tensor& grads, torch::Tensor& m, torch::Tensor& v,
                       const torch::Tensor& lr, int64_t step) {
  const double bias1 = 1.0 - std::pow(kAdam.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(kAdam.beta2, static_cast<double>(step));
  m.mul_(kAdam.beta1).add_(grads, 1.0 - kAdam.beta1);
  v.mul_(kAdam.beta2).addcmul_(grads, grads, 1.0 - kAdam.beta2);
  const auto denom = (v.sqrt() / std::sqrt(bias2)).add_(kAdam.eps);
  params.sub_(m * (lr.unsqueeze(1) / bias1) / denom);
}

RawTrainResult train_torch(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                           const ImageSet& train, const TrainOptions& options) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const int64_t models = static_cast<int64_t>(specs.size()), params_per_model = layout_size(layout);
  const int64_t batch = config.batch_size, dim = train.dim();
  const int64_t checkpoints = static_cast<int64_t>(config.checkpoint_steps.size());
  const torch::Device device(options.device);
  const bool on_cpu = device.is_cpu();
  // oneDNN picks its convolution kernel by shape, and the group count is the batch's model count:
  // a model's float results would then depend on its batch-mates. LibTorch's native grouped
  // convolution computes each group alone (bit-identical for any batch) at the same speed here.
  at::globalContext().setUserEnabledMkldnn(false);

  auto initial = torch::empty({models, params_per_model});
  std::vector<float> lr_values(models);
  std::vector<SampleStream> streams;
  std::vector<torch::Generator> generators;
  for (int64_t m = 0; m < models; ++m) {
    init_flat_params(initial[m].data_ptr<float>(), layout, specs[m]->init_seed);
    lr_values[m] = static_cast<float>(specs[m]->lr);
    streams.emplace_back(specs[m]->sample_indices, specs[m]->seed);
    generators.push_back(at::make_generator<at::CPUGeneratorImpl>(mix_seed(specs[m]->seed, 0x6e6f697365ULL)));
  }
  auto flat = initial.to(device).requires_grad_(true);
  auto adam_m = torch::zeros_like(flat).detach(), adam_v = torch::zeros_like(flat).detach();
  auto lr = torch::from_blob(lr_values.data(), {models}).clone().to(device);

  RawTrainResult result;
  result.weights.resize(models * params_per_model);
  result.checkpoints.resize(models * checkpoints * params_per_model);
  result.diverged.assign(models, false);
  std::vector<int64_t> active(models);  // active[row of flat] = position in specs
  for (int64_t m = 0; m < models; ++m) active[m] = m;

  const auto copy_rows_out = [&](const torch::Tensor& rows_tensor, const std::vector<int64_t>& positions, int64_t checkpoint) {
    const auto cpu = rows_tensor.detach().to(torch::kCPU).contiguous();
    for (size_t row = 0; row < positions.size(); ++row) {
      float* out = checkpoint < 0 ? result.weights.data() + positions[row] * params_per_model
                                  : result.checkpoints.data() + (positions[row] * checkpoints + checkpoint) * params_per_model;
      std::copy_n(cpu[row].data_ptr<float>(), params_per_model, out);
    }
  };

  std::vector<int64_t> indices(batch);
  LossContext ctx{&config, true, &generators};
  size_t next_checkpoint = 0;
  for (int64_t step = 1; step <= config.steps && !active.empty(); ++step) {
    if (options.stop && options.stop->load()) throw ChunkAbandoned{};
    const int64_t live = static_cast<int64_t>(active.size());
    auto x_cpu = torch::empty({live, batch, dim});
    for (int64_t row = 0; row < live; ++row) {
      streams[active[row]].next_batch(batch, indices.data());
      gather_images(train, indices.data(), batch, x_cpu[row].data_ptr<float>());
    }
    const auto losses = impl.loss(view_params(flat, layout), x_cpu.to(device), ctx);
    losses.sum().backward();
    auto grads = flat.grad();
    const auto finite = torch::isfinite(losses.detach()).to(torch::kCPU);
    {
      torch::NoGradGuard no_grad;
      if (on_cpu) {
        adam_step(flat.data_ptr<float>(), grads.data_ptr<float>(), adam_m.data_ptr<float>(), adam_v.data_ptr<float>(),
                  live, params_per_model, lr.data_ptr<float>(), step, kAdam);
      } else {
        adam_step_tensors(flat, grads, adam_m, adam_v, lr, step);
      }
      grads.zero_();
    }
    if (!finite.all().item<bool>()) {
      // Drop diverged models from the batch; the others continue with their own state.
      std::vector<int64_t> keep_rows, dropped_positions, kept_positions;
      std::vector<int64_t> dropped_rows;
      for (int64_t row = 0; row < live; ++row) {
        if (finite[row].item<bool>()) {
          keep_rows.push_back(row);
          kept_positions.push_back(active[row]);
        } else {
          dropped_rows.push_back(row);
          dropped_positions.push_back(active[row]);
          result.diverged[active[row]] = true;
        }
      }
      torch::NoGradGuard no_grad;
      const auto dropped_index = torch::tensor(dropped_rows, torch::kLong).to(device);
      copy_rows_out(flat.index_select(0, dropped_index), dropped_positions, -1);
      const auto keep_index = torch::tensor(keep_rows, torch::kLong).to(device);
      flat = flat.index_select(0, keep_index).detach().requires_grad_(true);
      adam_m = adam_m.index_select(0, keep_index);
      adam_v = adam_v.index_select(0, keep_index);
      lr = lr.index_select(0, keep_index);
      std::vector<torch::Generator> kept_generators;
      for (int64_t row : keep_rows) kept_generators.push_back(generators[row]);
      generators = std::move(kept_generators);
      active = std::move(kept_positions);
    }
    if (next_checkpoint < config.checkpoint_steps.size() && config.checkpoint_steps[next_checkpoint] == step) {
      copy_rows_out(flat, active, static_cast<int64_t>(next_checkpoint));
      ++next_checkpoint;
    }
    if (options.on_step) options.on_step(step);
  }
  copy_rows_out(flat, active, -1);
  return result;
}

// final_loss (all training samples of each model) and test_loss (the selected classes' test images,
// class means weighted by the model's proportions), batched over models.
void evaluate(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs, const std::vector<float>& weights,
              const EvalData& data, const torch::Device& device, std::vector<TrainedModel>& out) {
  torch::NoGradGuard no_grad;
  const Family& family = find_family(config.name);
  const Layout layout = family.layout(config);
  const int64_t models = static_cast<int64_t>(specs.size()), params_per_model = layout_size(layout);
  const ImageSet& train = data.dataset->train;
  const ImageSet& test = data.dataset->test;
  const int64_t dim = train.dim();
  const auto flat = torch::from_blob(const_cast<float*>(weights.data()), {models, params_per_model}).to(device);
  const auto params = view_params(flat, layout);
  const auto errors_of = [&](const torch::Tensor& x_cpu) {
    return family.torch_impl().reconstruction_error(params, x_cpu.to(device), config).to(torch::kCPU).to(torch::kDouble);
  };

  // Training samples: round r takes samples [r*E, (r+1)*E) of every model, padding short models.
  int64_t longest = 0;
  for (const auto* spec : specs) longest = std::max<int64_t>(longest, spec->sample_indices.size());
  std::vector<double> train_sum(models, 0.0);
  for (int64_t start = 0; start < longest; start += kEvalBatch) {
    auto x = torch::zeros({models, kEvalBatch, dim});
    std::vector<int64_t> valid(models, 0);
    for (int64_t m = 0; m < models; ++m) {
      const auto& idx = specs[m]->sample_indices;
      valid[m] = std::clamp<int64_t>(static_cast<int64_t>(idx.size()) - start, 0, kEvalBatch);
      if (valid[m] > 0) gather_images(train, idx.data() + start, valid[m], x[m].data_ptr<float>());
    }
    const auto errors = errors_of(x);
    for (int64_t m = 0; m < models; ++m) {
      if (valid[m] > 0) train_sum[m] += errors[m].narrow(0, 0, valid[m]).sum().item<double>();
    }
  }

  // Test images are shared by all models of the chunk.
  const int64_t slots = static_cast<int64_t>(data.test_pools.size());
  std::vector<std::vector<double>> class_sum(models, std::vector<double>(slots, 0.0));
  for (int64_t slot = 0; slot < slots; ++slot) {
    const auto& pool = data.test_pools[slot];
    for (int64_t start = 0; start < static_cast<int64_t>(pool.size()); start += kEvalBatch) {
      const int64_t n = std::min<int64_t>(kEvalBatch, pool.size() - start);
      auto x = torch::empty({1, n, dim});
      gather_images(test, pool.data() + start, n, x.data_ptr<float>());
      const auto errors = errors_of(x.expand({models, n, dim}).contiguous());
      const auto sums = errors.sum(1);
      for (int64_t m = 0; m < models; ++m) class_sum[m][slot] += sums[m].item<double>();
    }
  }
  for (int64_t m = 0; m < models; ++m) {
    out[m].final_loss = train_sum[m] / static_cast<double>(specs[m]->sample_indices.size());
    double test_loss = 0.0;
    for (int64_t slot = 0; slot < slots; ++slot) {
      test_loss += specs[m]->proportions[slot] * class_sum[m][slot] / static_cast<double>(data.test_pools[slot].size());
    }
    out[m].test_loss = test_loss;
  }
}

}  // namespace

bool uses_fast_kernels(const FamilyConfig& config, const TrainOptions& options) {
  return options.kernels == "auto" && torch::Device(options.device).is_cpu() && fast_linear_ae_supports(config);
}

RawTrainResult train_weights(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                             const Dataset& dataset, const TrainOptions& options) {
  return uses_fast_kernels(config, options) ? train_linear_ae_fast(config, specs, dataset.train, options)
                                            : train_torch(config, specs, dataset.train, options);
}

std::vector<TrainedModel> train_chunk(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                                      const EvalData& data, const TrainOptions& options) {
  for (const auto* spec : specs) {
    if (spec->id == options.fault_model) {
      throw TrainError("injected fault while training model " + std::to_string(spec->id) + " (family " + config.name +
                       ", --inject-fault)");
    }
  }
  const auto started = std::chrono::steady_clock::now();
  RawTrainResult raw = train_weights(config, specs, *data.dataset, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const int64_t models = static_cast<int64_t>(specs.size());
  const int64_t params_per_model = static_cast<int64_t>(raw.weights.size()) / std::max<int64_t>(1, models);
  const int64_t checkpoint_size = static_cast<int64_t>(raw.checkpoints.size()) / std::max<int64_t>(1, models);
  std::vector<TrainedModel> out(models);
  for (int64_t m = 0; m < models; ++m) {
    out[m].id = specs[m]->id;
    out[m].train_seconds = seconds / static_cast<double>(models);
    out[m].weights.assign(raw.weights.begin() + m * params_per_model, raw.weights.begin() + (m + 1) * params_per_model);
    out[m].checkpoints.assign(raw.checkpoints.begin() + m * checkpoint_size,
                              raw.checkpoints.begin() + (m + 1) * checkpoint_size);
  }
  evaluate(config, specs, raw.weights, data, torch::Device(options.device), out);
  for (int64_t m = 0; m < models; ++m) {
    const bool finite = std::isfinite(out[m].final_loss) && std::isfinite(out[m].test_loss);
    out[m].status = (raw.diverged[m] || !finite) ? "diverged" : "ok";
  }
  return out;
}

}  // namespace genzoo
