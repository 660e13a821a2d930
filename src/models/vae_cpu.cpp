#include "models/vae_cpu.h"

#include <cblas.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "kernels/isa.h"
#include "kernels/likelihood.h"
#include "kernels/linear.h"
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
// decoder_layers = 2 adds h3, the second decoder layer's output (empty for 1); its gradient lives in
// d_h, free until the encoder's backward pass.
struct VaeScratch : StepScratch {
  VaeScratch(int64_t params, int64_t batch, int64_t hidden, int64_t latent, int64_t decoder_layers)
      : gradient(params), images(batch * kImagePixels), logits(batch * kImagePixels),
        h(batch * hidden), h2(batch * hidden), h3(decoder_layers == 2 ? batch * hidden : 0), d_h(batch * hidden),
        d_h2(batch * hidden), mu(batch * latent),
        logvar_raw(batch * latent), logvar(batch * latent), eps(batch * latent), sigma(batch * latent), z(batch * latent),
        d_z(batch * latent), d_mu(batch * latent), d_logvar(batch * latent) {}
  int64_t bytes() const override {
    int64_t floats = gradient.size();
    for (const AlignedFloats* b : {&images, &logits, &h, &h2, &h3, &d_h, &d_h2, &mu, &logvar_raw, &logvar, &eps,
                                   &sigma, &z, &d_z, &d_mu, &d_logvar}) {
      floats += b->size();
    }
    return static_cast<int64_t>(sizeof(float)) * floats;
  }
  float* grads() override { return gradient.data(); }
  // logits holds the decoder's output, then (in place) its gradient: one 200 KB buffer less keeps a
  // model's step closer to L2.
  AlignedFloats gradient, images, logits, h, h2, h3, d_h, d_h2, mu, logvar_raw, logvar, eps, sigma, z, d_z, d_mu,
      d_logvar;
};

// One model's tensors as pointers into a flat parameter (or gradient) vector. The internal layout is
// the canonical one with the two 784-wide matrices transposed in place: the encoder's as [784, hidden]
// and the decoder's output layer as [hidden, 784], the layouts the linear kernels stream (as in
// linear_ae_cpu.cpp), so no step transposes anything.
struct VaeTensors {
  float *enc_wt, *enc_b, *mu_w, *mu_b, *logvar_w, *logvar_b, *dec_w, *dec_b, *out_wt, *out_b;
  float *dec2_w = nullptr, *dec2_b = nullptr;  // decoder_layers = 2: the second hidden layer (torch's [out, in])
  float* out_logvar = nullptr;  // likelihood gaussian_learned: the per-pixel log variance

  VaeTensors(const Layout& layout, float* flat) {
    const auto at = [&](const char* name) { return flat + find_param(layout, name).offset; };
    enc_wt = at("encoder.fc.weight"), enc_b = at("encoder.fc.bias");
    mu_w = at("encoder.mu.weight"), mu_b = at("encoder.mu.bias");
    logvar_w = at("encoder.logvar.weight"), logvar_b = at("encoder.logvar.bias");
    dec_w = at("decoder.fc.weight"), dec_b = at("decoder.fc.bias");
    out_wt = at("decoder.out.weight"), out_b = at("decoder.out.bias");
    const bool deeper = std::any_of(layout.begin(), layout.end(), [](const ParamLayout& t) { return t.name == "decoder.fc2.weight"; });
    if (deeper) dec2_w = at("decoder.fc2.weight"), dec2_b = at("decoder.fc2.bias");
    const bool learned_variance =
        std::any_of(layout.begin(), layout.end(), [](const ParamLayout& t) { return t.name == "decoder.out.logvar"; });
    if (learned_variance) out_logvar = at("decoder.out.logvar");
  }
};

int sgemm_size(int64_t n) { return static_cast<int>(n); }

// out [rows, cols] = a [rows, inner] · wᵀ (w [cols, inner], torch's weight layout) + bias: the small
// layers around the code, through the BLAS LibTorch uses.
void linear_forward(const float* a, int64_t rows, int64_t inner, const float* w, const float* bias, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(bias, cols, out + r * cols);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, sgemm_size(rows), sgemm_size(cols), sgemm_size(inner), 1.0f, a,
              sgemm_size(inner), w, sgemm_size(inner), 1.0f, out, sgemm_size(cols));
}

// Weight and bias gradients of that layer: g_w [cols, inner] = d_outᵀ · a, g_b = column sums of d_out.
void linear_weight_grads(const float* d_out, int64_t rows, int64_t cols, const float* a, int64_t inner, float* g_w, float* g_b) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, sgemm_size(cols), sgemm_size(inner), sgemm_size(rows), 1.0f,
              d_out, sgemm_size(cols), a, sgemm_size(inner), 0.0f, g_w, sgemm_size(inner));
  kernels::column_sums(d_out, rows, cols, g_b);
}

// d_a [rows, inner] (+)= d_out [rows, cols] · w [cols, inner].
void linear_input_grad(const float* d_out, int64_t rows, int64_t cols, const float* w, int64_t inner, float beta, float* d_a) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sgemm_size(rows), sgemm_size(inner), sgemm_size(cols), 1.0f,
              d_out, sgemm_size(cols), w, sgemm_size(inner), beta, d_a, sgemm_size(inner));
}

