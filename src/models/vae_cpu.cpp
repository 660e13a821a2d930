#include "models/vae_cpu.h"

#include <cblas.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "kernels/likelihood.h"
#include "models/family.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/data_stream.h"

namespace genzoo {

namespace {

// The clamp of log sigma^2 in the LibTorch model (models/vae.cpp): no gradient outside it.
constexpr double kLogvarLimit = 20.0;

// A model's noise generator: the LibTorch path's, so both draw the same eps.
struct VaeExtras : ModelExtras {
  explicit VaeExtras(uint64_t seed) : noise(noise_generator(seed)) {}
  torch::Generator noise;
};

// Every activation and gradient of one step, allocated once per thread (no allocation per step).
struct VaeScratch : StepScratch {
  VaeScratch(int64_t params, int64_t batch, int64_t hidden, int64_t latent)
      : gradient(params), images(batch * kImagePixels), logits(batch * kImagePixels), d_logits(batch * kImagePixels),
        h(batch * hidden), h2(batch * hidden), d_h(batch * hidden), d_h2(batch * hidden), mu(batch * latent),
        logvar_raw(batch * latent), logvar(batch * latent), eps(batch * latent), sigma(batch * latent), z(batch * latent),
        d_z(batch * latent), d_mu(batch * latent), d_logvar(batch * latent) {}
  int64_t bytes() const override {
    int64_t floats = gradient.size();
    for (const AlignedFloats* b : {&images, &logits, &d_logits, &h, &h2, &d_h, &d_h2, &mu, &logvar_raw, &logvar, &eps,
                                   &sigma, &z, &d_z, &d_mu, &d_logvar}) {
      floats += b->size();
    }
    return static_cast<int64_t>(sizeof(float)) * floats;
  }
  float* grads() override { return gradient.data(); }
  AlignedFloats gradient, images, logits, d_logits, h, h2, d_h, d_h2, mu, logvar_raw, logvar, eps, sigma, z, d_z, d_mu,
      d_logvar;
};

// One model's tensors as pointers into a flat parameter (or gradient) vector in the canonical layout.
struct VaeTensors {
  float *enc_w, *enc_b, *mu_w, *mu_b, *logvar_w, *logvar_b, *dec_w, *dec_b, *out_w, *out_b;

  VaeTensors(const Layout& layout, float* flat) {
    const auto at = [&](const char* name) { return flat + find_param(layout, name).offset; };
    enc_w = at("encoder.fc.weight"), enc_b = at("encoder.fc.bias");
    mu_w = at("encoder.mu.weight"), mu_b = at("encoder.mu.bias");
    logvar_w = at("encoder.logvar.weight"), logvar_b = at("encoder.logvar.bias");
    dec_w = at("decoder.fc.weight"), dec_b = at("decoder.fc.bias");
    out_w = at("decoder.out.weight"), out_b = at("decoder.out.bias");
  }
};

// out [rows, cols] = a [rows, inner] · wᵀ (w [cols, inner], torch's weight layout) + bias.
void linear_forward(const float* a, int64_t rows, int64_t inner, const float* w, const float* bias, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(bias, cols, out + r * cols);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(inner),
              1.0f, a, static_cast<int>(inner), w, static_cast<int>(inner), 1.0f, out, static_cast<int>(cols));
}

// Weight and bias gradients of that layer: g_w [cols, inner] = d_outᵀ · a, g_b = column sums of d_out.
void linear_weight_grads(const float* d_out, int64_t rows, int64_t cols, const float* a, int64_t inner, float* g_w, float* g_b) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(cols), static_cast<int>(inner), static_cast<int>(rows),
              1.0f, d_out, static_cast<int>(cols), a, static_cast<int>(inner), 0.0f, g_w, static_cast<int>(inner));
  std::fill_n(g_b, cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) g_b[c] += d_out[r * cols + c];
}

// d_a [rows, inner] (+)= d_out [rows, cols] · w [cols, inner].
void linear_input_grad(const float* d_out, int64_t rows, int64_t cols, const float* w, int64_t inner, float beta, float* d_a) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(inner), static_cast<int>(cols),
              1.0f, d_out, static_cast<int>(cols), w, static_cast<int>(inner), beta, d_a, static_cast<int>(inner));
}

void relu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// Gradient through a ReLU whose output is y: zero where y <= 0.
void relu_backward(const float* y, float* grad, int64_t n) {
  for (int64_t i = 0; i < n; ++i) grad[i] = y[i] > 0.0f ? grad[i] : 0.0f;
}

class VaeStep : public GradientStep {
 public:
  explicit VaeStep(const FamilyConfig& config) : config_(config), layout_(find_family("vae").layout(config)) {}

  const Layout& layout() const override { return layout_; }
  void to_internal(const float* canonical, float* internal) const override {
    std::copy_n(canonical, layout_size(layout_), internal);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    std::copy_n(internal, layout_size(layout_), canonical);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<VaeScratch>(internal_size(), config_.batch_size, config_.hidden, config_.latent);
  }
  std::unique_ptr<ModelExtras> make_extras(const ModelSpec& spec) const override {
    return std::make_unique<VaeExtras>(spec.seed);
  }

