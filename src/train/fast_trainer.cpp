#include "train/fast_trainer.h"

#include <ATen/Parallel.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "data/dataset.h"
#include "job/job.h"
#include "models/family.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/adam.h"
#include "train/data_stream.h"
#include "train/weight_average.h"

namespace genzoo {

namespace {

// Per-core L2 size (for cache-sized model groups); 1 MiB when the system does not say.
int64_t l2_cache_bytes() {
  const long size = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return size > 0 ? size : (1 << 20);
}

}  // namespace

AlignedLayout::AlignedLayout(const Layout& layout) : layout_(layout) {
  constexpr int64_t kVector = 16;
  for (const ParamLayout& param : layout_) {
    offsets_.push_back(size_);
    size_ += (param.numel() + kVector - 1) / kVector * kVector;
  }
}

int64_t AlignedLayout::offset(const std::string& name) const {
  return offsets_[&find_param(layout_, name) - layout_.data()];
}

void AlignedLayout::to_internal(const float* canonical, float* internal) const {
  std::fill(internal, internal + size_, 0.0f);
  for (size_t i = 0; i < layout_.size(); ++i) {
    std::copy_n(canonical + layout_[i].offset, layout_[i].numel(), internal + offsets_[i]);
  }
}

void AlignedLayout::to_canonical(const float* internal, float* canonical) const {
  for (size_t i = 0; i < layout_.size(); ++i) {
    std::copy_n(internal + offsets_[i], layout_[i].numel(), canonical + layout_[i].offset);
  }
}

BatchPrefetcher::BatchPrefetcher(const ImageSet& train, const int64_t* indices, int64_t count)
    : train_(train), indices_(indices), count_(indices && train.bytes.size() == train.pixels.size() ? count : 0) {}

void BatchPrefetcher::next_slice(int64_t slices) {
  constexpr int64_t kLine = 64;
  const int64_t end = std::min(count_, next_ + (count_ + slices - 1) / slices);
  for (; next_ < end; ++next_) {
    const uint8_t* image = train_.bytes.data() + indices_[next_] * train_.dim();
    for (int64_t offset = 0; offset < train_.dim(); offset += kLine) __builtin_prefetch(image + offset, 0, 2);
  }
}

double GradientStep::update(const ImageSet& train, const int64_t* batch_indices, int64_t step, const FastModel& model,
                            StepScratch& scratch, BatchPrefetcher& prefetch) const {
  const double loss = gradients(train, batch_indices, model, scratch, prefetch);
  if (std::isfinite(loss)) {
    adam_step(model.params, scratch.grads(), model.adam_m, model.adam_v, 1, trained_size(), model.lr, step, *model.adam);
  }
  return loss;
}

std::unique_ptr<FastStep> make_fast_step(const FamilyConfig& config) { return find_family(config.name).cpu_step(config); }

RawTrainResult train_fast(const FamilyConfig& config, const FastStep& fast_step, const std::vector<const ModelSpec*>& specs,
                          const ImageSet& train, const TrainOptions& options) {
  const int64_t models = static_cast<int64_t>(specs.size());
  const int64_t params_per_model = layout_size(fast_step.layout());
  const int64_t stride = fast_step.internal_size();  // between models' internal parameters
  const int64_t checkpoints = static_cast<int64_t>(config.checkpoint_steps.size());

  AlignedFloats params(models * stride), adam_m(models * stride), adam_v(models * stride);
  // FamilyConfig::ema_decay: each model's running average of its internal parameters (all of them: a gan's
  // discriminator columns are averaged too but not stored, see stored_weights).
  const WeightAverage average(config.ema_decay);
  AlignedFloats averages(average.enabled() ? models * stride : 0);
  const int64_t averaged = averaged_param_count(fast_step.layout());
  std::vector<float> lr(models);
  const AdamSettings adam = adam_settings(config);
  std::vector<SampleStream> streams;
  std::vector<std::unique_ptr<ModelExtras>> extras;
  std::vector<float> canonical(params_per_model);
  RawTrainResult result;
  result.diverged.assign(models, false);
  result.checkpoints.resize(models * checkpoints * params_per_model);
  for (int64_t m = 0; m < models; ++m) {
    init_flat_params(canonical.data(), fast_step.layout(), specs[m]->init_seed);
    fast_step.to_internal(canonical.data(), params.data() + m * stride);
    lr[m] = static_cast<float>(specs[m]->lr);
    streams.emplace_back(specs[m]->sample_indices, specs[m]->seed);
    extras.push_back(fast_step.make_extras(*specs[m], options.class_labels));
  }
  std::vector<char> diverged(models, 0);
  // Model m's final weights after `steps` steps into canonical (params_per_model floats): its iterate,
  // the averaged columns replaced by their bias-corrected average when ema_decay is set. `scratch` holds
  // params_per_model floats.
  const auto stored_weights = [&](int64_t m, int64_t steps, float* canonical, float* scratch) {
    fast_step.to_canonical(params.data() + m * stride, canonical);
    if (!average.enabled() || diverged[m]) return;
    fast_step.to_canonical(averages.data() + m * stride, scratch);
    average.read(scratch, averaged, steps, canonical);
  };
  // Batches are double-buffered by step parity: a model's next batch is drawn and prefetched one model
  // ahead (wrapping to the group's first model of the next step) while this one computes.
  const int64_t step_images = config.batch_size * fast_step.batches_per_step();
  std::vector<int64_t> batches(2 * models * step_images);
  const auto batch_of = [&](int64_t m, int64_t step) { return batches.data() + ((step & 1) * models + m) * step_images; };
  const auto draw_batch = [&](int64_t m, int64_t step) {
    int64_t* indices = batch_of(m, step);
    streams[m].next_batch(step_images, indices);
    return indices;
  };

  // Models are independent, so any order of (model, step) pairs gives the same weights. Training
  // cache-sized groups of models through all their steps keeps each group's parameters and Adam
  // state in L2; stepping all models in lockstep would stream the whole chunk's state from memory
  // every step. A group's state gets a third of the L2 left by the step's work buffers (the rest
  // holds prefetched batches and absorbs conflicts): for W1 on a 2 MB L2 that is one model, measured
  // ~1 % faster than two.
  // Parameters and Adam's two moments, and the weight average when ema_decay keeps one.
  const int64_t state_bytes = (average.enabled() ? 4 : 3) * stride * static_cast<int64_t>(sizeof(float));
  const int64_t scratch_bytes = fast_step.make_scratch()->bytes();
  const int64_t threads = std::max(1, at::get_num_threads());
  // No larger than an equal share, so that every thread has a group to train.
  const int64_t group_size = std::clamp<int64_t>((l2_cache_bytes() - scratch_bytes) / 3 / state_bytes, 1,
                                                 std::max<int64_t>(1, (models + threads - 1) / threads));
  const int64_t groups = (models + group_size - 1) / group_size;
  const int64_t total_group_steps = groups * config.steps;
  std::atomic<int64_t> next_group{0};
  std::atomic<int64_t> group_steps_done{0};
  std::atomic<bool> abandoned{false};
  int64_t reported_steps = 0;  // by the calling thread only
  const auto stop_requested = [&] { return options.stop && options.stop->load(); };

  // Progress goes to options.on_step in chunk steps (group steps / groups), every value in order, and only
  // from the calling thread: under MPI the callback also serves the leader's messages (funneled MPI).
  const auto report = [&] {
    const int64_t done = group_steps_done.load() / groups;
    while (options.on_step && reported_steps < done && !stop_requested()) {
      options.on_step(++reported_steps);
    }
  };
  const auto train_group = [&](int64_t group, StepScratch& scratch, bool caller) {
    const int64_t first = group * group_size, last = std::min(models, first + group_size);
    size_t next_checkpoint = 0;
    for (int64_t step = 1; step <= config.steps; ++step) {
      // Every thread polls the stop flag, so a stop request ends the chunk within one group step.
      if (abandoned || stop_requested()) {
        abandoned = true;
        return;
      }
      if (step == 1 && !diverged[first]) draw_batch(first, step);
      for (int64_t m = first; m < last; ++m) {
        const bool wraps = m + 1 == last;
        const int64_t after = wraps ? first : m + 1, after_step = wraps ? step + 1 : step;
        const bool fetch = !diverged[after] && after_step <= config.steps;
        BatchPrefetcher prefetch(train, fetch ? draw_batch(after, after_step) : nullptr, step_images);
        if (diverged[m]) continue;
        const FastModel model{params.data() + m * stride, adam_m.data() + m * stride, adam_v.data() + m * stride,
                              &lr[m], extras[m].get(), &adam};
        // A non-finite objective drops the model; the other models go on untouched.
        if (!std::isfinite(fast_step.update(train, batch_of(m, step), step, model, scratch, prefetch))) {
          diverged[m] = 1;
        } else if (average.enabled()) {
          average.accumulate(averages.data() + m * stride, model.params, stride);
        }
      }
      if (next_checkpoint < config.checkpoint_steps.size() && config.checkpoint_steps[next_checkpoint] == step) {
        for (int64_t m = first; m < last; ++m) {
          if (diverged[m]) continue;  // its later checkpoints stay zero, as on the LibTorch path
          // The trajectory: iterates, never averages (reduce's SWAG reads them as iterates).
          fast_step.to_canonical(params.data() + m * stride,
                                 result.checkpoints.data() + (m * checkpoints + next_checkpoint) * params_per_model);
        }
        ++next_checkpoint;
      }
      ++group_steps_done;
      if (caller) report();
    }
  };
  // One task per thread, each taking groups from a shared counter (groups may differ in cost:
  // diverged models are skipped).
  // A thread that throws (a step's LibTorch op, an allocation) stops every thread, and its exception
  // is rethrown here: otherwise the calling thread would wait forever for its group.
  std::exception_ptr failure;
  std::mutex failure_mutex;
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    const bool caller = at::get_thread_num() == 0;
    try {
      const std::unique_ptr<StepScratch> scratch = fast_step.make_scratch();
      for (int64_t group = next_group++; group < groups && !abandoned; group = next_group++) {
        train_group(group, *scratch, caller);
      }
      // Out of groups, the calling thread keeps reporting (and serving MPI) until the others finish.
      while (caller && !abandoned && group_steps_done.load() < total_group_steps) {
        if (stop_requested()) abandoned = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        report();
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      abandoned = true;
    }
  });
  if (failure) std::rethrow_exception(failure);
  if (abandoned) throw ChunkAbandoned{};
  report();  // the steps the other threads finished last
  // Another thread may have trained every group before the caller reported a step: a stop requested
  // while those steps are reported still abandons the chunk, as it would have mid-training.
  if (stop_requested()) throw ChunkAbandoned{};

  result.weights.resize(models * params_per_model);
  std::vector<float> average_scratch(average.enabled() ? params_per_model : 0);
  for (int64_t m = 0; m < models; ++m) {
    stored_weights(m, config.steps, result.weights.data() + m * params_per_model, average_scratch.data());
    result.diverged[m] = diverged[m] != 0;
    if (!result.diverged[m]) {
      auto measured = fast_step.metrics(extras[m].get());
      if (!measured.empty()) {
        result.metrics.resize(models);
        result.metrics[m] = std::move(measured);
      }
    }
  }
  return result;
}

}  // namespace genzoo
