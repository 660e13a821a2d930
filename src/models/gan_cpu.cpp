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
#include "models/gan_augment.h"
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
  int64_t d_stddev;  // d_minibatch = "stddev": the stddev feature's weight, the entry after D's features
  int64_t d_labels;  // a class-conditional D's label weights: the last K entries of discriminator.fc.weight

  // code: the generator's input width, latent plus the one-hot class of a class-conditional GAN;
  // d_features: the discriminator's flattened features (discriminator.fc.weight's inputs before the
  // stddev feature and the labels); stddev: 1 with the minibatch stddev feature, else 0.
  GanOffsets(const Layout& layout, int64_t code, int64_t d_features, int64_t stddev)
      : lanes(layout, code, {{"generator.fc.weight", LaneLayout::Form::kCodeColumns}}) {
    const auto at = [&](const char* name) { return lanes.offset(name); };
    g_fc_w = at("generator.fc.weight"), g_fc_b = at("generator.fc.bias");
    convt1_w = at("generator.convt1.weight"), convt1_b = at("generator.convt1.bias");
    convt2_w = at("generator.convt2.weight"), convt2_b = at("generator.convt2.bias");
    conv1_w = at("discriminator.conv1.weight"), conv1_b = at("discriminator.conv1.bias");
    conv2_w = at("discriminator.conv2.weight"), conv2_b = at("discriminator.conv2.bias");
    d_fc_w = at("discriminator.fc.weight"), d_fc_b = at("discriminator.fc.bias");
    d_begin = conv1_w;
    d_stddev = d_fc_w + d_features;
    d_labels = d_stddev + stddev;
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

// Activations and gradients of one 16-sample lane block. With d_minibatch = "stddev" D needs the features
// of every block of its batch before any block's output, so the activations that outlive a block's
// forward pass (images, D's and G's hidden layers, the code, D's output gradient, the class slots) are
// kept for every block of the batch in `stored`, and use_block points x, h1, h2, g2, g1, code and d_out
// at a block's; the other grids stay one block's work space.
struct GanScratch : LaneScratch {
  Grid x, h1, h2, g2, g1, logits, d_x, d_logits, d_g1, d_g2, d_h2, d_h1;
  // D's input and its gradient: the images x augmented (d_augment), or x and d_x themselves.
  Grid seen, d_seen;
  // d_augment: the current block's augmentation draws (4 per lane, gan_augment.h) and its valid lanes.
  const int64_t* draws = nullptr;
  int64_t draw_lanes = 0;
  float *code, *d_out, *out;  // code [code_width][kLanes]; D's output and its gradient: one lane block each
  std::array<int, kLanes> real_slots{}, fake_slots{};  // class-conditional: each lane's class slot
  // d_norm = "spectral": D's weights divided by their σ at D's internal offsets, and each matrix's factors.
  std::vector<float> normalized;
  std::vector<SpectralFactors> factors;

  struct Block {
    Grid x, seen, h1, h2, g2, g1;
    const int64_t* draws = nullptr;
    int64_t draw_lanes = 0;
    float *code, *d_out;
    std::array<int, kLanes> real_slots{}, fake_slots{};
  };
  std::vector<Block> stored;  // d_minibatch = "stddev": every block of the batch; empty otherwise
  // d_minibatch = "stddev": per feature j of D's last hidden layer (h2's interior, in dense_to_one's
  // order) its batch mean and 1 / (F B sqrt(var_j + eps)), the factor of ∂s/∂f_ij = (f_ij - mean_j) / (F B
  // sqrt(var_j + eps)).
  float *feature_mean = nullptr, *feature_factor = nullptr;

  // channels: the generator's; d_channels: the discriminator's; blocks: the lane blocks to keep (0 unless
  // d_minibatch = "stddev"); augment: d_augment is on (D's input gets grids of its own).
  GanScratch(int64_t channels, int64_t d_channels, int64_t code_width, int64_t params, int64_t blocks, bool augment)
      : LaneScratch(params), stored(static_cast<size_t>(blocks)), augment_(augment) {
    const int64_t side = kImageSide;
    const auto add_activations = [&](Grid& x_, Grid& seen_, Grid& h1_, Grid& h2_, Grid& g2_, Grid& g1_) {
      add(x_, 1, side), add(h1_, d_channels, side / 2), add(h2_, 2 * d_channels, side / 4);
      add(g2_, 2 * channels, side / 4), add(g1_, channels, side / 2);
      if (augment) add(seen_, 1, side);
    };
    if (stored.empty()) add_activations(x, seen, h1, h2, g2, g1);
    for (Block& b : stored) add_activations(b.x, b.seen, b.h1, b.h2, b.g2, b.g1);
    add(logits, 1, side);
    add(d_x, 1, side), add(d_logits, 1, side), add(d_g1, channels, side / 2), add(d_g2, 2 * channels, side / 4);
    if (augment) add(d_seen, 1, side);
    add(d_h2, 2 * d_channels, side / 4), add(d_h1, d_channels, side / 2);
    const int64_t per_block = code_width * kLanes + kLanes, features = 2 * d_channels * (side / 4) * (side / 4);
    code = place(code_width * kLanes + 2 * kLanes + blocks * per_block + 2 * features);
    d_out = code + code_width * kLanes, out = d_out + kLanes;
    float* next = out + kLanes;
    for (Block& b : stored) b.code = next, b.d_out = next + code_width * kLanes, next += per_block;
    if (!stored.empty()) feature_mean = next, feature_factor = next + features;
    alias_unaugmented();
  }

  // d_minibatch = "stddev": x, seen, h1, h2, g2, g1, code, d_out and the draws become block b's.
  Block& use_block(int64_t b) {
    Block& block = stored[static_cast<size_t>(b)];
    x = block.x, seen = block.seen, h1 = block.h1, h2 = block.h2, g2 = block.g2, g1 = block.g1, code = block.code;
    d_out = block.d_out, draws = block.draws, draw_lanes = block.draw_lanes;
    alias_unaugmented();
    return block;
  }

 private:
  // Without d_augment D reads the images and writes their gradient directly.
  void alias_unaugmented() {
    if (!augment_) seen = x, d_seen = d_x;
  }
  bool augment_;
};

// Minibatch standard deviation (d_minibatch = "stddev"): sqrt(variance + this), as the LibTorch path.
constexpr double kStddevEpsilon = 1e-8;

// log(1 + e^v) without overflow.
double softplus(double v) { return std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v))); }

