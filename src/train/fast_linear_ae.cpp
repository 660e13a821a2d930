#include "train/fast_linear_ae.h"

#include <ATen/Parallel.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "common/error.h"
#include "data/dataset.h"
#include "job/job.h"
#include "models/linear_ae.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/adam.h"
#include "train/data_stream.h"
#include "train/linear_kernels.h"

namespace genzoo {

namespace {

constexpr int64_t kInput = kLinearAeInput;

// Internal parameter layout: the canonical one with both weight matrices transposed — encoder
// [784, k] (rows of k floats: one AVX-512 register for k = 16) and decoder [k, 784] (long rows for
// the decoder's outputs) — so that no kernel needs a transpose per step. Offsets are unchanged.
struct Offsets {
  int64_t w1t, b1, w2t, b2, total;
  explicit Offsets(int64_t k) : w1t(0), b1(k * kInput), w2t(k * kInput + k), b2(2 * k * kInput + k), total(b2 + kInput) {}
};

void to_internal(const float* canonical, int64_t k, float* internal) {
  const Offsets o(k);
  kernels::transpose(canonical + o.w1t, k, kInput, internal + o.w1t);
  std::copy(canonical + o.b1, canonical + o.w2t, internal + o.b1);
  kernels::transpose(canonical + o.w2t, kInput, k, internal + o.w2t);
  std::copy(canonical + o.b2, canonical + o.total, internal + o.b2);
}

void to_canonical(const float* internal, int64_t k, float* canonical) {
  const Offsets o(k);
  kernels::transpose(internal + o.w1t, kInput, k, canonical + o.w1t);
  std::copy(internal + o.b1, internal + o.w2t, canonical + o.b1);
  kernels::transpose(internal + o.w2t, k, kInput, canonical + o.w2t);
  std::copy(internal + o.b2, internal + o.total, canonical + o.b2);
}

// Per-thread work buffers for one model step (the gradient too: Adam consumes it within the step).
struct Scratch {
  std::vector<float> x, code, residual_grad, code_grad, grads;
  Scratch(int64_t batch, int64_t k)
      : x(batch * kInput), code(batch * k), residual_grad(batch * kInput), code_grad(batch * k), grads(Offsets(k).total) {}
  int64_t bytes() const {
    return static_cast<int64_t>(sizeof(float) * (x.size() + code.size() + residual_grad.size() + code_grad.size() + grads.size()));
  }
};

// Brings the next model's batch into cache while this model computes: training images are
// scattered over 188 MB, and gathering them cold would stall the step that needs them. Issued in
// slices between kernels so that the outstanding misses never saturate the line-fill buffers.
class BatchPrefetcher {
 public:
  BatchPrefetcher(const ImageSet& train, const int64_t* indices, int64_t count)
      : train_(train), indices_(indices), count_(indices ? count : 0) {}
  void next_slice(int64_t slices) {
    constexpr int64_t kLine = 64;
    const int64_t end = std::min(count_, next_ + (count_ + slices - 1) / slices);
    for (; next_ < end; ++next_) {
      const uint8_t* image = train_.bytes.data() + indices_[next_] * train_.dim();
      for (int64_t offset = 0; offset < train_.dim(); offset += kLine) __builtin_prefetch(image + offset, 0, 2);
    }
  }

