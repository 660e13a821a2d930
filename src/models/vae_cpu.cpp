#include "models/vae_cpu.h"

#include <cblas.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/blas.h"
#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "kernels/conv.h"
#include "kernels/isa.h"
#include "kernels/likelihood.h"
#include "kernels/linear.h"
#include "models/family.h"
#include "models/latent_density.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "train/data_stream.h"
#include "train/lane_step.h"

namespace genzoo {

namespace {

// The clamp of log sigma^2 in the LibTorch model (models/vae.cpp): no gradient outside it.
constexpr double kLogvarLimit = 20.0;

// A model's noise generator: the LibTorch path's, so both draw the same eps.
struct VaeExtras : ModelExtras {
  explicit VaeExtras(uint64_t seed) : noise(noise_generator(seed)) {}
  torch::Generator noise;
};

using conv_kernels::Epilogue;
using conv_kernels::Grid;
using conv_kernels::kLanes;

// The conv decoder's work space for one 16-sample lane block (kernels/conv.h): its activations, their
// gradients, the block's codes as lanes ([code_width][kLanes]; the padded code units stay zero) and its
// logits as rows ([kLanes][784], the likelihood kernels' layout; a partial block uses its first rows).
struct ConvDecoderScratch {
  ConvDecoderScratch(int64_t channels, int64_t code_width) : code_width(code_width) {
    const int64_t side = kImageSide;
    const std::vector<std::pair<Grid*, std::pair<int64_t, int64_t>>> shapes = {
        {&g2, {2 * channels, side / 4}}, {&g1, {channels, side / 2}}, {&logits, {1, side}},
        {&d_g2, {2 * channels, side / 4}}, {&d_g1, {channels, side / 2}}};
    int64_t floats = 2 * code_width * kLanes + kImagePixels + kLanes * kImagePixels;
    for (const auto& [grid, shape] : shapes) {
      grid->channels = shape.first, grid->side = shape.second;
      floats += grid->floats();
    }
    storage = AlignedFloats(floats);  // zero: the grids' borders stay zero, kernels write interiors only
    float* next = storage.data();
    for (const auto& [grid, shape] : shapes) grid->data = next, next += grid->floats();
    code = next, d_code = code + code_width * kLanes, d_logvar = d_code + code_width * kLanes;
    rows = d_logvar + kImagePixels;
  }
  AlignedFloats storage;
  Grid g2, g1, logits, d_g2, d_g1;  // logits holds the decoder's output, then its gradient
  int64_t code_width;
  float *code, *d_code, *d_logvar;  // d_logvar: one block's share of the learned variance's gradient
  float* rows;                       // the logits, then their gradient
};

// Every activation and gradient of one step, allocated once per thread (no allocation per step).
// decoder_layers = 2 adds h3, the second decoder layer's output (empty for 1); its gradient lives in
// d_h, free until the encoder's backward pass. A conv decoder (decoder = "conv") has its own lane-block
// work space (`conv`) in place of the MLP decoder's logits, h2 and d_h2 (then empty).
struct VaeScratch : StepScratch {
  VaeScratch(int64_t params, int64_t batch, int64_t hidden, int64_t latent, int64_t decoder_layers, bool mlp_decoder)
      : gradient(params), images(batch * kImagePixels), logits(mlp_decoder ? batch * kImagePixels : 0),
        h(batch * hidden), h2(mlp_decoder ? batch * hidden : 0), h3(decoder_layers == 2 ? batch * hidden : 0),
        d_h(batch * hidden), d_h2(mlp_decoder ? batch * hidden : 0), mu(batch * latent),
        logvar_raw(batch * latent), logvar(batch * latent), eps(batch * latent), sigma(batch * latent), z(batch * latent),
        d_z(batch * latent), d_mu(batch * latent), d_logvar(batch * latent) {}
  int64_t bytes() const override {
    int64_t floats = gradient.size();
    for (const AlignedFloats* b : {&images, &logits, &h, &h2, &h3, &d_h, &d_h2, &mu, &logvar_raw, &logvar, &eps,
                                   &sigma, &z, &d_z, &d_mu, &d_logvar}) {
      floats += b->size();
    }
    if (conv) floats += conv->storage.size();
    return static_cast<int64_t>(sizeof(float)) * floats;
  }
  float* grads() override { return gradient.data(); }
  // logits holds the decoder's output, then (in place) its gradient: one 200 KB buffer less keeps a
  // model's step closer to L2.
  AlignedFloats gradient, images, logits, h, h2, h3, d_h, d_h2, mu, logvar_raw, logvar, eps, sigma, z, d_z, d_mu,
      d_logvar;
  std::unique_ptr<ConvDecoderScratch> conv;  // decoder = "conv" only
};

// The internal layout: the canonical one with the 784-wide matrices transposed in place, the encoder's as
// [784, hidden] and an MLP decoder's output layer as [hidden, 784], the layouts the linear kernels stream
// (as in linear_ae_cpu.cpp), so no step transposes anything. With a conv decoder it is LaneLayout's
// (train/lane_step.h: every tensor aligned, decoder.fc.weight's code columns padded to whole lane blocks),
// again with the encoder's matrix transposed.
class VaeInternalLayout {
 public:
  // Internal offsets of the step's tensors, resolved once; -1 for a tensor the configuration lacks.
  struct Offsets {
    int64_t enc_wt, enc_b, mu_w, mu_b, logvar_w, logvar_b, dec_w, dec_b, out_wt, out_b, dec2_w, dec2_b, convt1_w, convt1_b,
        convt2_w, convt2_b, out_logvar;
  };

