#include "models/linear_ae_cpu.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/dataset.h"
#include "job/job.h"
#include "models/linear_ae.h"
#include "train/data_stream.h"
#include "kernels/isa.h"
#include "kernels/linear.h"

namespace genzoo {

namespace {

constexpr int64_t kInput = kLinearAeInput;

// Internal parameter layout: the canonical one with both weight matrices transposed — encoder
// [784, kp] (rows of kp floats) and decoder [kp, 784] (long rows for the decoder's outputs) — so that
// no kernel needs a transpose per step, and the code padded from k to kp, a whole number of the
// target's vectors: the extra code units have zero weights and biases, get zero gradients and stay zero.
struct Offsets {
  int64_t k, kp, w1t, b1, w2t, b2, total;
  explicit Offsets(int64_t code)
      : k(code), kp((code + kernels::float_lanes() - 1) / kernels::float_lanes() * kernels::float_lanes()), w1t(0),
        b1(kp * kInput), w2t(kp * kInput + kp), b2(2 * kp * kInput + kp), total(b2 + kInput) {}
  // Offsets of the canonical layout (linear_ae_layout: encoder.weight [k, 784], encoder.bias,
  // decoder.weight [784, k], decoder.bias).
  int64_t canonical_b1() const { return k * kInput; }
  int64_t canonical_w2() const { return k * kInput + k; }
  int64_t canonical_b2() const { return 2 * k * kInput + k; }
};

void to_internal(const float* canonical, const Offsets& o, float* internal) {
  std::fill(internal, internal + o.total, 0.0f);
  std::vector<float> transposed(o.k * kInput);
  kernels::transpose(canonical, o.k, kInput, transposed.data());
  kernels::pad_columns(transposed.data(), kInput, o.k, o.kp, internal + o.w1t);
  std::copy_n(canonical + o.canonical_b1(), o.k, internal + o.b1);
  kernels::transpose(canonical + o.canonical_w2(), kInput, o.k, internal + o.w2t);  // rows k.. stay zero
  std::copy_n(canonical + o.canonical_b2(), kInput, internal + o.b2);
}

void to_canonical(const float* internal, const Offsets& o, float* canonical) {
  std::vector<float> transposed(o.k * kInput);
  kernels::unpad_columns(internal + o.w1t, kInput, o.kp, o.k, transposed.data());
  kernels::transpose(transposed.data(), kInput, o.k, canonical);
  std::copy_n(internal + o.b1, o.k, canonical + o.canonical_b1());
  kernels::transpose(internal + o.w2t, o.k, kInput, canonical + o.canonical_w2());
  std::copy_n(internal + o.b2, kInput, canonical + o.canonical_b2());
}

// Work buffers of one model step.
struct LinearScratch : StepScratch {
  AlignedFloats x, code, residual_grad, code_grad, gradient;
  LinearScratch(int64_t batch, const Offsets& o)
      : x(batch * kInput), code(batch * o.kp), residual_grad(batch * kInput), code_grad(batch * o.kp), gradient(o.total) {}
  int64_t bytes() const override {
    return static_cast<int64_t>(sizeof(float) *
                                (x.size() + code.size() + residual_grad.size() + code_grad.size() + gradient.size()));
  }
  float* grads() override { return gradient.data(); }
};

// One training step of one model on the batch batch_indices: gradients into grads, returns the loss
// (objective incl. regularizer).
double model_step(const FamilyConfig& config, const Offsets& o, const ImageSet& train, const int64_t* batch_indices,
                  const float* params, float* grads, LinearScratch& s, BatchPrefetcher& prefetch) {
  const int64_t batch = config.batch_size, k = o.kp;
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
    // The mean over the k real code units; the padded ones are zero and add nothing.
    const float weight = static_cast<float>(config.reg_weight), per_code = 1.0f / static_cast<float>(batch * o.k);
    double l1 = 0.0;
    for (int64_t i = 0; i < batch * k; ++i) {
      const float z = s.code[i];
      l1 += std::fabs(z);
      s.code_grad[i] += weight * per_code * static_cast<float>((z > 0.0f) - (z < 0.0f));
    }
    loss += config.reg_weight * l1 / static_cast<double>(batch * o.k);
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
  explicit LinearAeStep(const FamilyConfig& config)
      : config_(config), layout_(linear_ae_layout(config.latent)), offsets_(config.latent) {}
  const Layout& layout() const override { return layout_; }
  int64_t internal_size() const override { return offsets_.total; }
  void to_internal(const float* canonical, float* internal) const override {
    genzoo::to_internal(canonical, offsets_, internal);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    genzoo::to_canonical(internal, offsets_, canonical);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<LinearScratch>(config_.batch_size, offsets_);
  }
  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<LinearScratch&>(scratch);
    return model_step(config_, offsets_, train, batch_indices, model.params, s.grads(), s, prefetch);
  }

 private:
  FamilyConfig config_;
  Layout layout_;
  Offsets offsets_;
};

}  // namespace

std::unique_ptr<FastStep> make_linear_ae_step(const FamilyConfig& config) {
  // Denoising draws LibTorch noise per model, and the gaussian source's vectors are not 784 pixels: both
  // stay on the LibTorch path.
  if (config.name != "linear_ae" || config.regularizer == "denoising" || config.input_dim != kLinearAeInput) return nullptr;
  return std::make_unique<LinearAeStep>(config);
}

}  // namespace genzoo