class GanStep : public FastStep {
 public:
  explicit GanStep(const FamilyConfig& config)
      : config_(config), layout_(find_family("gan").layout(config)),
        labels_(config.condition == "label" ? config.num_classes : 0),
        stddev_(config.d_minibatch == "stddev"), augment_(augment_policy(config.d_augment)),
        d_adam_(adam_settings(config, config.d_steps)),
        offsets_(layout_, config.latent + labels_,
                 find_param(layout_, "discriminator.fc.weight").shape[1] - labels_ - (stddev_ ? 1 : 0), stddev_ ? 1 : 0),
        code_width_(offsets_.lanes.code_width()), tail_start_(d_loss_tail_start(config.steps)),
        real_target_(static_cast<float>(1.0 - config.label_smoothing)), slot_of_label_(class_slot_table({})) {
    if (config.d_norm == "spectral") {
      for (const char* name : {"discriminator.conv1.weight", "discriminator.conv2.weight", "discriminator.fc.weight"}) {
        const ParamLayout& param = find_param(layout_, name);
        const int64_t cols = param.numel() / param.shape[0];
        spectral_.push_back({offsets_.lanes.offset(name), param.shape[0], cols, spectral_start(cols)});
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
                                        internal_size(), stddev_ ? blocks() : 0, augment_.any());
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
    const int64_t blocks = this->blocks(), size = internal_size(), d_begin = offsets_.d_begin;
    double d_loss = 0.0;
    for (int64_t k = 0; k < config_.d_steps; ++k) {
      std::fill(s.grads(), s.grads() + size, 0.0f);
      const float* d_weights = discriminator_weights(model.params, s);
      // LibTorch's order: the fake labels, the codes, the real images' augmentations, the fakes'.
      const auto fake_slots = draw_slots(extras);
      const auto z = draw_codes(extras);
      const auto real_draws = augmentation_draws(extras), fake_draws = augmentation_draws(extras);
      d_loss = 0.0;
      if (stddev_) {  // D sees each batch whole: the real one, then the fake one
        for (int64_t block = 0; block < blocks; ++block) {
          GanScratch::Block& stored = s.use_block(block);
          const int64_t* real = batch_indices + k * config_.batch_size + block * kLanes;
          s.load_block(train, real, valid(block), s.x);
          if (labels_ > 0) {
            for (int64_t b = 0; b < valid(block); ++b) stored.real_slots[b] = slot_of_label_[train.labels[real[b]]];
          }
          augment_block(real_draws, block, s, &stored);
          discriminator_features(d_weights, s);
          prefetch.next_slice(blocks * config_.d_steps);
        }
        d_loss += discriminator_batch(d_weights, s, real_target_, true, true);
        fake_batch_features(model.params, z, fake_slots, fake_draws, d_weights, s);
        d_loss += discriminator_batch(d_weights, s, 0.0f, true, false);
      } else {  // block by block: a block's real and fake images through D, forward and backward
        for (int64_t block = 0; block < blocks; ++block) {
          const int64_t* real = batch_indices + k * config_.batch_size + block * kLanes;
          s.load_block(train, real, valid(block), s.x);
          if (labels_ > 0) {
            for (int64_t b = 0; b < valid(block); ++b) s.real_slots[b] = slot_of_label_[train.labels[real[b]]];
          }
          augment_block(real_draws, block, s);
          d_loss += discriminator_pass(d_weights, s, real_target_, true, valid(block), s.real_slots);
          generate(model.params, z, fake_slots, block, valid(block), s);
          augment_block(fake_draws, block, s);
          d_loss += discriminator_pass(d_weights, s, 0.0f, true, valid(block), s.fake_slots);
          prefetch.next_slice(blocks * config_.d_steps);
        }
      }
      d_loss /= static_cast<double>(config_.batch_size);
      for (size_t m = 0; m < spectral_.size(); ++m) {  // from the gradient of W / σ to that of W
        const SpectralMatrix& w = spectral_[m];
        spectral_backward(model.params + w.offset, w.rows, w.cols, s.factors[m], s.grads() + w.offset);
      }
      const int64_t d_step = (step - 1) * config_.d_steps + k + 1;
      const float d_lr = static_cast<float>(*model.lr * config_.d_lr_scale);
      adam_step(model.params + d_begin, s.grads() + d_begin, model.adam_m + d_begin, model.adam_v + d_begin, 1,
                size - d_begin, &d_lr, d_step, d_adam_);
    }
    std::fill(s.grads(), s.grads() + size, 0.0f);
    const auto fake_slots = draw_slots(extras);
    const auto z = draw_codes(extras);
    const auto fake_draws = augmentation_draws(extras);
    double g_loss = 0.0;
    const float* d_weights = discriminator_weights(model.params, s);
    if (stddev_) {  // the fake batch whole through D, then back through D into each block's generator pass
      fake_batch_features(model.params, z, fake_slots, fake_draws, d_weights, s);
      g_loss = discriminator_batch(d_weights, s, 1.0f, false, false, model.params);
    } else {
      for (int64_t block = 0; block < blocks; ++block) {
        generate(model.params, z, fake_slots, block, valid(block), s);
        augment_block(fake_draws, block, s);
        g_loss += discriminator_pass(d_weights, s, 1.0f, false, valid(block), s.fake_slots);
        generator_backward(model.params, s);
      }
    }
    g_loss /= static_cast<double>(config_.batch_size);
    adam_step(model.params, s.grads(), model.adam_m, model.adam_v, 1, d_begin, model.lr, step, *model.adam);
    if (step >= tail_start_) extras.tail_d_loss += d_loss;
    return d_loss + g_loss;
  }

 private:
  // The batch's lane blocks; a batch that is not a whole number of blocks fills its last block partly,
  // with its first valid(block) lanes.
  int64_t blocks() const { return (config_.batch_size + kLanes - 1) / kLanes; }
  int64_t valid(int64_t block) const { return std::min(kLanes, config_.batch_size - block * kLanes); }

  // A discriminator weight matrix spectral normalization divides: internal offset, rows x cols, and the
  // power iteration's start.
  struct SpectralMatrix {
    int64_t offset, rows, cols;
    std::vector<float> start;
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
      spectral_factors(p + w.offset, w.rows, w.cols, w.start, s.factors[m]);
      spectral_divide(p + w.offset, w.rows * w.cols, s.factors[m], s.normalized.data() + w.offset);
    }
    return s.normalized.data();
  }