  VaeInternalLayout(const Layout& layout, const FamilyConfig& config) : layout_(layout), hidden_(config.hidden) {
    if (config.decoder == "conv") {
      lanes_.emplace(layout, config.latent, std::vector<LaneLayout::CodeTensor>{{"decoder.fc.weight", LaneLayout::Form::kCodeColumns}});
    }
    const auto at = [&](const char* name) { return has(name) ? offset(name) : -1; };
    offsets_ = {at("encoder.fc.weight"), at("encoder.fc.bias"), at("encoder.mu.weight"), at("encoder.mu.bias"),
                at("encoder.logvar.weight"), at("encoder.logvar.bias"), at("decoder.fc.weight"), at("decoder.fc.bias"),
                at("decoder.out.weight"), at("decoder.out.bias"), at("decoder.fc2.weight"), at("decoder.fc2.bias"),
                at("decoder.convt1.weight"), at("decoder.convt1.bias"), at("decoder.convt2.weight"), at("decoder.convt2.bias"),
                at("decoder.out.logvar")};
  }
  const Offsets& offsets() const { return offsets_; }
  int64_t offset(const std::string& name) const { return lanes_ ? lanes_->offset(name) : find_param(layout_, name).offset; }
  int64_t size() const { return lanes_ ? lanes_->size() : layout_size(layout_); }
  int64_t code_width() const { return lanes_ ? lanes_->code_width() : 0; }
  // The end of the last trained tensor: the latent density's tensors (Vae::layout's last) follow it.
  int64_t trained_size() const {
    int64_t end = 0;
    for (const ParamLayout& t : layout_) {
      if (t.role != kLatentDensityRole) end = std::max(end, offset(t.name) + t.numel());
    }
    return end;
  }

  void to_internal(const float* canonical, float* internal) const {
    if (lanes_) {
      lanes_->to_internal(canonical, internal);
    } else {
      std::copy_n(canonical, size(), internal);
    }
    for (const auto& [name, rows] : transposed()) {
      kernels::transpose(canonical + find_param(layout_, name).offset, rows, transposed_cols(rows), internal + offset(name));
    }
  }
  void to_canonical(const float* internal, float* canonical) const {
    if (lanes_) {
      lanes_->to_canonical(internal, canonical);
    } else {
      std::copy_n(internal, size(), canonical);
    }
    for (const auto& [name, rows] : transposed()) {
      kernels::transpose(internal + offset(name), transposed_cols(rows), rows, canonical + find_param(layout_, name).offset);
    }
  }

 private:
  bool has(const std::string& name) const {
    return std::any_of(layout_.begin(), layout_.end(), [&](const ParamLayout& t) { return t.name == name; });
  }
  // The transposed tensors and their canonical row counts (the other side is the other of hidden, 784).
  std::vector<std::pair<std::string, int64_t>> transposed() const {
    std::vector<std::pair<std::string, int64_t>> out{{"encoder.fc.weight", hidden_}};
    if (!lanes_) out.emplace_back("decoder.out.weight", kImagePixels);
    return out;
  }
  int64_t transposed_cols(int64_t rows) const { return rows == kImagePixels ? hidden_ : kImagePixels; }

