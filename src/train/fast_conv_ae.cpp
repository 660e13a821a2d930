#include "train/fast_conv_ae.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "data/dataset.h"
#include "data/image.h"
#include "job/job.h"
#include "models/family.h"
#include "train/conv_kernels.h"
#include "train/data_stream.h"
#include "train/linear_kernels.h"

namespace genzoo {

namespace {

using conv_kernels::Epilogue;
using conv_kernels::Grid;
using conv_kernels::kLanes;

// The internal layout: AlignedLayout (rows of 16 weights are aligned vectors) with
// encoder.fc.weight transposed ([features, code]: one 16-float code row per feature).
struct Offsets {
  AlignedLayout aligned;
  int64_t conv1_w, conv1_b, conv2_w, conv2_b, enc_w, enc_b, dec_w, dec_b, convt1_w, convt1_b, convt2_w, convt2_b;
  int64_t features;  // of the dense layers: 2c x 7 x 7

  explicit Offsets(const Layout& layout) : aligned(layout) {
    const auto at = [&](const char* name) { return aligned.offset(name); };
    conv1_w = at("encoder.conv1.weight"), conv1_b = at("encoder.conv1.bias");
    conv2_w = at("encoder.conv2.weight"), conv2_b = at("encoder.conv2.bias");
    enc_w = at("encoder.fc.weight"), enc_b = at("encoder.fc.bias");
    dec_w = at("decoder.fc.weight"), dec_b = at("decoder.fc.bias");
    convt1_w = at("decoder.convt1.weight"), convt1_b = at("decoder.convt1.bias");
    convt2_w = at("decoder.convt2.weight"), convt2_b = at("decoder.convt2.bias");
    features = find_param(layout, "encoder.fc.weight").shape.at(1);
  }
};

// Activations and gradients of one 16-sample lane block, every grid with its zero border.
struct ConvScratch : LaneScratch {
  Grid x, h1, h2, g2, g1, logits, d_logits, d_g1, d_g2, d_h2, d_h1;
  float *code, *d_code;  // [16][kLanes] each

  ConvScratch(int64_t channels, int64_t params) : LaneScratch(params) {
    const int64_t side = kImageSide;
    add(x, 1, side), add(h1, channels, side / 2), add(h2, 2 * channels, side / 4);
    add(g2, 2 * channels, side / 4), add(g1, channels, side / 2), add(logits, 1, side);
    add(d_logits, 1, side), add(d_g1, channels, side / 2), add(d_g2, 2 * channels, side / 4);
    add(d_h2, 2 * channels, side / 4), add(d_h1, channels, side / 2);
    code = place(2 * kLanes * kLanes), d_code = code + kLanes * kLanes;
  }
};

class ConvAeStep : public GradientStep {
 public:
  explicit ConvAeStep(const FamilyConfig& config)
      : config_(config), layout_(find_family("conv_ae").layout(config)), offsets_(layout_) {}

  const Layout& layout() const override { return layout_; }
  int64_t internal_size() const override { return offsets_.aligned.size(); }
  void to_internal(const float* canonical, float* internal) const override {
    offsets_.aligned.to_internal(canonical, internal);
    kernels::transpose(canonical + find_param(layout_, "encoder.fc.weight").offset, kLanes, offsets_.features,
                       internal + offsets_.enc_w);
  }
  void to_canonical(const float* internal, float* canonical) const override {
    offsets_.aligned.to_canonical(internal, canonical);
    kernels::transpose(internal + offsets_.enc_w, offsets_.features, kLanes,
                       canonical + find_param(layout_, "encoder.fc.weight").offset);
  }
  std::unique_ptr<StepScratch> make_scratch() const override {
    return std::make_unique<ConvScratch>(config_.channels, offsets_.aligned.size());
  }

  double gradients(const ImageSet& train, const int64_t* batch_indices, const FastModel& model, StepScratch& scratch,
                   BatchPrefetcher& prefetch) const override {
    auto& s = static_cast<ConvScratch&>(scratch);
    const float* params = model.params;
    std::fill(s.grads(), s.grads() + offsets_.aligned.size(), 0.0f);
    const int64_t blocks = config_.batch_size / kLanes;
    const float elements = static_cast<float>(config_.batch_size * kImagePixels);
    double squared = 0.0, code_l1 = 0.0;
    for (int64_t block = 0; block < blocks; ++block) {
      load_images(train, batch_indices + block * kLanes, s);
      forward(params, s);
      squared += conv_kernels::sigmoid_squared_error(s.logits, s.x, 2.0f / elements, s.d_logits);
      code_l1 += backward(params, s);
      prefetch.next_slice(blocks);
    }
    const double codes = static_cast<double>(config_.batch_size * kLanes);
    return squared / elements + config_.reg_weight * code_l1 / codes;
  }

