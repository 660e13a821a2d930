#include "train/fast_linear_ae.h"

#include <algorithm>
#include <cmath>

#include "data/dataset.h"
#include "job/job.h"
#include "models/linear_ae.h"
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

// Work buffers of one model step.
struct LinearScratch : StepScratch {
  AlignedFloats x, code, residual_grad, code_grad, gradient;
  LinearScratch(int64_t batch, int64_t k)
      : x(batch * kInput), code(batch * k), residual_grad(batch * kInput), code_grad(batch * k), gradient(Offsets(k).total) {}
  int64_t bytes() const override {
    return static_cast<int64_t>(sizeof(float) *
                                (x.size() + code.size() + residual_grad.size() + code_grad.size() + gradient.size()));
  }
  float* grads() override { return gradient.data(); }
};

// One training step of one model on the batch batch_indices: gradients into grads, returns the loss
// (objective incl. regularizer).
double model_step(const FamilyConfig& config, const ImageSet& train, const int64_t* batch_indices, const float* params,
                  float* grads, LinearScratch& s, BatchPrefetcher& prefetch) {
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

class LinearAeStep : public GradientStep {
 public:
  explicit LinearAeStep(const FamilyConfig& config) : config_(config), layout_(linear_ae_layout(config.latent)) {}
  const Layout& layout() const override { return layout_; }
  void to_internal(const float* canonical, float* internal) const override {
    genzoo::to_internal(canonical, config_.latent, internal);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    genzoo::to_canonical(internal, config_.latent, canonical);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<LinearScratch>(config_.batch_size, config_.latent);
  }
  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<LinearScratch&>(scratch);
    return model_step(config_, train, batch_indices, model.params, s.grads(), s, prefetch);
  }

 private:
  FamilyConfig config_;
  Layout layout_;
};

}  // namespace

std::unique_ptr<FastStep> make_linear_ae_step(const FamilyConfig& config) {
  // Denoising draws LibTorch noise per model; that stays on the LibTorch path.
  if (config.name != "linear_ae" || config.latent % kernels::kLanes != 0 || config.regularizer == "denoising") return nullptr;
  return std::make_unique<LinearAeStep>(config);
}

}  // namespace genzoo
