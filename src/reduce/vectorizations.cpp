// The registered vectorizations: svd, hist, layer_stats, latent_mean. Batched over models with LibTorch.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "job/job.h"
#include "models/family.h"
#include "models/torch_family.h"
#include "reduce/vectorize.h"
#include "data/image.h"

namespace genzoo {

namespace {

// A [rows, numel] view (float64) of one parameter of every model in a [rows, P] weight block.
torch::Tensor param_block(const ParamLayout& param, const float* weights, int64_t rows, int64_t params) {
  const auto all = torch::from_blob(const_cast<float*>(weights), {rows, params}, torch::kFloat32);
  return all.narrow(1, param.offset, param.numel()).to(torch::kFloat64);
}

int64_t total_params(const Layout& layout) { return layout_size(layout); }

// Copies a [rows, width] block into out [rows, dim] at column `column`.
void put_columns(const torch::Tensor& block, float* out, int64_t dim, int64_t column) {
  const auto values = block.to(torch::kFloat32).contiguous();
  const int64_t rows = values.size(0), width = values.size(1);
  const float* source = values.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r) std::copy_n(source + r * width, width, out + r * dim + column);
}

// Base of the vectorizations computed per weight matrix (see weight_matrices).
class WeightMatrixVectorization : public Vectorization {
 public:
  bool applies_to(const std::string& family, const Layout& layout, std::string* why_not) const override {
    if (!weight_matrices(layout).empty()) return true;
    if (why_not) *why_not = "the family has no weight matrices";
    return false;
  }
};

// Singular values of every weight matrix (descending within a matrix), matrices in layout order. For a
// linear AE these carry the data's information (seed 000 theorem).
class SvdVectorization : public WeightMatrixVectorization {
 public:
  std::string name() const override { return "svd"; }
  std::string description() const override {
    return "singular values of every weight matrix (conv kernels as [out, in*kh*kw]), descending, concatenated";
  }
  int64_t dim(const std::string& family, const Layout& layout, const VectorizeContext&) const override {
    int64_t dim = 0;
    for (const MatrixView& m : weight_matrices(layout)) dim += std::min(m.rows, m.cols);
    return dim;
  }
  void compute(const std::string& family, const Layout& layout, const float* weights, int64_t rows, const VectorizeContext& context,
               float* out) const override {
    const int64_t width = dim(family, layout, context);
    int64_t column = 0;
    for (const MatrixView& m : weight_matrices(layout)) {
      const auto matrices = param_block(*m.param, weights, rows, total_params(layout)).view({rows, m.rows, m.cols});
      put_columns(torch::linalg_svdvals(matrices), out, width, column);
      column += std::min(m.rows, m.cols);
    }
  }
};

// Fractions of every weight matrix's values in kHistBins fixed bins (see hist_half_range).
class HistVectorization : public WeightMatrixVectorization {
 public:
  std::string name() const override { return "hist"; }
  std::string description() const override {
    return "per weight matrix: fractions of values in 16 fixed bins on [-3/sqrt(fan_in), 3/sqrt(fan_in)] "
           "(outliers in the end bins)";
  }
  int64_t dim(const std::string& family, const Layout& layout, const VectorizeContext&) const override {
    return kHistBins * static_cast<int64_t>(weight_matrices(layout).size());
  }
  void compute(const std::string& family, const Layout& layout, const float* weights, int64_t rows, const VectorizeContext& context,
               float* out) const override {
    const int64_t width = dim(family, layout, context), params = total_params(layout);
    int64_t column = 0;
    for (const MatrixView& m : weight_matrices(layout)) {
      const double half = hist_half_range(m), bin_width = 2.0 * half / kHistBins;
      for (int64_t r = 0; r < rows; ++r) {
        const float* values = weights + r * params + m.param->offset;
        float* bins = out + r * width + column;
        const int64_t count = m.param->numel();
        for (int64_t i = 0; i < count; ++i) {
          const double position = std::floor((values[i] + half) / bin_width);
          const int64_t bin = std::isnan(position) ? 0 : static_cast<int64_t>(std::clamp(position, 0.0, double(kHistBins - 1)));
          bins[bin] += 1.0f;
        }
        for (int64_t b = 0; b < kHistBins; ++b) bins[b] /= static_cast<float>(count);
      }
      column += kHistBins;
    }
  }
};

// Per parameter tensor (weights and biases): mean, std (population), min, 25%, 50%, 75% quantiles
// (linear interpolation, as numpy), max.
class LayerStatsVectorization : public Vectorization {
 public:
  static constexpr int64_t kStats = 7;
  std::string name() const override { return "layer_stats"; }
  std::string description() const override {
    return "per parameter tensor: mean, std, min, q25, median, q75, max";
  }
  int64_t dim(const std::string& family, const Layout& layout, const VectorizeContext&) const override { return kStats * static_cast<int64_t>(layout.size()); }
  void compute(const std::string& family, const Layout& layout, const float* weights, int64_t rows, const VectorizeContext& context,
               float* out) const override {
    const int64_t width = dim(family, layout, context);
    const auto quantiles = torch::tensor({0.25, 0.5, 0.75}, torch::kFloat64);
    int64_t column = 0;
    for (const ParamLayout& param : layout) {
      const auto values = param_block(param, weights, rows, total_params(layout));
      const auto q = torch::quantile(values, quantiles, 1).transpose(0, 1);  // [rows, 3]
      const auto stats = torch::cat({values.mean(1, true), values.std(1, /*unbiased=*/false, true),
                                     std::get<0>(values.min(1, true)), q, std::get<0>(values.max(1, true))},
                                    1);
      put_columns(stats, out, width, column);
      column += kStats;
    }
  }
};

// Base of the vectorizations that run each model on the fixed probe images through its family's own
// networks. Defined for families with an encoder (the autoencoders and vae; not gan).
class ProbeImageVectorization : public Vectorization {
 public:
  // Models run together: bounds the [models, probe images, 784] input copy.
  static constexpr int64_t kModelsPerPass = 16;