  // Standard normal codes [batch, k] from the model's generator, as the LibTorch path draws them.
  torch::Tensor draw_codes(GanExtras& extras) const {
    return torch::randn({config_.batch_size, config_.latent}, extras.noise).contiguous();
  }
  // d_augment: the augmentation draws [batch, 4] of D's next batch of inputs, as the LibTorch path draws
  // them; undefined otherwise.
  torch::Tensor augmentation_draws(GanExtras& extras) const {
    return augment_.any() ? draw_augmentation(augment_, config_.batch_size, extras.noise) : torch::Tensor();
  }

  // d_augment: D's input s.seen for lane block `block` of the images in s.x, with the block's rows of draws
  // (its first valid(block) lanes; the others black), kept in s (and in `stored`, the block's copy, when
  // D runs over the whole batch) for augment_gradient. Nothing without d_augment (s.seen is s.x).
  void augment_block(const torch::Tensor& draws, int64_t block, GanScratch& s, GanScratch::Block* stored = nullptr) const {
    if (!augment_.any()) return;
    s.draws = draws.data_ptr<int64_t>() + block * kLanes * 4, s.draw_lanes = valid(block);
    if (stored != nullptr) stored->draws = s.draws, stored->draw_lanes = s.draw_lanes;
    for (int64_t y = 0; y < kImageSide; ++y) {
      for (int64_t x = 0; x < kImageSide; ++x) {
        float* out = s.seen.at(0, y, x);
        std::fill(out, out + kLanes, 0.0f);
        for (int64_t b = 0; b < s.draw_lanes; ++b) {
          const int64_t source = augmented_source(s.draws + 4 * b, y, x);
          if (source >= 0) out[b] = s.x.at(0, source / kImageSide, source % kImageSide)[b];
        }
      }
    }
  }

