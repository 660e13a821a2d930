#include "models/conv_ae_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "models/family.h"
#include "kernels/conv.h"
#include "train/data_stream.h"
#include "train/lane_step.h"
#include "kernels/linear.h"

namespace genzoo {

namespace {

using conv_kernels::Epilogue;
using conv_kernels::Grid;
using conv_kernels::kLanes;

// The internal layout: LaneLayout with the code padded to whole lane blocks and encoder.fc.weight
// transposed ([features][code_width]: one row of code weights per feature).
struct Offsets {
  LaneLayout lanes;
  int64_t conv1_w, conv1_b, conv2_w, conv2_b, enc_w, enc_b, dec_w, dec_b, convt1_w, convt1_b, convt2_w, convt2_b;

  Offsets(const Layout& layout, int64_t code)
      : lanes(layout, code,
              {{"encoder.fc.weight", LaneLayout::Form::kCodeRowsTransposed},
               {"encoder.fc.bias", LaneLayout::Form::kCodeBias},
               {"decoder.fc.weight", LaneLayout::Form::kCodeColumns}}) {
    const auto at = [&](const char* name) { return lanes.offset(name); };
    conv1_w = at("encoder.conv1.weight"), conv1_b = at("encoder.conv1.bias");
    conv2_w = at("encoder.conv2.weight"), conv2_b = at("encoder.conv2.bias");
    enc_w = at("encoder.fc.weight"), enc_b = at("encoder.fc.bias");
    dec_w = at("decoder.fc.weight"), dec_b = at("decoder.fc.bias");
    convt1_w = at("decoder.convt1.weight"), convt1_b = at("decoder.convt1.bias");
    convt2_w = at("decoder.convt2.weight"), convt2_b = at("decoder.convt2.bias");
  }
};

// Activations and gradients of one 16-sample lane block, every grid with its zero border.
struct ConvScratch : LaneScratch {
  Grid x, h1, h2, g2, g1, logits, d_logits, d_g1, d_g2, d_h2, d_h1;
  float *code, *d_code;  // [code_width][kLanes] each

  ConvScratch(int64_t channels, int64_t code_width, int64_t params) : LaneScratch(params) {
    const int64_t side = kImageSide;
    add(x, 1, side), add(h1, channels, side / 2), add(h2, 2 * channels, side / 4);
    add(g2, 2 * channels, side / 4), add(g1, channels, side / 2), add(logits, 1, side);
    add(d_logits, 1, side), add(d_g1, channels, side / 2), add(d_g2, 2 * channels, side / 4);
    add(d_h2, 2 * channels, side / 4), add(d_h1, channels, side / 2);
    code = place(2 * code_width * kLanes), d_code = code + code_width * kLanes;
  }
};

class ConvAeStep : public GradientStep {
 public:
  explicit ConvAeStep(const FamilyConfig& config)
      : config_(config), layout_(find_family("conv_ae").layout(config)), offsets_(layout_, config.latent),
        code_width_(offsets_.lanes.code_width()) {}

  const Layout& layout() const override { return layout_; }
  int64_t internal_size() const override { return offsets_.lanes.size(); }
  void to_internal(const float* canonical, float* internal) const override {
    offsets_.lanes.to_internal(canonical, internal);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    offsets_.lanes.to_canonical(internal, canonical);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<ConvScratch>(config_.channels, code_width_, internal_size());
  }

  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<ConvScratch&>(scratch);
    const float* params = model.params;
    std::fill(s.grads(), s.grads() + internal_size(), 0.0f);
    // A batch that is not a whole number of blocks fills its last block partly.
    const int64_t blocks = (config_.batch_size + kLanes - 1) / kLanes;
    const float elements = static_cast<float>(config_.batch_size * kImagePixels);
    double squared = 0.0, code_l1 = 0.0;
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t valid = std::min(kLanes, config_.batch_size - block * kLanes);
      s.load_block(train, batch_indices + block * kLanes, valid, s.x);
      forward(params, s);
      squared += conv_kernels::sigmoid_squared_error(s.logits, s.x, 2.0f / elements, s.d_logits, valid);
      code_l1 += backward(params, s, valid);
      prefetch.next_slice(blocks);
    }
    const double codes = static_cast<double>(config_.batch_size * config_.latent);
    return squared / elements + config_.reg_weight * code_l1 / codes;
  }