 private:
  const ImageSet& train_;
  const int64_t* indices_;
  int64_t count_, next_ = 0;
};

// One training step of one model on the batch batch_indices: gradients into grads, returns the loss
// (objective incl. regularizer).
double model_step(const FamilyConfig& config, const ImageSet& train, const int64_t* batch_indices, const float* params,
                  float* grads, Scratch& s, BatchPrefetcher& prefetch) {
  const int64_t batch = config.batch_size, k = config.latent;
  const Offsets o(k);
  constexpr int64_t kSlices = 5;
  gather_images(train, batch_indices, batch, s.x.data());

  kernels::rows_times_narrow(s.x.data(), batch, kInput, params + o.w1t, k, params + o.b1, s.code.data());
  prefetch.next_slice(kSlices);
  const float elements = static_cast<float>(batch * kInput);
  const double squared = kernels::decode_residual(s.code.data(), batch, k, params + o.w2t, params + o.b2, kInput,
                                                  s.x.data(), 2.0f / elements, s.residual_grad.data(), grads + o.b2);
  double loss = squared / elements;
  prefetch.next_slice(kSlices);

  kernels::narrow_transposed_times_rows(s.code.data(), batch, k, s.residual_grad.data(), kInput, grads + o.w2t);
  prefetch.next_slice(kSlices);
  kernels::rows_times_rows(s.residual_grad.data(), batch, kInput, params + o.w2t, k, s.code_grad.data());
  prefetch.next_slice(kSlices);
  if (config.regularizer == "sparse") {
    const float weight = static_cast<float>(config.reg_weight), per_code = 1.0f / static_cast<float>(batch * k);
    double l1 = 0.0;
    for (int64_t i = 0; i < batch * k; ++i) {
      const float z = s.code[i];
      l1 += std::fabs(z);
      s.code_grad[i] += weight * per_code * static_cast<float>((z > 0.0f) - (z < 0.0f));
    }
    loss += config.reg_weight * l1 / static_cast<double>(batch * k);
  }
  kernels::transposed_times_narrow(s.x.data(), batch, kInput, s.code_grad.data(), k, grads + o.w1t);
  kernels::column_sums(s.code_grad.data(), batch, k, grads + o.b1);
  prefetch.next_slice(kSlices);
  if (config.regularizer == "contractive") {
    const float two_lambda = static_cast<float>(2.0 * config.reg_weight);
    double frobenius = 0.0;
    for (int64_t i = 0; i < k * kInput; ++i) {
      frobenius += static_cast<double>(params[o.w1t + i]) * params[o.w1t + i];
      grads[o.w1t + i] += two_lambda * params[o.w1t + i];
    }
    loss += config.reg_weight * frobenius;
  }
  return loss;
}

// Per-core L2 size (for cache-sized model groups); 1 MiB when the system does not say.
int64_t l2_cache_bytes() {
  const long size = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return size > 0 ? size : (1 << 20);
}

}  // namespace

bool fast_linear_ae_supports(const FamilyConfig& config) {
  // Denoising draws LibTorch noise per model; that stays on the LibTorch path.
  return config.name == "linear_ae" && config.latent % kernels::kLanes == 0 && config.regularizer != "denoising";
}

RawTrainResult train_linear_ae_fast(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                                    const ImageSet& train, const TrainOptions& options) {
  const int64_t models = static_cast<int64_t>(specs.size()), k = config.latent;
  const Offsets o(k);
  const int64_t params_per_model = o.total;
  const int64_t checkpoints = static_cast<int64_t>(config.checkpoint_steps.size());

  std::vector<float> params(models * params_per_model);
  std::vector<float> adam_m(models * params_per_model, 0.0f), adam_v(models * params_per_model, 0.0f);
  std::vector<float> lr(models);
  std::vector<SampleStream> streams;
  std::vector<float> canonical(params_per_model);
  RawTrainResult result;
  result.diverged.assign(models, false);
  result.checkpoints.resize(models * checkpoints * params_per_model);
  for (int64_t m = 0; m < models; ++m) {
    init_flat_params(canonical.data(), linear_ae_layout(k), specs[m]->init_seed);
    to_internal(canonical.data(), k, params.data() + m * params_per_model);
    lr[m] = static_cast<float>(specs[m]->lr);
    streams.emplace_back(specs[m]->sample_indices, specs[m]->seed);
  }
  std::vector<char> diverged(models, 0);
  // Batches are double-buffered by step parity: a model's next batch is drawn and prefetched one model
  // ahead (wrapping to the group's first model of the next step) while this one computes.
  std::vector<int64_t> batches(2 * models * config.batch_size);
  const auto batch_of = [&](int64_t m, int64_t step) { return batches.data() + ((step & 1) * models + m) * config.batch_size; };
  const auto draw_batch = [&](int64_t m, int64_t step) {
    int64_t* indices = batch_of(m, step);
    streams[m].next_batch(config.batch_size, indices);
    return indices;
  };

  // Models are independent, so any order of (model, step) pairs gives the same weights. Training
  // cache-sized groups of models through all their steps keeps each group's parameters and Adam
  // state in L2; stepping all models in lockstep would stream the whole chunk's state (0.3 MB per
  // model) from memory every step. A group's state gets a third of the L2 left by the step's work
  // buffers (the rest holds prefetched batches and absorbs conflicts): for W1 on a 2 MB L2 that is
  // one model, measured ~1 % faster than two.
  const int64_t state_bytes = 3 * params_per_model * static_cast<int64_t>(sizeof(float));
  const int64_t scratch_bytes = Scratch(config.batch_size, k).bytes();
  const int64_t group_size =
      std::clamp<int64_t>((l2_cache_bytes() - scratch_bytes) / 3 / state_bytes, 1, std::max<int64_t>(1, models));
  const int64_t groups = (models + group_size - 1) / group_size;
  std::atomic<int64_t> group_steps_done{0};
  int64_t reported_steps = 0;  // by the reporting thread only
  std::atomic<bool> abandoned{false};
  at::parallel_for(0, groups, 1, [&](int64_t group_begin, int64_t group_end) {
    thread_local std::unique_ptr<Scratch> scratch;
    if (!scratch || scratch->x.size() != static_cast<size_t>(config.batch_size * kInput) ||
        scratch->code.size() != static_cast<size_t>(config.batch_size * k)) {
      scratch = std::make_unique<Scratch>(config.batch_size, k);
    }
    // Progress and stop requests are served by the calling thread (MPI is funneled through it).
    const bool reporter = at::get_thread_num() == 0;
    for (int64_t group = group_begin; group < group_end && !abandoned; ++group) {
      const int64_t first = group * group_size, last = std::min(models, first + group_size);
      size_t next_checkpoint = 0;
      for (int64_t step = 1; step <= config.steps; ++step) {
        if (options.stop && options.stop->load()) {
          abandoned = true;
          return;
        }
        if (step == 1 && !diverged[first]) draw_batch(first, step);
        for (int64_t m = first; m < last; ++m) {
          const bool wraps = m + 1 == last;
          const int64_t after = wraps ? first : m + 1, after_step = wraps ? step + 1 : step;
          const bool fetch = !diverged[after] && after_step <= config.steps;
          BatchPrefetcher prefetch(train, fetch ? draw_batch(after, after_step) : nullptr, config.batch_size);
          if (diverged[m]) continue;
          float* p = params.data() + m * params_per_model;
          float* g = scratch->grads.data();
          const double loss = model_step(config, train, batch_of(m, step), p, g, *scratch, prefetch);
          if (!std::isfinite(loss)) {
            diverged[m] = 1;  // dropped; the other models go on untouched
            continue;
          }
          adam_step(p, g, adam_m.data() + m * params_per_model, adam_v.data() + m * params_per_model, 1,
                    params_per_model, &lr[m], step);
        }
        if (next_checkpoint < config.checkpoint_steps.size() && config.checkpoint_steps[next_checkpoint] == step) {
          for (int64_t m = first; m < last; ++m) {
            to_canonical(params.data() + m * params_per_model, k,
                         result.checkpoints.data() + (m * checkpoints + next_checkpoint) * params_per_model);
          }
          ++next_checkpoint;
        }
        // Progress in chunk steps (group steps / groups), each value reported once.
        const int64_t done = ++group_steps_done;
        if (reporter && options.on_step && done / groups > reported_steps) options.on_step(reported_steps = done / groups);
      }
    }
  });
  if (abandoned) throw ChunkAbandoned{};

  result.weights.resize(models * params_per_model);
  for (int64_t m = 0; m < models; ++m) {
    to_canonical(params.data() + m * params_per_model, k, result.weights.data() + m * params_per_model);
    result.diverged[m] = diverged[m] != 0;
  }
  return result;
}

}  // namespace genzoo
