#include "models/vae_cpu.h"

#include <torch/torch.h>

#include <algorithm>

#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
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

struct VaeScratch : StepScratch {
  explicit VaeScratch(int64_t params, int64_t batch) : gradient(params), images(batch * kImagePixels) {}
  int64_t bytes() const override {
    return static_cast<int64_t>(sizeof(float) * (gradient.size() + images.size()));
  }
  float* grads() override { return gradient.data(); }
  AlignedFloats gradient;
  std::vector<float> images;
};

// One model's tensors as views of a flat parameter (or gradient) vector in the canonical layout.
struct VaeTensors {
  torch::Tensor enc_w, enc_b, mu_w, mu_b, logvar_w, logvar_b, dec_w, dec_b, out_w, out_b;

  VaeTensors(const Layout& layout, float* flat) {
    const auto view = [&](const char* name) {
      const ParamLayout& param = find_param(layout, name);
      return torch::from_blob(flat + param.offset, param.shape);
    };
    enc_w = view("encoder.fc.weight"), enc_b = view("encoder.fc.bias");
    mu_w = view("encoder.mu.weight"), mu_b = view("encoder.mu.bias");
    logvar_w = view("encoder.logvar.weight"), logvar_b = view("encoder.logvar.bias");
    dec_w = view("decoder.fc.weight"), dec_b = view("decoder.fc.bias");
    out_w = view("decoder.out.weight"), out_b = view("decoder.out.bias");
  }
};

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
    return std::make_unique<VaeScratch>(internal_size(), config_.batch_size);
  }
  std::unique_ptr<ModelExtras> make_extras(const ModelSpec& spec) const override {
    return std::make_unique<VaeExtras>(spec.seed);
  }

  // -ELBO of the batch (mean over samples; beta on the KL term) and its gradients. The gradients
  // follow models/vae.cpp term by term: Bernoulli (or Gaussian) likelihood of the logits,
  // KL(N(mu, sigma^2) || N(0, I)), z = mu + sigma eps with eps from the model's generator.
  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    torch::NoGradGuard no_grad;
    auto& s = static_cast<VaeScratch&>(scratch);
    auto& extras = static_cast<VaeExtras&>(*model.extras);
    const int64_t batch = config_.batch_size;
    const double beta = config_.beta, per_sample = 1.0 / static_cast<double>(batch);
    const VaeTensors p(layout_, model.params);
    VaeTensors g(layout_, s.grads());

    gather_images(train, batch_indices, batch, s.images.data());
    prefetch.next_slice(1);
    const auto x = torch::from_blob(s.images.data(), {batch, kImagePixels});

    // Forward, as models/vae.cpp.
    const auto h = torch::addmm(p.enc_b, x, p.enc_w.t()).relu_();
    const auto mu = torch::addmm(p.mu_b, h, p.mu_w.t());
    const auto logvar_raw = torch::addmm(p.logvar_b, h, p.logvar_w.t());
    const auto logvar = logvar_raw.clamp(-kLogvarLimit, kLogvarLimit);
    const auto eps = torch::randn(mu.sizes(), extras.noise);
    const auto sigma = (0.5 * logvar).exp();
    const auto z = mu + sigma * eps;
    const auto h2 = torch::addmm(p.dec_b, z, p.dec_w.t()).relu_();
    const auto logits = torch::addmm(p.out_b, h2, p.out_w.t());
    const auto out = torch::sigmoid(logits);

    torch::Tensor nll, d_logits;
    if (config_.likelihood == "gaussian") {
      const auto diff = out - x;
      nll = 0.5 * diff.square().sum();
      d_logits = diff * out * (1.0 - out) * per_sample;
    } else {
      nll = torch::binary_cross_entropy_with_logits(logits, x, {}, {}, at::Reduction::Sum);
      d_logits = (out - x) * per_sample;
    }
    const auto var = logvar.exp();
    const auto kl = 0.5 * (mu.square() + var - 1.0 - logvar).sum();
    const double loss = (nll.item<double>() + beta * kl.item<double>()) * per_sample;

    // Backward: decoder, reparametrization, encoder; weight gradients written straight into the
    // thread's gradient buffer (scratch).
    torch::mm_out(g.out_w, d_logits.t(), h2);
    torch::sum_out(g.out_b, d_logits, 0);
    const auto d_h2 = d_logits.mm(p.out_w).mul_(h2 > 0);
    torch::mm_out(g.dec_w, d_h2.t(), z);
    torch::sum_out(g.dec_b, d_h2, 0);
    const auto d_z = d_h2.mm(p.dec_w);
    const auto d_mu = d_z + (beta * per_sample) * mu;
    const auto inside = (logvar_raw >= -kLogvarLimit).logical_and_(logvar_raw <= kLogvarLimit);
    const auto d_logvar = (d_z * eps * 0.5 * sigma + (0.5 * beta * per_sample) * (var - 1.0)).mul_(inside);
    torch::mm_out(g.mu_w, d_mu.t(), h);
    torch::sum_out(g.mu_b, d_mu, 0);
    torch::mm_out(g.logvar_w, d_logvar.t(), h);
    torch::sum_out(g.logvar_b, d_logvar, 0);
    const auto d_h = d_mu.mm(p.mu_w).addmm_(d_logvar, p.logvar_w).mul_(h > 0);
    torch::mm_out(g.enc_w, d_h.t(), x);
    torch::sum_out(g.enc_b, d_h, 0);
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