  // d_augment: the images' gradient s.d_x from D's input's s.d_seen, through the block's augmentation (each
  // augmented pixel passes its gradient back to its source pixel; black ones pass none).
  void augment_gradient(GanScratch& s) const {
    for (int64_t y = 0; y < kImageSide; ++y) {
      for (int64_t x = 0; x < kImageSide; ++x) std::fill(s.d_x.at(0, y, x), s.d_x.at(0, y, x) + kLanes, 0.0f);
    }
    for (int64_t y = 0; y < kImageSide; ++y) {
      for (int64_t x = 0; x < kImageSide; ++x) {
        const float* in = s.d_seen.at(0, y, x);
        for (int64_t b = 0; b < s.draw_lanes; ++b) {
          const int64_t source = augmented_source(s.draws + 4 * b, y, x);
          if (source >= 0) s.d_x.at(0, source / kImageSide, source % kImageSide)[b] += in[b];
        }
      }
    }
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
    lanes_from_rows(codes, valid, k, code_width_, s.code);
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
    discriminator_features(p, s);
    const double loss = discriminator_head(p, s, target, weights, valid, slots, 0.0f, nullptr);
    discriminator_backward(p, s, weights);
    return loss;
  }

  // D's convolutions on its input s.seen: its features in s.h2 (and s.h1).
  void discriminator_features(const float* p, GanScratch& s) const {
    const GanOffsets& o = offsets_;
    conv_kernels::conv(s.seen, p + o.conv1_w, p + o.conv1_b, s.h1, Epilogue::kLeakyRelu);
    conv_kernels::conv(s.h1, p + o.conv2_w, p + o.conv2_b, s.h2, Epilogue::kLeakyRelu);
  }