 private:
  void forward(const float* p, ConvScratch& s) const {
    const Offsets& o = offsets_;
    conv_kernels::conv(s.x, p + o.conv1_w, p + o.conv1_b, s.h1, Epilogue::kRelu);
    conv_kernels::conv(s.h1, p + o.conv2_w, p + o.conv2_b, s.h2, Epilogue::kRelu);
    conv_kernels::dense_to_narrow(s.h2, p + o.enc_w, p + o.enc_b, s.code, code_width_);
    conv_kernels::dense_from_narrow(s.code, p + o.dec_w, p + o.dec_b, s.g2, Epilogue::kRelu, code_width_);
    conv_kernels::conv_transposed(s.g2, p + o.convt1_w, p + o.convt1_b, s.g1, Epilogue::kRelu);
    conv_kernels::conv_transposed(s.g1, p + o.convt2_w, p + o.convt2_b, s.logits, Epilogue::kNone);
  }

  // Gradients of the block's loss into s.gradient (accumulated over blocks), layer by layer back:
  // each layer's input gradient is the other convolution kind with the same weights, masked by the
  // ReLU of the forward pass. Returns the block's sum |code| over its `valid` samples (sparse
  // regularizer, else 0).
  double backward(const float* p, ConvScratch& s, int64_t valid) const {
    const Offsets& o = offsets_;
    float* g = s.grads();
    conv_kernels::conv_transposed_backward(s.g1, s.d_logits, p + o.convt2_w, g + o.convt2_w, g + o.convt2_b, &s.d_g1,
                                           Epilogue::kMaskBy);
    conv_kernels::conv_transposed_backward(s.g2, s.d_g1, p + o.convt1_w, g + o.convt1_w, g + o.convt1_b, &s.d_g2,
                                           Epilogue::kMaskBy);

    conv_kernels::dense_weight_grad(s.d_g2, s.code, g + o.dec_w, code_width_);
    conv_kernels::feature_sums(s.d_g2, g + o.dec_b);
    conv_kernels::dense_to_narrow(s.d_g2, p + o.dec_w, nullptr, s.d_code, code_width_);
    const double code_l1 = config_.regularizer == "sparse" ? add_sparse_gradient(s, valid) : 0.0;

    conv_kernels::dense_weight_grad(s.h2, s.d_code, g + o.enc_w, code_width_);
    conv_kernels::add_lane_sums(s.d_code, g + o.enc_b, code_width_);
    conv_kernels::dense_from_narrow(s.d_code, p + o.enc_w, nullptr, s.d_h2, Epilogue::kMaskBy, code_width_, &s.h2);

    conv_kernels::conv_backward(s.h1, s.d_h2, p + o.conv2_w, g + o.conv2_w, g + o.conv2_b, &s.d_h1, Epilogue::kMaskBy);
    conv_kernels::conv_backward(s.x, s.d_h1, p + o.conv1_w, g + o.conv1_w, g + o.conv1_b, nullptr,  // not the images'
                               Epilogue::kNone);
    return code_l1;
  }

  // Adds the L1 penalty's gradient, weight / (batch x code) x sign per code element of the block's
  // valid samples (padded code units are zero and get none); returns their sum |code|.
  double add_sparse_gradient(ConvScratch& s, int64_t valid) const {
    const float per_code = static_cast<float>(config_.reg_weight) / static_cast<float>(config_.batch_size * config_.latent);
    double l1 = 0.0;
    for (int64_t j = 0; j < config_.latent; ++j) {
      for (int64_t b = 0; b < valid; ++b) {
        const float z = s.code[j * kLanes + b];
        l1 += std::fabs(z);
        s.d_code[j * kLanes + b] += per_code * static_cast<float>((z > 0.0f) - (z < 0.0f));
      }
    }
    return l1;
  }

  FamilyConfig config_;
  Layout layout_;
  Offsets offsets_;
  int64_t code_width_;
};

}  // namespace

std::unique_ptr<FastStep> make_conv_ae_step(const FamilyConfig& config) {
  const bool regularizer_supported = config.regularizer == "none" || config.regularizer == "sparse";
  if (config.name != "conv_ae" || !regularizer_supported) return nullptr;
  return std::make_unique<ConvAeStep>(config);
}

}  // namespace genzoo
