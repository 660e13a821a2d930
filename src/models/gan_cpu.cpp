#include "models/gan_cpu.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "data/dataset.h"
#include "common/error.h"
#include "data/image.h"
#include "job/job.h"
#include "models/family.h"
#include "models/spectral_norm.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "store/layout.h"
#include "train/adam.h"
#include "kernels/conv.h"
#include "train/data_stream.h"
#include "train/lane_step.h"

namespace genzoo {

namespace {

using conv_kernels::Epilogue;
using conv_kernels::Grid;
using conv_kernels::kLanes;

// Internal offsets (LaneLayout: every tensor on a vector boundary, the code padded to whole lane
// blocks, generator tensors first, so the discriminator's tensors are one aligned range from d_begin on).
struct GanOffsets {
  LaneLayout lanes;
  int64_t g_fc_w, g_fc_b, convt1_w, convt1_b, convt2_w, convt2_b;
  int64_t conv1_w, conv1_b, conv2_w, conv2_b, d_fc_w, d_fc_b;
  int64_t d_begin;
  int64_t d_labels;  // a class-conditional D's label weights: the last K entries of discriminator.fc.weight

  // code: the generator's input width, latent plus the one-hot class of a class-conditional GAN;
  // d_features: the discriminator's flattened features (discriminator.fc.weight's inputs before the labels).
  GanOffsets(const Layout& layout, int64_t code, int64_t d_features)
      : lanes(layout, code, {{"generator.fc.weight", LaneLayout::Form::kCodeColumns}}) {
    const auto at = [&](const char* name) { return lanes.offset(name); };
    g_fc_w = at("generator.fc.weight"), g_fc_b = at("generator.fc.bias");
    convt1_w = at("generator.convt1.weight"), convt1_b = at("generator.convt1.bias");
    convt2_w = at("generator.convt2.weight"), convt2_b = at("generator.convt2.bias");
    conv1_w = at("discriminator.conv1.weight"), conv1_b = at("discriminator.conv1.bias");
    conv2_w = at("discriminator.conv2.weight"), conv2_b = at("discriminator.conv2.bias");
    d_fc_w = at("discriminator.fc.weight"), d_fc_b = at("discriminator.fc.bias");
    d_begin = conv1_w;
    d_labels = d_fc_w + d_features;
  }
};

// A model's noise generator (the LibTorch path's: same seed, same draws), the sum of its
// discriminator losses over the last tenth of training, and for a class-conditional GAN its class
// proportions (the fake images' labels).
struct GanExtras : ModelExtras {
  explicit GanExtras(const ModelSpec& spec) : noise(noise_generator(spec.seed)), proportions(spec.proportions) {}
  torch::Generator noise;
  double tail_d_loss = 0.0;
  std::vector<double> proportions;
};

// Activations and gradients of one 16-sample lane block.
struct GanScratch : LaneScratch {
  Grid x, h1, h2, g2, g1, logits, d_x, d_logits, d_g1, d_g2, d_h2, d_h1;
  float *code, *d_out, *out;  // code [code_width][kLanes]; D's output and its gradient: one lane block each
  std::array<int, kLanes> real_slots{}, fake_slots{};  // class-conditional: each lane's class slot
  // d_norm = "spectral": D's weights divided by their σ at D's internal offsets, and each matrix's factors.
  std::vector<float> normalized;
  std::vector<SpectralFactors> factors;

  // channels: the generator's; d_channels: the discriminator's.
  GanScratch(int64_t channels, int64_t d_channels, int64_t code_width, int64_t params) : LaneScratch(params) {
    const int64_t side = kImageSide;
    add(x, 1, side), add(h1, d_channels, side / 2), add(h2, 2 * d_channels, side / 4);
    add(g2, 2 * channels, side / 4), add(g1, channels, side / 2), add(logits, 1, side);
    add(d_x, 1, side), add(d_logits, 1, side), add(d_g1, channels, side / 2), add(d_g2, 2 * channels, side / 4);
    add(d_h2, 2 * d_channels, side / 4), add(d_h1, d_channels, side / 2);
    code = place(code_width * kLanes + 2 * kLanes), d_out = code + code_width * kLanes, out = d_out + kLanes;
  }
};

// log(1 + e^v) without overflow.
double softplus(double v) { return std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v))); }