// The encoder's first layer, h [rows, hidden] = x [rows, 784] · wt [784, hidden] + bias, and its weight
// gradient g_wt = xᵀ · d_h: the register-blocked kernels when hidden is whole vectors of the dispatched
// target (the zoo's 64 and 128 are on every target), OpenBLAS otherwise.
void encoder_forward(const float* x, int64_t rows, const float* wt, const float* bias, int64_t hidden, float* h) {
  if (hidden % kernels::float_lanes() == 0) return kernels::rows_times_narrow(x, rows, kImagePixels, wt, hidden, bias, h);
  for (int64_t r = 0; r < rows; ++r) std::copy_n(bias, hidden, h + r * hidden);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sgemm_size(rows), sgemm_size(hidden), sgemm_size(kImagePixels),
              1.0f, x, sgemm_size(kImagePixels), wt, sgemm_size(hidden), 1.0f, h, sgemm_size(hidden));
}

void encoder_weight_grads(const float* x, int64_t rows, const float* d_h, int64_t hidden, float* g_wt, float* g_b) {
  if (hidden % kernels::float_lanes() == 0) {
    kernels::transposed_times_narrow(x, rows, kImagePixels, d_h, hidden, g_wt);
  } else {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, sgemm_size(kImagePixels), sgemm_size(hidden), sgemm_size(rows),
                1.0f, x, sgemm_size(kImagePixels), d_h, sgemm_size(hidden), 0.0f, g_wt, sgemm_size(hidden));
  }
  kernels::column_sums(d_h, rows, hidden, g_b);
}

// The output layer's input gradient d_h [rows, hidden] = d_logits [rows, 784] · wt [hidden, 784]ᵀ: long
// dot products, four outputs at a time in the kernel (hidden a multiple of 4), OpenBLAS otherwise.
void decoder_input_grad(const float* d_logits, int64_t rows, const float* wt, int64_t hidden, float* d_h) {
  if (hidden % 4 == 0) return kernels::rows_times_rows(d_logits, rows, kImagePixels, wt, hidden, d_h);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, sgemm_size(rows), sgemm_size(hidden), sgemm_size(kImagePixels),
              1.0f, d_logits, sgemm_size(kImagePixels), wt, sgemm_size(kImagePixels), 0.0f, d_h, sgemm_size(hidden));
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
    const VaeTensors from(layout_, const_cast<float*>(canonical)), to(layout_, internal);
    kernels::transpose(from.enc_wt, config_.hidden, kImagePixels, to.enc_wt);
    kernels::transpose(from.out_wt, kImagePixels, config_.hidden, to.out_wt);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    std::copy_n(internal, layout_size(layout_), canonical);
    const VaeTensors from(layout_, const_cast<float*>(internal)), to(layout_, canonical);
    kernels::transpose(from.enc_wt, kImagePixels, config_.hidden, to.enc_wt);
    kernels::transpose(from.out_wt, config_.hidden, kImagePixels, to.out_wt);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<VaeScratch>(internal_size(), config_.batch_size, config_.hidden, config_.latent,
                                        config_.decoder_layers);
  }
  std::unique_ptr<ModelExtras> make_extras(const ModelSpec& spec, const std::vector<int64_t>&) const override {
    return std::make_unique<VaeExtras>(spec.seed);
  }

  // -ELBO of the batch (mean over samples; beta on the KL term) and its gradients, term by term as
  // models/vae.cpp: Bernoulli (or Gaussian) likelihood of the logits, KL(N(mu, sigma^2) || N(0, I)),
  // z = mu + sigma eps with eps from the model's generator. The 784-wide layers go to the linear
  // kernels (kernels/linear.h), the small ones around the code to the BLAS LibTorch uses (OpenBLAS),
  // the likelihood to kernels/likelihood.h; no LibTorch op but the noise draw, so no per-op dispatch
  // and no allocation per step.
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
    encoder_forward(s.images.data(), batch, p.enc_wt, p.enc_b, hidden, s.h.data());
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
    // The output layer's input: h2, or with decoder_layers = 2 the second hidden layer's h3.
    float* top = s.h2.data();
    if (p.dec2_w) {
      linear_forward(s.h2.data(), batch, hidden, p.dec2_w, p.dec2_b, hidden, s.h3.data());
      relu(s.h3.data(), batch * hidden);
      top = s.h3.data();
    }
    kernels::rows_times_narrow(top, batch, hidden, p.out_wt, d, p.out_b, s.logits.data());
    const double nll =
        p.out_logvar ? kernels::learned_gaussian_loss(s.logits.data(), s.images.data(), batch, d, p.out_logvar, per_sample,
                                                      s.logits.data(), g.out_logvar)
        : config_.likelihood == "gaussian"
            ? kernels::sigmoid_squared_loss(s.logits.data(), s.images.data(), batch * d, per_sample, s.logits.data())
            : kernels::bernoulli_logit_loss(s.logits.data(), s.images.data(), batch * d, per_sample, s.logits.data());
    const float* d_logits = s.logits.data();
    const double loss = (nll + config_.beta * kl) * per_sample;

    // Backward: decoder, reparametrization, encoder; weight gradients straight into the gradient buffer.
    // d_top: the output layer's input gradient, d_h2 or (decoder_layers = 2) d_h, free until the encoder.
    float* d_top = p.dec2_w ? s.d_h.data() : s.d_h2.data();
    decoder_input_grad(d_logits, batch, p.out_wt, hidden, d_top);
    kernels::narrow_transposed_times_rows(top, batch, hidden, d_logits, d, g.out_wt);
    kernels::column_sums(d_logits, batch, d, g.out_b);
    relu_backward(top, d_top, batch * hidden);
    if (p.dec2_w) {
      linear_weight_grads(d_top, batch, hidden, s.h2.data(), hidden, g.dec2_w, g.dec2_b);
      linear_input_grad(d_top, batch, hidden, p.dec2_w, hidden, 0.0f, s.d_h2.data());
      relu_backward(s.h2.data(), s.d_h2.data(), batch * hidden);
    }
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
    encoder_weight_grads(s.images.data(), batch, s.d_h.data(), hidden, g.enc_wt, g.enc_b);
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
