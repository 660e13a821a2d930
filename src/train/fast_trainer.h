// The training loop of the hand-written CPU paths (no autograd): cache-sized groups of models
// trained through all their steps, batches drawn and prefetched one model ahead, per-model Adam,
// divergence, checkpoints, progress and stop requests. A family plugs in its forward/backward as a
// FastStep; each model runs the same sequential code whatever its batch-mates.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "store/layout.h"
#include "train/trainer.h"

namespace genzoo {

struct ImageSet;

// Brings the next model's batch into cache while this model computes: training images are
// scattered over the dataset, and gathering them cold would stall the step that needs them. A step
// issues it in slices between kernels so that outstanding misses never saturate the fill buffers.
class BatchPrefetcher {
 public:
  BatchPrefetcher(const ImageSet& train, const int64_t* indices, int64_t count);
  // Prefetches the next 1/slices of the batch.
  void next_slice(int64_t slices);

 private:
  const ImageSet& train_;
  const int64_t* indices_;
  int64_t count_, next_ = 0;
};

// Zero-filled floats starting on a 64-byte boundary: a 16-float vector that straddles two cache
// lines costs two accesses (measured: 18 % slower conv_ae steps when malloc returned a 16-byte offset).
class AlignedFloats {
 public:
  explicit AlignedFloats(int64_t count = 0) : storage_(count + kAlignFloats, 0.0f), count_(count) {
    const auto address = reinterpret_cast<uintptr_t>(storage_.data());
    data_ = storage_.data() + (kAlignBytes - address % kAlignBytes) % kAlignBytes / sizeof(float);
  }
  AlignedFloats(const AlignedFloats&) = delete;  // data_ points into storage_
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  AlignedFloats(AlignedFloats&&) = default;  // a moved vector keeps its buffer
  AlignedFloats& operator=(AlignedFloats&&) = default;
  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t size() const { return count_; }
  float& operator[](int64_t i) { return data_[i]; }

 private:
  static constexpr uintptr_t kAlignBytes = 64;
  static constexpr int64_t kAlignFloats = kAlignBytes / sizeof(float);
  std::vector<float> storage_;
  float* data_;
  int64_t count_;
};

// Per-thread work buffers of a step (the gradient too: Adam consumes it within the step).
struct StepScratch {
  virtual ~StepScratch() = default;
  virtual int64_t bytes() const = 0;
  virtual float* grads() = 0;
};

// One family's hand-written training step.
class FastStep {
 public:
  virtual ~FastStep() = default;
  virtual const Layout& layout() const = 0;  // the canonical layout (init and results)
  // The step's own parameter order (e.g. matrices transposed, tensors aligned), internal_size() floats
  // (at least the canonical length; padding stays zero).
  virtual int64_t internal_size() const { return layout_size(layout()); }
  virtual void to_internal(const float* canonical, float* internal) const = 0;
  virtual void to_canonical(const float* internal, float* canonical) const = 0;
  virtual std::unique_ptr<StepScratch> make_scratch() const = 0;
  // Gradients of one model on the batch batch_indices into scratch.grads(); returns the objective
  // (loss incl. regularizer).
  virtual double step(const ImageSet& train, const int64_t* batch_indices, const float* params, StepScratch& scratch,
                      BatchPrefetcher& prefetch) const = 0;
};

// The hand-written step for this configuration, or null when the family (or this configuration of
// it) has none.
std::unique_ptr<FastStep> make_fast_step(const FamilyConfig& config);

RawTrainResult train_fast(const FamilyConfig& config, const FastStep& step, const std::vector<const ModelSpec*>& specs,
                          const ImageSet& train, const TrainOptions& options);

}  // namespace genzoo
