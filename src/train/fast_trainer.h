// The training loop of the hand-written CPU paths (no autograd): cache-sized groups of models
// trained through all their steps, batches drawn and prefetched one model ahead, per-model Adam,
// divergence, checkpoints, progress and stop requests. A family plugs in its optimizer step as a
// FastStep (the autoencoders and the vae: their gradients, as a GradientStep); each model runs the same
// sequential code whatever its batch-mates.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/layout.h"
#include "train/adam.h"
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

// Each canonical tensor on its own 16-float boundary, in layout order (padding zero): a parameter
// order vector code can load whole aligned rows from. A step may reorder tensors further on top.
class AlignedLayout {
 public:
  explicit AlignedLayout(const Layout& layout);
  // Internal offset of a tensor; throws StorageError naming a tensor the layout does not have.
  int64_t offset(const std::string& name) const;
  int64_t size() const { return size_; }  // floats, a whole number of 16-float vectors
  void to_internal(const float* canonical, float* internal) const;
  void to_canonical(const float* internal, float* canonical) const;

 private:
  Layout layout_;
  std::vector<int64_t> offsets_;  // per tensor, in layout order
  int64_t size_ = 0;
};

// Per-thread work buffers of a step (the gradient too: Adam consumes it within the step).
struct StepScratch {
  virtual ~StepScratch() = default;
  virtual int64_t bytes() const = 0;
  virtual float* grads() = 0;
};

// A family's own per-model training state beyond parameters and Adam's moments (a GAN: its noise
// generator and its record of the discriminator's loss).
struct ModelExtras {
  virtual ~ModelExtras() = default;
};

inline const AdamSettings kDefaultAdamSettings{};

// One model as the loop hands it to a step: internal parameters, Adam's moments (internal order too),
// learning rate, the family's extras (null unless make_extras gives some) and Adam's settings (the
// family's adam_beta1 and adam_beta2).
struct FastModel {
  float* params;
  float* adam_m;
  float* adam_v;
  const float* lr;
  ModelExtras* extras;
  const AdamSettings* adam = &kDefaultAdamSettings;
};

// One family's hand-written training step.
class FastStep {
 public:
  virtual ~FastStep() = default;
  virtual const Layout& layout() const = 0;  // the canonical layout (init and results)
  // The step's own parameter order (e.g. matrices transposed, tensors aligned), internal_size() floats
  // (at least the canonical length; padding stays zero).
  virtual int64_t internal_size() const { return layout_size(layout()); }
  // The leading internal floats training updates: Adam's span and the gradient a step writes. Beyond them,
  // tensors no step trains (a vae's latent density, fitted after training) are carried as initialized.
  virtual int64_t trained_size() const { return internal_size(); }
  virtual void to_internal(const float* canonical, float* internal) const = 0;
  virtual void to_canonical(const float* internal, float* canonical) const = 0;
  virtual std::unique_ptr<StepScratch> make_scratch() const = 0;

  // Batches of config.batch_size training images one optimizer step consumes (a GAN: d_steps).
  virtual int64_t batches_per_step() const { return 1; }
  // class_labels: the dataset label of each class slot (TrainOptions::class_labels).
  virtual std::unique_ptr<ModelExtras> make_extras(const ModelSpec& /*spec*/,
                                                   const std::vector<int64_t>& /*class_labels*/) const {
    return nullptr;
  }
  // One optimizer step of one model (step counts from 1; a GAN's is d_steps D updates and one G
  // update) on the images batch_indices. Returns the objective; a non-finite one marks the model
  // diverged. Whether a non-finite step still updates the weights is the family's choice: a diverged
  // model's weights are kept as they are but no longer trained.
  virtual double update(const ImageSet& train, const int64_t* batch_indices, int64_t step, const FastModel& model,
                        StepScratch& scratch, BatchPrefetcher& prefetch) const = 0;
  // What training measured of a model that did not diverge (a GAN: d_loss), from its extras.
  virtual std::map<std::string, double> metrics(const ModelExtras* /*extras*/) const { return {}; }
};

// A step that is one objective's gradient followed by Adam on every parameter (the autoencoders,
// the vae); Adam is skipped when the objective is not finite.
class GradientStep : public FastStep {
 public:
  // Gradients of one model (its parameters, and its extras for noise) on the batch batch_indices
  // into scratch.grads(); returns the objective (loss incl. regularizer).
  virtual double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model,
                           StepScratch& scratch, BatchPrefetcher& prefetch) const = 0;
  double update(const ImageSet& train, const int64_t* batch_indices, int64_t step, const FastModel& model,
                StepScratch& scratch, BatchPrefetcher& prefetch) const override;
};

// The hand-written step for this configuration, or null when the family (or this configuration of
// it) has none: the family registry's Family::cpu_step.
std::unique_ptr<FastStep> make_fast_step(const FamilyConfig& config);

RawTrainResult train_fast(const FamilyConfig& config, const FastStep& step, const std::vector<const ModelSpec*>& specs,
                          const ImageSet& train, const TrainOptions& options);

}  // namespace genzoo