class GanStep : public FastStep {
 public:
  explicit GanStep(const FamilyConfig& config)
      : config_(config), layout_(find_family("gan").layout(config)),
        labels_(config.condition == "label" ? config.num_classes : 0),
        offsets_(layout_, config.latent + labels_, find_param(layout_, "discriminator.fc.weight").shape[1] - labels_),
        code_width_(offsets_.lanes.code_width()), tail_start_(d_loss_tail_start(config.steps)),
        real_target_(static_cast<float>(1.0 - config.label_smoothing)), slot_of_label_(class_slot_table({})) {
    if (config.d_norm == "spectral") {
      for (const char* name : {"discriminator.conv1.weight", "discriminator.conv2.weight", "discriminator.fc.weight"}) {
        const ParamLayout& param = find_param(layout_, name);
        spectral_.push_back({offsets_.lanes.offset(name), param.shape[0], param.numel() / param.shape[0]});
      }
    }
  }

  const Layout& layout() const override { return layout_; }
  int64_t internal_size() const override { return offsets_.lanes.size(); }
  void to_internal(const float* canonical, float* internal) const override {
    offsets_.lanes.to_internal(canonical, internal);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    offsets_.lanes.to_canonical(internal, canonical);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<GanScratch>(config_.channels, config_.discriminator_channels(), code_width_,
                                        internal_size());
  }
  int64_t batches_per_step() const override { return config_.d_steps; }
  std::unique_ptr<ModelExtras> make_extras(const ModelSpec& spec, const std::vector<int64_t>& class_labels) const override {
    if (labels_ > 0 && (static_cast<int64_t>(class_labels.size()) != labels_ ||
                        static_cast<int64_t>(spec.proportions.size()) != labels_)) {
      throw TrainError("family gan, model " + std::to_string(spec.id) + ": class-conditional training needs the " +
                       std::to_string(labels_) + " class labels and proportions");
    }
    // Every model of a chunk has the same class labels: the table is built for the first.
    if (slot_labels_ != class_labels) slot_labels_ = class_labels, slot_of_label_ = class_slot_table(class_labels);
    return std::make_unique<GanExtras>(spec);
  }
  std::map<std::string, double> metrics(const ModelExtras* extras) const override {
    const double tail_steps = static_cast<double>(config_.steps - tail_start_ + 1);
    return {{"d_loss", static_cast<const GanExtras*>(extras)->tail_d_loss / tail_steps}};
  }