  Layout layout_;
  int64_t hidden_;
  std::optional<LaneLayout> lanes_;
  Offsets offsets_;
};

// One model's tensors as pointers into its internal parameter (or gradient) vector.
struct VaeTensors {
  float *enc_wt, *enc_b, *mu_w, *mu_b, *logvar_w, *logvar_b, *dec_w, *dec_b;
  float *out_wt = nullptr, *out_b = nullptr;  // decoder = "mlp": the output layer
  float *dec2_w = nullptr, *dec2_b = nullptr;  // decoder_layers = 2: the second hidden layer (torch's [out, in])
  float *convt1_w = nullptr, *convt1_b = nullptr, *convt2_w = nullptr, *convt2_b = nullptr;  // decoder = "conv"
  float* out_logvar = nullptr;  // likelihood gaussian_learned: the per-pixel log variance

  VaeTensors(const VaeInternalLayout::Offsets& o, float* flat) {
    const auto at = [&](int64_t offset) { return offset < 0 ? nullptr : flat + offset; };
    enc_wt = at(o.enc_wt), enc_b = at(o.enc_b), mu_w = at(o.mu_w), mu_b = at(o.mu_b);
    logvar_w = at(o.logvar_w), logvar_b = at(o.logvar_b), dec_w = at(o.dec_w), dec_b = at(o.dec_b);
    out_wt = at(o.out_wt), out_b = at(o.out_b), dec2_w = at(o.dec2_w), dec2_b = at(o.dec2_b);
    convt1_w = at(o.convt1_w), convt1_b = at(o.convt1_b), convt2_w = at(o.convt2_w), convt2_b = at(o.convt2_b);
    out_logvar = at(o.out_logvar);
  }
};

// out [rows, cols] = a [rows, inner] · wᵀ (w [cols, inner], torch's weight layout) + bias: the small
// layers around the code, through the BLAS LibTorch uses.
void linear_forward(const float* a, int64_t rows, int64_t inner, const float* w, const float* bias, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(bias, cols, out + r * cols);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_size(rows), blas_size(cols), blas_size(inner), 1.0f, a,
              blas_size(inner), w, blas_size(inner), 1.0f, out, blas_size(cols));
}

// Weight and bias gradients of that layer: g_w [cols, inner] = d_outᵀ · a, g_b = column sums of d_out.
void linear_weight_grads(const float* d_out, int64_t rows, int64_t cols, const float* a, int64_t inner, float* g_w, float* g_b) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_size(cols), blas_size(inner), blas_size(rows), 1.0f,
              d_out, blas_size(cols), a, blas_size(inner), 0.0f, g_w, blas_size(inner));
  kernels::column_sums(d_out, rows, cols, g_b);
}

// d_a [rows, inner] (+)= d_out [rows, cols] · w [cols, inner].
void linear_input_grad(const float* d_out, int64_t rows, int64_t cols, const float* w, int64_t inner, float beta, float* d_a) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_size(rows), blas_size(inner), blas_size(cols), 1.0f,
              d_out, blas_size(cols), w, blas_size(inner), beta, d_a, blas_size(inner));
}

// The encoder's first layer, h [rows, hidden] = x [rows, 784] · wt [784, hidden] + bias, and its weight
// gradient g_wt = xᵀ · d_h: the register-blocked kernels when hidden is whole vectors of the dispatched
// target (the zoo's 64 and 128 are on every target), OpenBLAS otherwise.
void encoder_forward(const float* x, int64_t rows, const float* wt, const float* bias, int64_t hidden, float* h) {
  if (hidden % kernels::float_lanes() == 0) return kernels::rows_times_narrow(x, rows, kImagePixels, wt, hidden, bias, h);
  for (int64_t r = 0; r < rows; ++r) std::copy_n(bias, hidden, h + r * hidden);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_size(rows), blas_size(hidden), blas_size(kImagePixels),
              1.0f, x, blas_size(kImagePixels), wt, blas_size(hidden), 1.0f, h, blas_size(hidden));
}

void encoder_weight_grads(const float* x, int64_t rows, const float* d_h, int64_t hidden, float* g_wt, float* g_b) {
  if (hidden % kernels::float_lanes() == 0) {
    kernels::transposed_times_narrow(x, rows, kImagePixels, d_h, hidden, g_wt);
  } else {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_size(kImagePixels), blas_size(hidden), blas_size(rows),
                1.0f, x, blas_size(kImagePixels), d_h, blas_size(hidden), 0.0f, g_wt, blas_size(hidden));
  }
  kernels::column_sums(d_h, rows, hidden, g_b);
}