  // D's last layer on the features in s.h2 (plus, d_minibatch = "stddev", the batch's stddev feature
  // `stddev` and its weight): the block's summed loss (returned), the logits' gradient in s.d_out, the
  // last layer's weight gradients (weights = true) and ∂L/∂stddev added to *d_stddev (when not null).
  double discriminator_head(const float* p, GanScratch& s, float target, bool weights, int64_t valid,
                            const std::array<int, kLanes>& slots, float stddev, double* d_stddev) const {
    const GanOffsets& o = offsets_;
    float* g = s.grads();
    conv_kernels::dense_to_one(s.h2, p + o.d_fc_w, p[o.d_fc_b], s.out);
    if (stddev_) {
      for (int64_t b = 0; b < valid; ++b) s.out[b] += p[o.d_stddev] * stddev;
    }
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
      if (stddev_) {
        for (int64_t b = 0; b < valid; ++b) g[o.d_stddev] += s.d_out[b] * stddev;
      }
    }
    if (d_stddev != nullptr) {
      for (int64_t b = 0; b < valid; ++b) *d_stddev += static_cast<double>(s.d_out[b]) * p[o.d_stddev];
    }
    return loss;
  }

  // From s.d_out back through D: into D's weight gradients (weights = true) or into s.d_x only. With
  // d_minibatch = "stddev", d_stddev is ∂L/∂s of the whole batch, added to the features' gradient of
  // the block's first `valid` lanes through ∂s/∂f_ij (s.feature_mean, s.feature_factor); 0 otherwise.
  void discriminator_backward(const float* p, GanScratch& s, bool weights, int64_t valid = 0,
                              float d_stddev = 0.0f) const {
    const GanOffsets& o = offsets_;
    float* g = s.grads();
    conv_kernels::dense_from_one(s.d_out, p + o.d_fc_w, s.d_h2, Epilogue::kLeakyMaskBy, &s.h2);
    if (d_stddev != 0.0f) add_stddev_gradient(s, valid, d_stddev);
    conv_kernels::conv_backward(s.h1, s.d_h2, p + o.conv2_w, weights ? g + o.conv2_w : nullptr,
                                weights ? g + o.conv2_b : nullptr, &s.d_h1, Epilogue::kLeakyMaskBy);
    conv_kernels::conv_backward(s.seen, s.d_h1, p + o.conv1_w, weights ? g + o.conv1_w : nullptr,
                                weights ? g + o.conv1_b : nullptr, weights ? nullptr : &s.d_seen, Epilogue::kNone);
    if (!weights && augment_.any()) augment_gradient(s);
  }

  // d_minibatch = "stddev": the minibatch standard deviation of D's features f_ij (feature j of h2's
  // interior, image i of the batch: the first valid(block) lanes of every stored block, B = batch_size,
  // F features),
  //   s = (1/F) sum_j sqrt(var_j + eps),  var_j = (1/B) sum_i (f_ij - mean_j)^2,  eps = 1e-8,
  // the sums in float over lane blocks (kernels/conv.h), the deviations in double; keeps mean_j and
  // 1 / (F B sqrt(var_j + eps)) per feature for add_stddev_gradient.
  float minibatch_stddev(GanScratch& s) const {
    const Grid& shape = s.stored[0].h2;
    const int64_t features = shape.channels * shape.side * shape.side, blocks = this->blocks();
    const double images = static_cast<double>(config_.batch_size);
    float* sums = s.feature_factor;  // the sums, then the squares, before the factors replace them
    std::fill_n(sums, features, 0.0f);
    for (int64_t block = 0; block < blocks; ++block) {
      conv_kernels::masked_feature_sums(s.stored[static_cast<size_t>(block)].h2, valid(block), sums);
    }
    for (int64_t j = 0; j < features; ++j) s.feature_mean[j] = static_cast<float>(sums[j] / images);
    std::fill_n(sums, features, 0.0f);
    for (int64_t block = 0; block < blocks; ++block) {
      conv_kernels::centered_square_sums(s.stored[static_cast<size_t>(block)].h2, valid(block), s.feature_mean, sums);
    }
    double total = 0.0;
    for (int64_t j = 0; j < features; ++j) {
      const double deviation = std::sqrt(sums[j] / images + kStddevEpsilon);
      total += deviation;
      s.feature_factor[j] = static_cast<float>(1.0 / (static_cast<double>(features) * images * deviation));
    }
    return static_cast<float>(total / static_cast<double>(features));
  }

  // d_minibatch = "stddev": adds d_stddev ∂s/∂f_ij = d_stddev (f_ij - mean_j) / (F B sqrt(var_j + eps)),
  // through D's leaky ReLU (f = h2 is its output: positive where its input was), to s.d_h2 for the
  // current block's first `valid` lanes; padded lanes are not in s and get nothing.
  void add_stddev_gradient(GanScratch& s, int64_t valid, float d_stddev) const {
    conv_kernels::add_leaky_centered(s.h2, s.feature_mean, s.feature_factor, d_stddev, s.d_h2, valid);
  }

  // d_minibatch = "stddev": generates the fake batch block by block into the stored blocks (images, G's
  // activations and class slots kept for the backward pass) and runs D's convolutions on each, ready for
  // discriminator_batch. Shared by the discriminator and the generator step.
  void fake_batch_features(const float* params, const torch::Tensor& z, const torch::Tensor& fake_slots,
                           const torch::Tensor& fake_draws, const float* d_weights, GanScratch& s) const {
    for (int64_t block = 0; block < blocks(); ++block) {
      GanScratch::Block& stored = s.use_block(block);
      generate(params, z, fake_slots, block, valid(block), s);
      stored.fake_slots = s.fake_slots;
      augment_block(fake_draws, block, s, &stored);
      discriminator_features(d_weights, s);
    }
  }

  // d_minibatch = "stddev": D's last layer and backward pass on a whole batch whose features are in the
  // stored blocks (discriminator_features of each), against the target: the batch's summed loss, with
  // every block's gradient as in discriminator_pass plus the gradient through the stddev feature s.
  // real: the lanes' class slots are the blocks' real_slots, else their fake_slots. The generator step
  // (weights = false) continues each block into G's weight gradients (generator_backward with the
  // model's own weights `generator`: p may be D's spectrally normalized copy, which holds D's only).
  double discriminator_batch(const float* p, GanScratch& s, float target, bool weights, bool real,
                             const float* generator = nullptr) const {
    const float stddev = minibatch_stddev(s);
    const int64_t blocks = this->blocks();
    double loss = 0.0, d_stddev = 0.0;
    for (int64_t block = 0; block < blocks; ++block) {
      const GanScratch::Block& stored = s.use_block(block);
      loss += discriminator_head(p, s, target, weights, valid(block), real ? stored.real_slots : stored.fake_slots,
                                 stddev, &d_stddev);
    }
    for (int64_t block = 0; block < blocks; ++block) {
      s.use_block(block);
      discriminator_backward(p, s, weights, valid(block), static_cast<float>(d_stddev));
      if (!weights) generator_backward(generator, s);
    }
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
  bool stddev_;     // d_minibatch = "stddev"
  AugmentPolicy augment_;  // d_augment
  AdamSettings d_adam_;    // the discriminator's Adam: d_steps updates per step
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
