#include "train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "common/error.h"
#include "common/rng.h"
#include "data/dataset.h"
#include "job/job.h"
#include "models/latent_density.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "kernels/isa.h"
#include "train/adam.h"
#include "train/data_stream.h"
#include "train/fast_trainer.h"
#include "train/generative_eval.h"
#include "train/weight_average.h"

namespace genzoo {

namespace {

constexpr int64_t kEvalBatch = 256;
// Batched Adam on LibTorch tensors for devices other than the CPU (same formula as adam_step).
void adam_step_tensors(torch::Tensor& params, const torch::Tensor& grads, torch::Tensor& m, torch::Tensor& v,
                       const torch::Tensor& lr, int64_t step, const AdamSettings& adam) {
  const double bias1 = 1.0 - std::pow(adam.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(adam.beta2, static_cast<double>(step));
  m.mul_(adam.beta1).add_(grads, 1.0 - adam.beta1);
  v.mul_(adam.beta2).addcmul_(grads, grads, 1.0 - adam.beta2);
  const auto denom = (v.sqrt() / std::sqrt(bias2)).add_(adam.eps);
  params.sub_(m * (lr.unsqueeze(1) * (lr_schedule_factor(adam, step) / bias1)) / denom);
}

// The chunk's models on one device: stacked parameters, Adam state, and each model's own data
// stream and generator. Diverged models leave the batch (compaction) and keep their last weights.
class TorchBatch {
 public:
  TorchBatch(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs, const Layout& layout,
             const TrainOptions& options)
      : device_(options.device), params_per_model_(layout_size(layout)),
        checkpoint_count_(static_cast<int64_t>(config.checkpoint_steps.size())),
        classes_(static_cast<int64_t>(options.class_labels.size())), slot_of_label_(class_slot_table(options.class_labels)),
        adam_(adam_settings(config)), d_adam_(adam_settings(config, config.d_steps)), ema_(config.ema_decay), ema_columns_(averaged_param_count(layout)) {
    const int64_t models = static_cast<int64_t>(specs.size());
    auto initial = torch::empty({models, params_per_model_});
    std::vector<float> lr_values(models);
    for (int64_t m = 0; m < models; ++m) {
      init_flat_params(initial[m].data_ptr<float>(), layout, specs[m]->init_seed);
      lr_values[m] = static_cast<float>(specs[m]->lr);
      streams.emplace_back(specs[m]->sample_indices, specs[m]->seed);
      generators.push_back(noise_generator(specs[m]->seed));
      active.push_back(m);
    }
    flat = initial.to(device_).requires_grad_(true);
    adam_m = torch::zeros_like(flat).detach();
    adam_v = torch::zeros_like(flat).detach();
    if (ema_.enabled()) ema_sum = torch::zeros({models, ema_columns_}, flat.options()).detach();
    lr = torch::from_blob(lr_values.data(), {models}).clone().to(device_);
    if (config.d_lr_scale != 1.0) d_lr_ = (lr * config.d_lr_scale).contiguous();
    result.weights.resize(models * params_per_model_);
    result.checkpoints.resize(models * checkpoint_count_ * params_per_model_);
    result.diverged.assign(models, false);
  }

  int64_t live() const { return static_cast<int64_t>(active.size()); }

  // Each live model's discriminator learning rate [live]: lr times FamilyConfig::d_lr_scale.
  const torch::Tensor& discriminator_lr() const { return d_lr_.defined() ? d_lr_ : lr; }

  // Adam on columns [begin, end) of every live model (the whole model, or a GAN's G) at its lr.
  void adam(int64_t begin, int64_t end, int64_t step) { adam_update(begin, end, step, lr, adam_); }
  // Adam on a GAN's D, columns [begin, end), at discriminator_lr(); discriminator_step counts D's updates
  // (d_steps per step), which set its learning-rate schedule.
  void discriminator_adam(int64_t begin, int64_t end, int64_t discriminator_step) {
    adam_update(begin, end, discriminator_step, discriminator_lr(), d_adam_);
  }

  // One more iterate into each live model's weight average (FamilyConfig::ema_decay), after a step's updates.
  void accumulate_average() {
    if (!ema_.enabled()) return;
    torch::NoGradGuard no_grad;
    ema_sum.mul_(ema_.decay()).add_(flat.detach().narrow(1, 0, ema_columns_), 1.0 - ema_.decay());
    ++ema_steps_;
  }

  // Drops the models whose losses are not finite; returns whether any model is left.
  bool drop_diverged(const torch::Tensor& losses) {
    const auto finite = torch::isfinite(losses.detach()).to(torch::kCPU);
    if (finite.all().item<bool>()) return true;
    std::vector<int64_t> keep_rows, dropped_rows, kept_positions, dropped_positions;
    for (int64_t row = 0; row < live(); ++row) {
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
    copy_rows_out(flat.index_select(0, torch::tensor(dropped_rows, torch::kLong).to(device_)), dropped_positions, -1);
    const auto keep_index = torch::tensor(keep_rows, torch::kLong).to(device_);
    flat = flat.index_select(0, keep_index).detach().requires_grad_(true);
    adam_m = adam_m.index_select(0, keep_index);
    adam_v = adam_v.index_select(0, keep_index);
    if (ema_sum.defined()) ema_sum = ema_sum.index_select(0, keep_index);
    lr = lr.index_select(0, keep_index);
    if (d_lr_.defined()) d_lr_ = d_lr_.index_select(0, keep_index);
    std::vector<torch::Generator> kept_generators;
    for (int64_t row : keep_rows) kept_generators.push_back(generators[row]);
    generators = std::move(kept_generators);
    active = std::move(kept_positions);
    return !active.empty();
  }

  // Each live model's next minibatch [live, B, 784] on the device (the class slots of
  // TrainOptions::class_labels as one-hot [live, B, K] if asked, the images' dataset labels [live, B] if asked).
  torch::Tensor next_batch(const ImageSet& train, int64_t batch, torch::Tensor* one_hot = nullptr,
                           torch::Tensor* labels = nullptr) {
    std::vector<int64_t> indices(batch);
    auto x = torch::empty({live(), batch, train.dim()});
    if (one_hot) *one_hot = torch::zeros({live(), batch, classes_});
    if (labels) *labels = torch::empty({live(), batch}, torch::kLong);
    for (int64_t row = 0; row < live(); ++row) {
      streams[active[row]].next_batch(batch, indices.data());
      gather_images(train, indices.data(), batch, x[row].data_ptr<float>());
      if (labels) (*labels)[row].copy_(labels_of(train, indices.data(), batch));
      if (one_hot) {
        for (int64_t i = 0; i < batch; ++i) {
          const int slot = slot_of_label_[train.labels[indices[i]]];
          if (slot < 0) {
            throw TrainError("image " + std::to_string(indices[i]) + " has label " + std::to_string(train.labels[indices[i]]) +
                             ", none of the class labels (TrainOptions::class_labels)");
          }
          (*one_hot)[row][i][slot] = 1.0f;
        }
      }
    }
    if (one_hot) *one_hot = one_hot->to(device_);
    if (labels) *labels = labels->to(device_);
    return x.to(device_);
  }

  // Standard normal codes [live, B, k] from each model's own generator.
  torch::Tensor codes(int64_t batch, int64_t latent) {
    std::vector<torch::Tensor> rows;
    for (int64_t row = 0; row < live(); ++row) rows.push_back(torch::randn({batch, latent}, generators[row]));
    return torch::stack(rows).to(device_);
  }

  // The family's augmentation draws for D's B inputs [live, B, ...] from each model's own generator
  // (TorchFamily::discriminator_augmentation); undefined when it augments nothing.
  torch::Tensor augmentation_draws(const TorchFamily& impl, const FamilyConfig& config, int64_t batch) {
    std::vector<torch::Tensor> rows;
    for (int64_t row = 0; row < live(); ++row) {
      auto draws = impl.discriminator_augmentation(batch, generators[row], config);
      if (!draws.defined()) return {};
      rows.push_back(std::move(draws));
    }
    return torch::stack(rows).to(device_);
  }

  // One-hot class slots [live, B, K] drawn from each model's proportions with its own generator.
  torch::Tensor sampled_labels(const std::vector<const ModelSpec*>& specs, int64_t batch, int64_t classes) {
    auto labels = torch::zeros({live(), batch, classes});
    for (int64_t row = 0; row < live(); ++row) {
      const auto draws = sample_class_slots(specs[active[row]]->proportions, batch, generators[row]);
      labels[row].scatter_(1, draws.unsqueeze(1), 1.0f);
    }
    return labels.to(device_);
  }

  void checkpoint(const FamilyConfig& config, size_t& next, int64_t step) {
    if (next < config.checkpoint_steps.size() && config.checkpoint_steps[next] == step) {
      copy_rows_out(flat, active, static_cast<int64_t>(next));  // the trajectory: iterates, never averages
      ++next;
    }
  }

  RawTrainResult finish() {
    copy_rows_out(stored_weights(), active, -1);
    return std::move(result);
  }

  torch::Tensor flat, adam_m, adam_v, lr;
  torch::Tensor ema_sum;  // [live, ema_columns_]: FamilyConfig::ema_decay's running sum, undefined when off
  std::vector<int64_t> active;  // active[row of flat] = position in the chunk's specs
  std::vector<SampleStream> streams;
  std::vector<torch::Generator> generators;
  RawTrainResult result;

 private:
  // Adam with `settings` on columns [begin, end) at the learning rates `rates` [live].
  void adam_update(int64_t begin, int64_t end, int64_t step, const torch::Tensor& rates, const AdamSettings& settings) {
    torch::NoGradGuard no_grad;
    auto grads = flat.grad();
    if (device_.is_cpu()) {
      adam_step(flat.data_ptr<float>() + begin, grads.data_ptr<float>() + begin, adam_m.data_ptr<float>() + begin,
                adam_v.data_ptr<float>() + begin, live(), end - begin, rates.data_ptr<float>(), step, settings,
                params_per_model_);
    } else {
      auto p = flat.narrow(1, begin, end - begin), g = grads.narrow(1, begin, end - begin);
      auto m = adam_m.narrow(1, begin, end - begin), v = adam_v.narrow(1, begin, end - begin);
      adam_step_tensors(p, g, m, v, rates, step, settings);
    }
    grads.zero_();
  }

  void copy_rows_out(const torch::Tensor& rows_tensor, const std::vector<int64_t>& positions, int64_t checkpoint) {
    const auto cpu = rows_tensor.detach().to(torch::kCPU).contiguous();
    for (size_t row = 0; row < positions.size(); ++row) {
      float* out = checkpoint < 0 ? result.weights.data() + positions[row] * params_per_model_
                                  : result.checkpoints.data() +
                                        (positions[row] * checkpoint_count_ + checkpoint) * params_per_model_;
      std::copy_n(cpu[row].data_ptr<float>(), params_per_model_, out);
    }
  }

  // The live models' final weights: the iterates, their averaged columns replaced by the bias-corrected
  // average when FamilyConfig::ema_decay is set. (Checkpoints and diverged models keep iterates.)
  torch::Tensor stored_weights() const {
    if (!ema_.enabled() || ema_steps_ == 0) return flat;
    auto stored = flat.detach().clone();
    stored.narrow(1, 0, ema_columns_).copy_(ema_sum * ema_.correction(ema_steps_));
    return stored;
  }

  torch::Device device_;
  int64_t params_per_model_, checkpoint_count_;
  torch::Tensor d_lr_;  // lr times d_lr_scale, kept beside lr; undefined when the scale is 1
  int64_t classes_;                // K: TrainOptions::class_labels
  ClassSlotTable slot_of_label_;  // their class slots
  AdamSettings adam_, d_adam_;
  WeightAverage ema_;
  int64_t ema_columns_;  // leading canonical columns averaged (models/torch_family.h)
  int64_t ema_steps_ = 0;
};

RawTrainResult train_torch(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                           const ImageSet& train, const TrainOptions& options) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  // oneDNN picks its convolution kernel by shape, and the group count is the batch's model count:
  // a model's float results would then depend on its batch-mates. LibTorch's native grouped
  // convolution computes each group alone (bit-identical for any batch) at the same speed here.
  at::globalContext().setUserEnabledMkldnn(false);
  TorchBatch batch(config, specs, layout, options);
  LossContext ctx{&config, true, &batch.generators};
  const int64_t trained = trained_param_count(layout);  // the latent density gets no gradient
  size_t next_checkpoint = 0;
  for (int64_t step = 1; step <= config.steps; ++step) {
    if (options.stop && options.stop->load()) throw ChunkAbandoned{};
    const auto x = batch.next_batch(train, config.batch_size, nullptr, impl.classifies() ? &ctx.labels : nullptr);
    const auto losses = impl.loss(view_params(batch.flat, layout), x, ctx);
    losses.sum().backward();
    batch.adam(0, trained, step);
    batch.accumulate_average();
    if (!batch.drop_diverged(losses)) break;
    batch.checkpoint(config, next_checkpoint, step);
    if (options.on_step) options.on_step(step);
  }
  return batch.finish();
}

// GANs: d_steps discriminator updates (Adam on D's columns) per generator update (Adam on G's
// columns), each network with its own Adam step count. Records the discriminator's loss averaged
// over the last tenth of training per model ("d_loss"), the basis of the JS estimate.
RawTrainResult train_adversarial(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                                 const ImageSet& train, const TrainOptions& options) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const int64_t generator_end = generator_param_count(layout), params_per_model = layout_size(layout);
  const bool conditional = config.condition == "label";
  if (conditional && static_cast<int64_t>(options.class_labels.size()) != config.num_classes) {
    throw TrainError("family " + config.name + ": class-conditional training needs the " +
                     std::to_string(config.num_classes) + " class labels (TrainOptions::class_labels)");
  }
  at::globalContext().setUserEnabledMkldnn(false);
  TorchBatch batch(config, specs, layout, options);
  const int64_t tail_start = d_loss_tail_start(config.steps);
  std::vector<double> tail_sum(specs.size(), 0.0);
  size_t next_checkpoint = 0;
  int64_t discriminator_step = 0;
  for (int64_t step = 1; step <= config.steps; ++step) {
    if (options.stop && options.stop->load()) throw ChunkAbandoned{};
    torch::Tensor d_losses;
    // Each model's generator draws, per step, the fake labels, then the codes, then the augmentations
    // (the hand-written path's order).
    for (int64_t k = 0; k < config.d_steps; ++k) {
      torch::Tensor real_labels, fake_labels;
      const auto x = batch.next_batch(train, config.batch_size, conditional ? &real_labels : nullptr);
      if (conditional) fake_labels = batch.sampled_labels(specs, config.batch_size, config.num_classes);
      const auto z = batch.codes(config.batch_size, config.latent);
      const auto real_augment = batch.augmentation_draws(impl, config, config.batch_size);
      const auto fake_augment = batch.augmentation_draws(impl, config, config.batch_size);
      d_losses = impl.discriminator_loss(view_params(batch.flat, layout), x, real_labels, z, fake_labels, real_augment,
                                         fake_augment, config);
      d_losses.sum().backward();
      batch.discriminator_adam(generator_end, params_per_model, ++discriminator_step);
    }
    torch::Tensor fake_labels;
    if (conditional) fake_labels = batch.sampled_labels(specs, config.batch_size, config.num_classes);
    const auto z = batch.codes(config.batch_size, config.latent);
    const auto g_losses = impl.generator_loss(view_params(batch.flat, layout), z, fake_labels,
                                              batch.augmentation_draws(impl, config, config.batch_size), config);
    g_losses.sum().backward();
    batch.adam(0, generator_end, step);
    batch.accumulate_average();
    if (step >= tail_start) {
      const auto d_cpu = d_losses.detach().to(torch::kCPU).to(torch::kDouble);
      for (int64_t row = 0; row < batch.live(); ++row) tail_sum[batch.active[row]] += d_cpu[row].item<double>();
    }
    if (!batch.drop_diverged(d_losses + g_losses.detach())) break;
    batch.checkpoint(config, next_checkpoint, step);
    if (options.on_step) options.on_step(step);
  }
  RawTrainResult result = batch.finish();
  result.metrics.resize(specs.size());
  const double tail_steps = static_cast<double>(config.steps - tail_start + 1);
  for (size_t m = 0; m < specs.size(); ++m) {
    if (!result.diverged[m]) result.metrics[m]["d_loss"] = tail_sum[m] / tail_steps;
  }
  return result;
}

// final_loss (all training samples of each model) and test_loss (the selected classes' test images,
// class means weighted by the model's proportions), batched over models; the family's further
// evaluation terms (vae: elbo) the same way, as metrics "<name>_train" and "<name>_test".
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
  const std::string kLoss = "loss";
  // Per-sample figures [M, n] by name, on the CPU in double, of images x [M, n, 784] with labels [M, n].
  const auto figures_of = [&](const torch::Tensor& x_cpu, const torch::Tensor& labels_cpu) {
    const auto x = x_cpu.to(device), labels = labels_cpu.to(device);
    auto figures = family.torch_impl().evaluation_terms(params, x, labels, config);
    figures[kLoss] = family.torch_impl().sample_loss(params, x, labels, config);
    for (auto& [name, values] : figures) values = values.to(torch::kCPU).to(torch::kDouble);
    return figures;
  };