 private:
  // The 16 images as the input grid: pixel (y, x) of sample b at x.at(0, y, x)[b].
  static void load_images(const ImageSet& train, const int64_t* indices, ConvScratch& s) {
    gather_images(train, indices, kLanes, s.images.data());
    conv_kernels::load_images(s.images.data(), s.x);
  }

  void forward(const float* p, ConvScratch& s) const {
    const Offsets& o = offsets_;
    conv_kernels::conv(s.x, p + o.conv1_w, p + o.conv1_b, s.h1, Epilogue::kRelu);
    conv_kernels::conv(s.h1, p + o.conv2_w, p + o.conv2_b, s.h2, Epilogue::kRelu);
    conv_kernels::dense_to_narrow(s.h2, p + o.enc_w, p + o.enc_b, s.code);
    conv_kernels::dense_from_narrow(s.code, p + o.dec_w, p + o.dec_b, s.g2, Epilogue::kRelu);
    conv_kernels::conv_transposed(s.g2, p + o.convt1_w, p + o.convt1_b, s.g1, Epilogue::kRelu);
    conv_kernels::conv_transposed(s.g1, p + o.convt2_w, p + o.convt2_b, s.logits, Epilogue::kNone);
  }

  // Gradients of the block's loss into s.gradient (accumulated over blocks), layer by layer back:
  // each layer's input gradient is the other convolution kind with the same weights, masked by the
  // ReLU of the forward pass. Returns the block's sum |code| (sparse regularizer, else 0).
  double backward(const float* p, ConvScratch& s) const {
    const Offsets& o = offsets_;
    float* g = s.grads();
    conv_kernels::conv_transposed_backward(s.g1, s.d_logits, p + o.convt2_w, g + o.convt2_w, g + o.convt2_b, &s.d_g1,
                                           Epilogue::kMaskBy);
    conv_kernels::conv_transposed_backward(s.g2, s.d_g1, p + o.convt1_w, g + o.convt1_w, g + o.convt1_b, &s.d_g2,
                                           Epilogue::kMaskBy);

    conv_kernels::dense_weight_grad(s.d_g2, s.code, g + o.dec_w);
    conv_kernels::feature_sums(s.d_g2, g + o.dec_b);
    conv_kernels::dense_to_narrow(s.d_g2, p + o.dec_w, nullptr, s.d_code);
    const double code_l1 = config_.regularizer == "sparse" ? add_sparse_gradient(s) : 0.0;

    conv_kernels::dense_weight_grad(s.h2, s.d_code, g + o.enc_w);
    conv_kernels::add_lane_sums(s.d_code, g + o.enc_b);
    conv_kernels::dense_from_narrow(s.d_code, p + o.enc_w, nullptr, s.d_h2, Epilogue::kMaskBy, &s.h2);

    conv_kernels::conv_backward(s.h1, s.d_h2, p + o.conv2_w, g + o.conv2_w, g + o.conv2_b, &s.d_h1, Epilogue::kMaskBy);
    conv_kernels::conv_backward(s.x, s.d_h1, p + o.conv1_w, g + o.conv1_w, g + o.conv1_b, nullptr,  // not the images'
                               Epilogue::kNone);
    return code_l1;
  }

  // Adds the L1 penalty's gradient, weight / (batch x code) x sign per code element; returns sum |code|.
  double add_sparse_gradient(ConvScratch& s) const {
    const float per_code = static_cast<float>(config_.reg_weight) / static_cast<float>(config_.batch_size * kLanes);
    double l1 = 0.0;
    for (int64_t i = 0; i < kLanes * kLanes; ++i) {
      const float z = s.code[i];
      l1 += std::fabs(z);
      s.d_code[i] += per_code * static_cast<float>((z > 0.0f) - (z < 0.0f));
    }
    return l1;
  }

  FamilyConfig config_;
  Layout layout_;
  Offsets offsets_;
};

}  // namespace

LaneScratch::LaneScratch(int64_t params) : gradient(params), images(kLanes * kImagePixels) {}

void LaneScratch::add(Grid& grid, int64_t channels, int64_t side) {
  grid.channels = channels, grid.side = side;
  grids_.push_back(&grid);
}

float* LaneScratch::place(int64_t extra) {
  int64_t total = extra;
  for (const Grid* grid : grids_) total += grid->floats();
  storage = AlignedFloats(total);
  float* next = storage.data();
  for (Grid* grid : grids_) grid->data = next, next += grid->floats();
  return next;
}

int64_t LaneScratch::bytes() const {
  return static_cast<int64_t>(sizeof(float) * (storage.size() + gradient.size() + images.size()));
}

std::unique_ptr<FastStep> make_conv_ae_step(const FamilyConfig& config) {
  const bool regularizer_supported = config.regularizer == "none" || config.regularizer == "sparse";
  if (config.name != "conv_ae" || config.latent != kLanes || config.batch_size % kLanes != 0 || !regularizer_supported) {
    return nullptr;
  }
  return std::make_unique<ConvAeStep>(config);
}

}  // namespace genzoo