  bool needs_probe_images() const override { return true; }
  bool applies_to(const std::string& family, const Layout& layout, std::string* why_not) const override {
    if (find_family(family).torch_impl().has_encoder()) return true;
    if (why_not) *why_not = family + " has no encoder";
    return false;
  }
  void compute(const std::string& family, const Layout& layout, const float* weights, int64_t rows,
               const VectorizeContext& context, float* out) const override {
    if (context.probe_count <= 0 || static_cast<int64_t>(context.probe_images.size()) != context.probe_count * kImagePixels ||
        static_cast<int64_t>(context.probe_labels.size()) != context.probe_count) {
      throw ReduceError(name() + ": needs probe images of " + std::to_string(kImagePixels) + " pixels with labels (got " +
                        std::to_string(context.probe_images.size()) + " values and " +
                        std::to_string(context.probe_labels.size()) + " labels for " +
                        std::to_string(context.probe_count) + " images)");
    }
    torch::NoGradGuard no_grad;
    const TorchFamily& networks = find_family(family).torch_impl();
    const int64_t params = total_params(layout), width = dim(family, layout, context);
    const auto images = torch::from_blob(const_cast<float*>(context.probe_images.data()), {1, context.probe_count, kImagePixels},
                                         torch::kFloat32);
    for (int64_t first = 0; first < rows; first += kModelsPerPass) {
      const int64_t count = std::min(kModelsPerPass, rows - first);
      const auto flat = torch::from_blob(const_cast<float*>(weights + first * params), {count, params}, torch::kFloat32);
      const auto features = per_model(networks, view_params(flat, layout), images.expand({count, context.probe_count, kImagePixels}),
                                      context);
      put_columns(features, out + first * width, width, 0);
    }
  }

 protected:
  // [models, dim] features of the models whose stacked parameters are given, on images [models, n, 784].
  virtual torch::Tensor per_model(const TorchFamily& networks, const StackedParams& params, const torch::Tensor& images,
                                  const VectorizeContext& context) const = 0;
};

// Mean code of the model on the fixed probe images (vae: of the posterior mean).
class LatentMeanVectorization : public ProbeImageVectorization {
 public:
  std::string name() const override { return "latent_mean"; }
  std::string description() const override {
    return "mean code of the model's encoder on the fixed probe images (vae: posterior mean)";
  }
  // The code width, read off the encoder's output for one zero image through zero weights.
  int64_t dim(const std::string& family, const Layout& layout, const VectorizeContext&) const override {
    torch::NoGradGuard no_grad;
    const auto flat = torch::zeros({1, layout_size(layout)});
    return find_family(family).torch_impl().codes(view_params(flat, layout), torch::zeros({1, 1, kImagePixels})).size(2);
  }

 protected:
  torch::Tensor per_model(const TorchFamily& networks, const StackedParams& params, const torch::Tensor& images,
                          const VectorizeContext&) const override {
    return networks.codes(params, images).to(torch::kFloat64).mean(1);
  }
};

// How well the model fits each class: its mean loss (reconstruction error; a classifier's cross-entropy)
// on the probe images of every class of the zoo. A model fits best what it saw most, so this reads the
// class proportions off the model's behaviour rather than its weights.
class ProbeErrorVectorization : public ProbeImageVectorization {
 public:
  std::string name() const override { return "probe_error"; }
  std::string description() const override {
    return "per class of the zoo: mean loss on that class's fixed probe images (reconstruction error; mlp: cross-entropy)";
  }
  bool applies_to(const std::string& family, const Layout& layout, std::string* why_not) const override {
    if (find_family(family).torch_impl().classifies()) return true;
    return ProbeImageVectorization::applies_to(family, layout, why_not);
  }
  int64_t dim(const std::string&, const Layout&, const VectorizeContext& context) const override {
    return context.probe_classes;
  }

 protected:
  torch::Tensor per_model(const TorchFamily& networks, const StackedParams& params, const torch::Tensor& images,
                          const VectorizeContext& context) const override {
    // The loss of the families with an encoder or a classifier's depends on the weights alone.
    const FamilyConfig unused_config;
    const auto labels = torch::tensor(context.probe_labels, torch::kInt64);
    torch::Tensor dataset_labels;  // what a classifier is scored against
    if (networks.classifies()) {
      if (static_cast<int64_t>(context.class_labels.size()) != context.probe_classes) {
        throw ReduceError(name() + ": a classifier's loss needs the dataset label of each of the zoo's " +
                          std::to_string(context.probe_classes) + " classes");
      }
      dataset_labels = torch::tensor(context.class_labels, torch::kInt64).index_select(0, labels).expand({images.size(0), -1});
    }
    const auto errors = networks.sample_loss(params, images, dataset_labels, unused_config).to(torch::kFloat64);  // [M, n]
    std::vector<torch::Tensor> per_class;
    for (int64_t c = 0; c < context.probe_classes; ++c) {
      per_class.push_back(errors.index_select(1, torch::nonzero(labels == c).view(-1)).mean(1));
    }
    return torch::stack(per_class, 1);
  }
};

GENZOO_REGISTER_VECTORIZATION(SvdVectorization);
GENZOO_REGISTER_VECTORIZATION(HistVectorization);
GENZOO_REGISTER_VECTORIZATION(LayerStatsVectorization);
GENZOO_REGISTER_VECTORIZATION(LatentMeanVectorization);
GENZOO_REGISTER_VECTORIZATION(ProbeErrorVectorization);

}  // namespace

}  // namespace genzoo