  // Training samples: round r takes samples [r*E, (r+1)*E) of every model, padding short models.
  int64_t longest = 0;
  for (const auto* spec : specs) longest = std::max<int64_t>(longest, spec->sample_indices.size());
  std::map<std::string, std::vector<double>> train_sum;
  // Per model, the sums of its training pixels and of their squares (per pixel), or its label counts:
  // the trivial predictor's loss.
  const bool reconstructs = family.torch_impl().reconstructs(), classifies = family.torch_impl().classifies(),
             regresses = family.torch_impl().regresses();
  std::vector<double> pixel_sum(reconstructs || regresses ? models * dim : 0), pixel_square_sum(pixel_sum.size());
  std::vector<double> label_count(classifies ? models * data.dataset->num_classes() : 0);
  for (int64_t start = 0; start < longest; start += kEvalBatch) {
    auto x = torch::zeros({models, kEvalBatch, dim});
    auto labels = torch::zeros({models, kEvalBatch}, torch::kLong);
    std::vector<int64_t> valid(models, 0);
    for (int64_t m = 0; m < models; ++m) {
      const auto& idx = specs[m]->sample_indices;
      valid[m] = std::clamp<int64_t>(static_cast<int64_t>(idx.size()) - start, 0, kEvalBatch);
      if (valid[m] > 0) {
        gather_images(train, idx.data() + start, valid[m], x[m].data_ptr<float>());
        labels[m].narrow(0, 0, valid[m]).copy_(labels_of(train, idx.data() + start, valid[m]));
      }
      for (int64_t i = 0; classifies && i < valid[m]; ++i) ++label_count[m * data.dataset->num_classes() + train.labels[idx[start + i]]];
      if (pixel_sum.empty()) continue;
      double *sum = pixel_sum.data() + m * dim, *square_sum = pixel_square_sum.data() + m * dim;
      for (int64_t i = 0; i < valid[m]; ++i) {
        const float* image = x[m][i].data_ptr<float>();
        for (int64_t p = 0; p < dim; ++p) {
          sum[p] += image[p];
          square_sum[p] += static_cast<double>(image[p]) * image[p];
        }
      }
    }
    for (const auto& [name, values] : figures_of(x, labels)) {
      auto& sums = train_sum.try_emplace(name, models, 0.0).first->second;
      for (int64_t m = 0; m < models; ++m) {
        if (valid[m] > 0) sums[m] += values[m].narrow(0, 0, valid[m]).sum().item<double>();
      }
    }
  }