  // -ELBO of the batch (mean over samples; beta on the KL term) and its gradients, term by term as
  // models/vae.cpp: Bernoulli (or Gaussian) likelihood of the logits, KL(N(mu, sigma^2) || N(0, I)),
  // z = mu + sigma eps with eps from the model's generator. The GEMMs go to the BLAS LibTorch uses
  // (OpenBLAS), the likelihood to kernels/likelihood.h; no LibTorch op but the noise draw, so
  // no per-op dispatch and no allocation per step.
  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<VaeScratch&>(scratch);
    auto& extras = static_cast<VaeExtras&>(*model.extras);
    const int64_t batch = config_.batch_size, hidden = config_.hidden, latent = config_.latent, d = kImagePixels;
    const int64_t codes = batch * latent;
    const float beta = static_cast<float>(config_.beta), per_sample = 1.0f / static_cast<float>(batch);
    const VaeTensors p(layout_, model.params);
    const VaeTensors g(layout_, s.grads());

    gather_images(train, batch_indices, batch, s.images.data());
    prefetch.next_slice(1);
    {
      torch::NoGradGuard no_grad;  // the LibTorch path's draw, so both paths see the same eps
      const torch::Tensor eps = torch::randn({batch, latent}, extras.noise);
      std::copy_n(eps.data_ptr<float>(), codes, s.eps.data());
    }

    // Forward.
    linear_forward(s.images.data(), batch, d, p.enc_w, p.enc_b, hidden, s.h.data());
    relu(s.h.data(), batch * hidden);
    linear_forward(s.h.data(), batch, hidden, p.mu_w, p.mu_b, latent, s.mu.data());
    linear_forward(s.h.data(), batch, hidden, p.logvar_w, p.logvar_b, latent, s.logvar_raw.data());
    double kl = 0.0;
    for (int64_t i = 0; i < codes; ++i) {
      const float lv = std::clamp(s.logvar_raw[i], static_cast<float>(-kLogvarLimit), static_cast<float>(kLogvarLimit));
      s.logvar[i] = lv;
      s.sigma[i] = std::exp(0.5f * lv);
      s.z[i] = s.mu[i] + s.sigma[i] * s.eps[i];
      kl += 0.5 * (static_cast<double>(s.mu[i]) * s.mu[i] + std::exp(static_cast<double>(lv)) - 1.0 - lv);
    }
    linear_forward(s.z.data(), batch, latent, p.dec_w, p.dec_b, hidden, s.h2.data());
    relu(s.h2.data(), batch * hidden);
    linear_forward(s.h2.data(), batch, hidden, p.out_w, p.out_b, d, s.logits.data());
    const double nll = config_.likelihood == "gaussian"
                           ? kernels::sigmoid_squared_loss(s.logits.data(), s.images.data(), batch * d, per_sample, s.d_logits.data())
                           : kernels::bernoulli_logit_loss(s.logits.data(), s.images.data(), batch * d, per_sample, s.d_logits.data());
    const double loss = (nll + config_.beta * kl) * per_sample;

    // Backward: decoder, reparametrization, encoder; weight gradients straight into the gradient buffer.
    linear_weight_grads(s.d_logits.data(), batch, d, s.h2.data(), hidden, g.out_w, g.out_b);
    linear_input_grad(s.d_logits.data(), batch, d, p.out_w, hidden, 0.0f, s.d_h2.data());
    relu_backward(s.h2.data(), s.d_h2.data(), batch * hidden);
    linear_weight_grads(s.d_h2.data(), batch, hidden, s.z.data(), latent, g.dec_w, g.dec_b);
    linear_input_grad(s.d_h2.data(), batch, hidden, p.dec_w, latent, 0.0f, s.d_z.data());
    for (int64_t i = 0; i < codes; ++i) {
      s.d_mu[i] = s.d_z[i] + beta * per_sample * s.mu[i];
      const bool inside = s.logvar_raw[i] >= -kLogvarLimit && s.logvar_raw[i] <= kLogvarLimit;
      s.d_logvar[i] = inside ? s.d_z[i] * s.eps[i] * 0.5f * s.sigma[i] + 0.5f * beta * per_sample * (std::exp(s.logvar[i]) - 1.0f)
                             : 0.0f;
    }
    linear_weight_grads(s.d_mu.data(), batch, latent, s.h.data(), hidden, g.mu_w, g.mu_b);
    linear_weight_grads(s.d_logvar.data(), batch, latent, s.h.data(), hidden, g.logvar_w, g.logvar_b);
    linear_input_grad(s.d_mu.data(), batch, latent, p.mu_w, hidden, 0.0f, s.d_h.data());
    linear_input_grad(s.d_logvar.data(), batch, latent, p.logvar_w, hidden, 1.0f, s.d_h.data());
    relu_backward(s.h.data(), s.d_h.data(), batch * hidden);
    linear_weight_grads(s.d_h.data(), batch, hidden, s.images.data(), d, g.enc_w, g.enc_b);
    return loss;
  }

 private:
  FamilyConfig config_;
  Layout layout_;
};

}  // namespace

std::unique_ptr<FastStep> make_vae_step(const FamilyConfig& config) {
  if (config.name != "vae") return nullptr;
  return std::make_unique<VaeStep>(config);
}

}  // namespace genzoo