  // d_steps discriminator updates, each on its own real batch and fresh codes, then one generator
  // update (the LibTorch path's order of draws and Adam step counts). Returns the last
  // discriminator loss plus the generator loss.
  double update(const ImageSet& train, const int64_t* batch_indices, int64_t step, const FastModel& model,
                StepScratch& scratch, BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<GanScratch&>(scratch);
    auto& extras = static_cast<GanExtras&>(*model.extras);
    // A batch that is not a whole number of blocks fills its last block partly.
    const int64_t blocks = (config_.batch_size + kLanes - 1) / kLanes, size = internal_size(), d_begin = offsets_.d_begin;
    const auto valid = [&](int64_t block) { return std::min(kLanes, config_.batch_size - block * kLanes); };
    double d_loss = 0.0;
    for (int64_t k = 0; k < config_.d_steps; ++k) {
      std::fill(s.grads(), s.grads() + size, 0.0f);
      const float* d_weights = discriminator_weights(model.params, s);
      const auto fake_slots = draw_slots(extras);  // LibTorch's order: the fake labels, then the codes
      const auto z = draw_codes(extras);
      d_loss = 0.0;
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t* real = batch_indices + k * config_.batch_size + block * kLanes;
        s.load_block(train, real, valid(block), s.x);
        if (labels_ > 0) {
          for (int64_t b = 0; b < valid(block); ++b) s.real_slots[b] = slot_of_label_[train.labels[real[b]]];
        }
        d_loss += discriminator_pass(d_weights, s, real_target_, true, valid(block), s.real_slots);
        generate(model.params, z, fake_slots, block, valid(block), s);
        d_loss += discriminator_pass(d_weights, s, 0.0f, true, valid(block), s.fake_slots);
        prefetch.next_slice(blocks * config_.d_steps);
      }
      d_loss /= static_cast<double>(config_.batch_size);
      for (size_t m = 0; m < spectral_.size(); ++m) {  // from the gradient of W / σ to that of W
        const SpectralMatrix& w = spectral_[m];
        spectral_backward(model.params + w.offset, w.rows, w.cols, s.factors[m], s.grads() + w.offset);
      }
      const int64_t d_step = (step - 1) * config_.d_steps + k + 1;
      const float d_lr = static_cast<float>(*model.lr * config_.d_lr_scale);
      adam_step(model.params + d_begin, s.grads() + d_begin, model.adam_m + d_begin, model.adam_v + d_begin, 1,
                size - d_begin, &d_lr, d_step);
    }
    std::fill(s.grads(), s.grads() + size, 0.0f);
    const auto fake_slots = draw_slots(extras);
    const auto z = draw_codes(extras);
    double g_loss = 0.0;
    const float* d_weights = discriminator_weights(model.params, s);
    for (int64_t block = 0; block < blocks; ++block) {
      generate(model.params, z, fake_slots, block, valid(block), s);
      g_loss += discriminator_pass(d_weights, s, 1.0f, false, valid(block), s.fake_slots);
      generator_backward(model.params, s);
    }
    g_loss /= static_cast<double>(config_.batch_size);
    adam_step(model.params, s.grads(), model.adam_m, model.adam_v, 1, d_begin, model.lr, step);
    if (step >= tail_start_) extras.tail_d_loss += d_loss;
    return d_loss + g_loss;
  }

 private:
  // A discriminator weight matrix spectral normalization divides: internal offset, rows x cols.
  struct SpectralMatrix {
    int64_t offset, rows, cols;
  };

  // The weights D computes with: the model's own, or (d_norm = "spectral") a copy in s.normalized whose
  // D matrices are divided by their σ, the factors kept in s.factors for the backward pass. Only D's
  // offsets of the copy are read.
  const float* discriminator_weights(const float* p, GanScratch& s) const {
    if (spectral_.empty()) return p;
    s.normalized.resize(static_cast<size_t>(internal_size()));
    std::copy(p + offsets_.d_begin, p + internal_size(), s.normalized.begin() + offsets_.d_begin);
    s.factors.resize(spectral_.size());
    for (size_t m = 0; m < spectral_.size(); ++m) {
      const SpectralMatrix& w = spectral_[m];
      s.factors[m] = spectral_factors(p + w.offset, w.rows, w.cols);
      spectral_divide(p + w.offset, w.rows * w.cols, s.factors[m], s.normalized.data() + w.offset);
    }
    return s.normalized.data();
  }

  // Standard normal codes [batch, k] from the model's generator, as the LibTorch path draws them.
  torch::Tensor draw_codes(GanExtras& extras) const {
    return torch::randn({config_.batch_size, config_.latent}, extras.noise).contiguous();
  }
  // A class-conditional GAN's fake labels [batch] (long class slots); undefined otherwise.
  torch::Tensor draw_slots(GanExtras& extras) const {
    return labels_ > 0 ? sample_class_slots(extras.proportions, config_.batch_size, extras.noise).contiguous()
                       : torch::Tensor();
  }

  // Generator forward for lane block `block` of the codes z (its first `valid` samples; zero codes in
  // the other lanes and in the padded code units), with a class-conditional GAN's one-hot class in the
  // code units after z (and the lanes' slots in s.fake_slots): s.code, s.g2, s.g1, s.logits and the
  // images in s.x.
  void generate(const float* p, const torch::Tensor& z, const torch::Tensor& slots, int64_t block, int64_t valid,
                GanScratch& s) const {
    const GanOffsets& o = offsets_;
    const int64_t k = config_.latent;
    const float* codes = z.data_ptr<float>() + block * kLanes * k;
    std::fill(s.code, s.code + code_width_ * kLanes, 0.0f);
    for (int64_t b = 0; b < valid; ++b) {
      for (int64_t j = 0; j < k; ++j) s.code[j * kLanes + b] = codes[b * k + j];
    }
    if (labels_ > 0) {
      const int64_t* drawn = slots.data_ptr<int64_t>() + block * kLanes;
      for (int64_t b = 0; b < valid; ++b) {
        s.fake_slots[b] = static_cast<int>(drawn[b]);
        s.code[(k + drawn[b]) * kLanes + b] = 1.0f;
      }
    }
    conv_kernels::dense_from_narrow(s.code, p + o.g_fc_w, p + o.g_fc_b, s.g2, Epilogue::kRelu, code_width_);
    conv_kernels::conv_transposed(s.g2, p + o.convt1_w, p + o.convt1_b, s.g1, Epilogue::kRelu);
    conv_kernels::conv_transposed(s.g1, p + o.convt2_w, p + o.convt2_b, s.logits, Epilogue::kNone);
    conv_kernels::sigmoid(s.logits, s.x);
  }

  // The discriminator on the images in s.x against the target (1 real, 0 fake), mean-reduced over
  // the batch: adds the block's summed binary cross-entropy to the return value and back-propagates
  // its gradient into D's weight gradients (weights = true) or into s.d_x only (the generator step).
  // Only the first `valid` samples count; the others get zero gradient. A class-conditional D adds
  // the label weight of each lane's class slot (slots) to its logit.
  double discriminator_pass(const float* p, GanScratch& s, float target, bool weights, int64_t valid,
                            const std::array<int, kLanes>& slots) const {
    const GanOffsets& o = offsets_;
    float* g = s.grads();
    conv_kernels::conv(s.x, p + o.conv1_w, p + o.conv1_b, s.h1, Epilogue::kLeakyRelu);
    conv_kernels::conv(s.h1, p + o.conv2_w, p + o.conv2_b, s.h2, Epilogue::kLeakyRelu);
    conv_kernels::dense_to_one(s.h2, p + o.d_fc_w, p[o.d_fc_b], s.out);
    if (labels_ > 0) {
      for (int64_t b = 0; b < valid; ++b) s.out[b] += p[o.d_labels + slots[b]];
    }
    const float per_sample = 1.0f / static_cast<float>(config_.batch_size);
    double loss = 0.0;
    for (int64_t b = 0; b < kLanes; ++b) {
      const float logit = s.out[b];
      // Binary cross-entropy against target t: t softplus(-z) + (1 - t) softplus(z).
      if (b < valid) loss += target * softplus(-logit) + (1.0f - target) * softplus(logit);
      s.d_out[b] = b < valid ? per_sample * (1.0f / (1.0f + std::exp(-logit)) - target) : 0.0f;
    }
    if (weights) {
      conv_kernels::dense_one_weight_grad(s.h2, s.d_out, g + o.d_fc_w);
      for (int64_t b = 0; b < kLanes; ++b) g[o.d_fc_b] += s.d_out[b];
      if (labels_ > 0) {
        for (int64_t b = 0; b < valid; ++b) g[o.d_labels + slots[b]] += s.d_out[b];
      }
    }
    conv_kernels::dense_from_one(s.d_out, p + o.d_fc_w, s.d_h2, Epilogue::kLeakyMaskBy, &s.h2);
    conv_kernels::conv_backward(s.h1, s.d_h2, p + o.conv2_w, weights ? g + o.conv2_w : nullptr,
                                weights ? g + o.conv2_b : nullptr, &s.d_h1, Epilogue::kLeakyMaskBy);
    conv_kernels::conv_backward(s.x, s.d_h1, p + o.conv1_w, weights ? g + o.conv1_w : nullptr,
                                weights ? g + o.conv1_b : nullptr, weights ? nullptr : &s.d_x, Epilogue::kNone);
    return loss;
  }

  // From s.d_x (the images' gradient) back through the generator into its weight gradients.
  void generator_backward(const float* p, GanScratch& s) const {
    const GanOffsets& o = offsets_;
    float* g = s.grads();
    conv_kernels::sigmoid_backward(s.x, s.d_x, s.d_logits);
    conv_kernels::conv_transposed_backward(s.g1, s.d_logits, p + o.convt2_w, g + o.convt2_w, g + o.convt2_b, &s.d_g1,
                                           Epilogue::kMaskBy);
    conv_kernels::conv_transposed_backward(s.g2, s.d_g1, p + o.convt1_w, g + o.convt1_w, g + o.convt1_b, &s.d_g2,
                                           Epilogue::kMaskBy);
    conv_kernels::dense_weight_grad(s.d_g2, s.code, g + o.g_fc_w, code_width_);
    conv_kernels::feature_sums(s.d_g2, g + o.g_fc_b);
  }

  FamilyConfig config_;
  Layout layout_;
  int64_t labels_;  // K for a class-conditional GAN, else 0
  GanOffsets offsets_;
  int64_t code_width_;
  int64_t tail_start_;
  float real_target_;  // the discriminator's target for real images: 1 - label_smoothing
  std::vector<SpectralMatrix> spectral_;  // d_norm = "spectral": D's weight matrices; empty otherwise
  // The class labels make_extras last saw and their class slot table (the real images' slots). train_fast
  // calls make_extras for every model, from one thread, before any update.
  mutable std::vector<int64_t> slot_labels_;
  mutable ClassSlotTable slot_of_label_;
};

}  // namespace

std::unique_ptr<FastStep> make_gan_step(const FamilyConfig& config) {
  if (config.name != "gan") return nullptr;
  return std::make_unique<GanStep>(config);
}

}  // namespace genzoo