  // Test images are shared by all models of the chunk.
  const int64_t slots = static_cast<int64_t>(data.test_pools.size());
  std::map<std::string, std::vector<std::vector<double>>> class_sum;
  for (int64_t slot = 0; slot < slots; ++slot) {
    const auto& pool = data.test_pools[slot];
    for (int64_t start = 0; start < static_cast<int64_t>(pool.size()); start += kEvalBatch) {
      const int64_t n = std::min<int64_t>(kEvalBatch, pool.size() - start);
      auto x = torch::empty({1, n, dim});
      gather_images(test, pool.data() + start, n, x.data_ptr<float>());
      const auto labels = labels_of(test, pool.data() + start, n).expand({models, n}).contiguous();
      for (const auto& [name, values] : figures_of(x.expand({models, n, dim}).contiguous(), labels)) {
        auto& sums = class_sum.try_emplace(name, models, std::vector<double>(slots, 0.0)).first->second;
        const auto per_model = values.sum(1);
        for (int64_t m = 0; m < models; ++m) sums[m][slot] += per_model[m].item<double>();
      }
    }
  }
  for (int64_t m = 0; m < models; ++m) {
    const auto train_mean = [&](const std::string& name) {
      return train_sum.at(name)[m] / static_cast<double>(specs[m]->sample_indices.size());
    };
    const auto test_mean = [&](const std::string& name) {
      double mean = 0.0;
      for (int64_t slot = 0; slot < slots; ++slot) {
        mean += specs[m]->proportions[slot] * class_sum.at(name)[m][slot] / static_cast<double>(data.test_pools[slot].size());
      }
      return mean;
    };
    out[m].final_loss = train_mean(kLoss);
    out[m].test_loss = test_mean(kLoss);
    if (!pixel_sum.empty()) {
      // The squared error of predicting the mean over the model's training samples for every input, per
      // predicted column: (1/D) Σ_p Var(x_p) for a reconstruction, Var(y) (the last column) for a regression.
      const double n = static_cast<double>(specs[m]->sample_indices.size());
      const int64_t first = regresses ? dim - 1 : 0;
      double trivial = 0.0;
      for (int64_t p = first; p < dim; ++p) {
        const double mean = pixel_sum[m * dim + p] / n;
        trivial += std::max(0.0, pixel_square_sum[m * dim + p] / n - mean * mean);
      }
      out[m].metrics["trivial_loss"] = trivial / static_cast<double>(dim - first);
    }
    if (classifies) {
      // The cross-entropy of predicting the model's training class frequencies q for every input: H(q).
      const double n = static_cast<double>(specs[m]->sample_indices.size());
      double entropy = 0.0;
      for (int c = 0; c < data.dataset->num_classes(); ++c) {
        const double q = label_count[m * data.dataset->num_classes() + c] / n;
        if (q > 0.0) entropy -= q * std::log(q);
      }
      out[m].metrics["trivial_loss"] = entropy;
    }
    for (const auto& [name, sums] : train_sum) {
      if (name == kLoss) continue;
      out[m].metrics[name + "_train"] = train_mean(name);
      out[m].metrics[name + "_test"] = test_mean(name);
    }
  }
}

// The hand-written step for this configuration, or null where LibTorch trains it. auto takes it
// only on targets with wide FMA vectors (AVX2, AVX-512): on SSE4 or the portable fallback, LibTorch's
// BLAS (with its own CPU dispatch) is faster; fast takes it on any target (tests of narrow targets).
std::unique_ptr<FastStep> fast_step_for(const FamilyConfig& config, const TrainOptions& options) {
  if (options.kernels == "torch" || !torch::Device(options.device).is_cpu()) return nullptr;
  if (options.kernels == "auto" && !kernels::isa_has_wide_fma()) return nullptr;
  return make_fast_step(config);
}

// TorchFamily::fit_after_training on every model that did not diverge (its training images, its seed,
// its checkpoints); part of the training time. The models are independent: one per thread (OpenMP, the
// trainer's thread count; LibTorch runs its ops serially inside), the first error rethrown after the loop.
void fit_after_training(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs, const Dataset& dataset,
                        RawTrainResult& raw) {
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  if (!impl.fits_after_training(config)) return;
  const Layout layout = family.layout(config);
  const int64_t params_per_model = layout_size(layout), models = static_cast<int64_t>(specs.size());
  const int64_t checkpoints = static_cast<int64_t>(config.checkpoint_steps.size());
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic)
  for (int64_t m = 0; m < models; ++m) {
    if (raw.diverged[m]) continue;
    try {
      const auto& indices = specs[m]->sample_indices;
      auto x = torch::empty({1, static_cast<int64_t>(indices.size()), dataset.train.dim()});
      gather_images(dataset.train, indices.data(), static_cast<int64_t>(indices.size()), x.data_ptr<float>());
      impl.fit_after_training(raw.weights.data() + m * params_per_model,
                              raw.checkpoints.data() + m * checkpoints * params_per_model, checkpoints, layout, x,
                              mix_seed(specs[m]->seed, 0x64656e73ULL), config);  // "dens"
    } catch (...) {
#pragma omp critical
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

int64_t d_loss_tail_start(int64_t steps) { return steps - std::max<int64_t>(1, steps / 10) + 1; }

bool uses_fast_kernels(const FamilyConfig& config, const TrainOptions& options) {
  return fast_step_for(config, options) != nullptr;
}

std::string kernel_isa_for(const FamilyConfig& config, const TrainOptions& options) {
  if (uses_fast_kernels(config, options)) return kernels::isa();
  const torch::Device device(options.device);
  return device.is_cpu() ? "torch" : device.str();
}

RawTrainResult train_weights(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                             const Dataset& dataset, const TrainOptions& options) {
  if (const auto fast_step = fast_step_for(config, options)) return train_fast(config, *fast_step, specs, dataset.train, options);
  if (find_family(config.name).torch_impl().adversarial()) return train_adversarial(config, specs, dataset.train, options);
  return train_torch(config, specs, dataset.train, options);
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
  const std::string isa = kernel_isa_for(config, options);
  RawTrainResult raw = train_weights(config, specs, *data.dataset, options);
  fit_after_training(config, specs, *data.dataset, raw);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const int64_t models = static_cast<int64_t>(specs.size());
  const int64_t params_per_model = static_cast<int64_t>(raw.weights.size()) / std::max<int64_t>(1, models);
  const int64_t checkpoint_size = static_cast<int64_t>(raw.checkpoints.size()) / std::max<int64_t>(1, models);
  std::vector<TrainedModel> out(models);
  for (int64_t m = 0; m < models; ++m) {
    out[m].id = specs[m]->id;
    out[m].train_seconds = seconds / static_cast<double>(models);
    out[m].kernel_isa = isa;
    out[m].weights.assign(raw.weights.begin() + m * params_per_model, raw.weights.begin() + (m + 1) * params_per_model);
    out[m].checkpoints.assign(raw.checkpoints.begin() + m * checkpoint_size,
                              raw.checkpoints.begin() + (m + 1) * checkpoint_size);
  }
  evaluate(config, specs, raw.weights, data, torch::Device(options.device), out);
  for (size_t m = 0; m < raw.metrics.size(); ++m) out[m].metrics.insert(raw.metrics[m].begin(), raw.metrics[m].end());
  if (find_family(config.name).torch_impl().generative()) {
    evaluate_generative(config, specs, raw.weights, data, options, out);
  }
  for (int64_t m = 0; m < models; ++m) {
    const bool finite = std::isfinite(out[m].final_loss) && std::isfinite(out[m].test_loss);
    const auto trivial = out[m].metrics.find("trivial_loss");
    if (raw.diverged[m] || !finite) {
      out[m].status = "diverged";
    } else if (trivial != out[m].metrics.end() && out[m].final_loss > trivial->second) {
      out[m].status = "garbage";  // trained, but worse than its trivial predictor (mean image, class frequencies)
    }
    if (out[m].status.empty()) out[m].status = "ok";
  }
  return out;
}

}  // namespace genzoo