// The output layer's input gradient d_h [rows, hidden] = d_logits [rows, 784] · wt [hidden, 784]ᵀ: long
// dot products, four outputs at a time in the kernel (hidden a multiple of 4), OpenBLAS otherwise.
void decoder_input_grad(const float* d_logits, int64_t rows, const float* wt, int64_t hidden, float* d_h) {
  if (hidden % 4 == 0) return kernels::rows_times_rows(d_logits, rows, kImagePixels, wt, hidden, d_h);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_size(rows), blas_size(hidden), blas_size(kImagePixels),
              1.0f, d_logits, blas_size(kImagePixels), wt, blas_size(kImagePixels), 0.0f, d_h, blas_size(hidden));
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
  explicit VaeStep(const FamilyConfig& config)
      : config_(config),
        layout_(find_family("vae").layout(config)),
        internal_(layout_, config),
        trained_size_(internal_.trained_size()) {}

  const Layout& layout() const override { return layout_; }
  int64_t internal_size() const override { return internal_.size(); }
  int64_t trained_size() const override { return trained_size_; }
  void to_internal(const float* canonical, float* internal) const override { internal_.to_internal(canonical, internal); }
  void to_canonical(const float* internal, float* canonical) const override { internal_.to_canonical(internal, canonical); }
  std::unique_ptr<StepScratch> make_scratch() const override {
    auto scratch = std::make_unique<VaeScratch>(internal_size(), config_.batch_size, config_.hidden, config_.latent,
                                                config_.decoder_layers, config_.decoder != "conv");
    if (config_.decoder == "conv") scratch->conv = std::make_unique<ConvDecoderScratch>(config_.channels, internal_.code_width());
    return scratch;
  }
  std::unique_ptr<ModelExtras> make_extras(const ModelSpec& spec, const std::vector<int64_t>&) const override {
    return std::make_unique<VaeExtras>(spec.seed);
  }

  // -ELBO of the batch (mean over samples; beta on the KL term) and its gradients, term by term as
  // models/vae.cpp: Bernoulli (or Gaussian) likelihood of the logits, KL(N(mu, sigma^2) || N(0, I)),
  // z = mu + sigma eps with eps from the model's generator. The 784-wide layers go to the linear
  // kernels (kernels/linear.h), the small ones around the code to the BLAS LibTorch uses (OpenBLAS),
  // a conv decoder to the lane-block kernels (kernels/conv.h), the likelihood to kernels/likelihood.h;
  // no LibTorch op but the noise draw, so no per-op dispatch and no allocation per step.
  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<VaeScratch&>(scratch);
    auto& extras = static_cast<VaeExtras&>(*model.extras);
    const int64_t batch = config_.batch_size, hidden = config_.hidden, latent = config_.latent;
    const int64_t codes = batch * latent;
    const float beta = static_cast<float>(config_.beta), per_sample = 1.0f / static_cast<float>(batch);
    const VaeTensors p(internal_.offsets(), model.params);
    const VaeTensors g(internal_.offsets(), s.grads());

    gather_images(train, batch_indices, batch, s.images.data());
    prefetch.next_slice(1);
    {
      torch::NoGradGuard no_grad;  // the LibTorch path's draw, so both paths see the same eps
      const torch::Tensor eps = torch::randn({batch, latent}, extras.noise);
      std::copy_n(eps.data_ptr<float>(), codes, s.eps.data());
    }

    // Forward through the encoder to z.
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
    // The decoder, its likelihood and its backward pass to d_z.
    const double nll = s.conv ? conv_decoder_pass(p, g, s, per_sample) : mlp_decoder_pass(p, g, s, per_sample);
    const double loss = (nll + config_.beta * kl) * per_sample;

    // Backward through the reparametrization and the encoder; weight gradients straight into the gradient buffer.
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
  // The likelihood's -log p(x | logits) summed over rows x pixels, its gradient written over the logits
  // (and the learned variance's into d_logvar), each scaled by `scale`.
  double likelihood(float* logits, const float* images, int64_t rows, const float* logvar, float scale,
                    float* d_logvar) const {
    const int64_t n = rows * kImagePixels;
    if (logvar) return kernels::learned_gaussian_loss(logits, images, rows, kImagePixels, logvar, scale, logits, d_logvar);
    if (config_.likelihood == "gaussian") return kernels::sigmoid_squared_loss(logits, images, n, scale, logits);
    return kernels::bernoulli_logit_loss(logits, images, n, scale, logits);
  }

  // decoder = "mlp": z -> hidden (-> hidden) -> 784 logits over the whole batch, then back to s.d_z.
  double mlp_decoder_pass(const VaeTensors& p, const VaeTensors& g, VaeScratch& s, float per_sample) const {
    const int64_t batch = config_.batch_size, hidden = config_.hidden, latent = config_.latent, d = kImagePixels;
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
    const double nll = likelihood(s.logits.data(), s.images.data(), batch, p.out_logvar, per_sample, g.out_logvar);
    const float* d_logits = s.logits.data();

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
    return nll;
  }

  // decoder = "conv": conv_ae's decoder (models/conv_decoder.h) one 16-sample lane block at a time, each
  // block forward, through its likelihood and back before the next, so a block's grids stay in L1/L2.
  // The conv kernels add into the decoder's gradients, so those (the decoder's tensors, up to trained_size():
  // Vae::layout puts the encoder first) are zeroed first. The encoder's are written.
  double conv_decoder_pass(const VaeTensors& p, const VaeTensors& g, VaeScratch& s, float per_sample) const {
    ConvDecoderScratch& c = *s.conv;
    const int64_t batch = config_.batch_size, latent = config_.latent, d = kImagePixels;
    std::fill(g.dec_w, s.grads() + trained_size(), 0.0f);
    double nll = 0.0;
    for (int64_t first = 0; first < batch; first += kLanes) {
      const int64_t valid = std::min(kLanes, batch - first);
      lanes_from_rows(s.z.data() + first * latent, valid, latent, c.code_width, c.code);
      conv_kernels::dense_from_narrow(c.code, p.dec_w, p.dec_b, c.g2, Epilogue::kRelu, c.code_width);
      conv_kernels::conv_transposed(c.g2, p.convt1_w, p.convt1_b, c.g1, Epilogue::kRelu);
      conv_kernels::conv_transposed(c.g1, p.convt2_w, p.convt2_b, c.logits, Epilogue::kNone);

      // The likelihood on the block's images as rows, its gradient back into the logits grid.
      float* rows = c.rows;
      for (int64_t pixel = 0; pixel < d; ++pixel) {
        const float* lanes = c.logits.at(0, pixel / kImageSide, pixel % kImageSide);
        for (int64_t l = 0; l < valid; ++l) rows[l * d + pixel] = lanes[l];
      }
      nll += likelihood(rows, s.images.data() + first * d, valid, p.out_logvar, per_sample, c.d_logvar);
      if (g.out_logvar) {
        for (int64_t pixel = 0; pixel < d; ++pixel) g.out_logvar[pixel] += c.d_logvar[pixel];
      }
      std::fill(rows + valid * d, rows + kLanes * d, 0.0f);  // a partial block's empty lanes get no gradient
      conv_kernels::load_images(rows, c.logits);

      conv_kernels::conv_transposed_backward(c.g1, c.logits, p.convt2_w, g.convt2_w, g.convt2_b, &c.d_g1, Epilogue::kMaskBy);
      conv_kernels::conv_transposed_backward(c.g2, c.d_g1, p.convt1_w, g.convt1_w, g.convt1_b, &c.d_g2, Epilogue::kMaskBy);
      conv_kernels::dense_weight_grad(c.d_g2, c.code, g.dec_w, c.code_width);
      conv_kernels::feature_sums(c.d_g2, g.dec_b);
      conv_kernels::dense_to_narrow(c.d_g2, p.dec_w, nullptr, c.d_code, c.code_width);
      rows_from_lanes(c.d_code, valid, latent, s.d_z.data() + first * latent);
    }
    return nll;
  }

  FamilyConfig config_;
  Layout layout_;
  VaeInternalLayout internal_;
  int64_t trained_size_;
};

}  // namespace

std::unique_ptr<FastStep> make_vae_step(const FamilyConfig& config) {
  if (config.name != "vae") return nullptr;
  return std::make_unique<VaeStep>(config);
}

}  // namespace genzoo
