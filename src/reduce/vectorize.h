// Vectorizations (DESIGN.md section 6): a model's flat weights -> a fixed-length feature vector.
// Each registers by name ("svd", "hist", "layer_stats", "latent_mean"), like model families; reduce and
// inspect find them through this registry. LibTorch-free: implementations live in vectorizations.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/layout.h"

namespace genzoo {

struct FamilyWeights;

// One vectorization of the models of one family: rows aligned with model_ids.
struct FeatureMatrix {
  std::string name;    // vectorization
  std::string family;
  std::vector<int64_t> model_ids;
  int64_t dim = 0;
  std::vector<float> data;  // [model_ids.size(), dim]
  int64_t rows() const { return static_cast<int64_t>(model_ids.size()); }
  const float* row(int64_t i) const { return data.data() + i * dim; }
};

// What some vectorizations need besides the weights.
struct VectorizeContext {
  // The fixed probe set of latent_mean and probe_error: [probe_count, 784] pixels in [0, 1] and each
  // image's class as an index into the zoo's classes (0..probe_classes-1); empty when not loaded.
  std::vector<float> probe_images;
  std::vector<int64_t> probe_labels;
  std::vector<int64_t> class_labels;  // the dataset label of each of the zoo's classes
  int64_t probe_count = 0;
  int64_t probe_classes = 0;
};

class Vectorization {
 public:
  virtual ~Vectorization() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Whether this vectorization is defined for a family with this layout; `why_not` says why not.
  virtual bool applies_to(const std::string& family, const Layout& layout, std::string* why_not) const { return true; }
  // Whether compute() reads VectorizeContext::probe_images.
  virtual bool needs_probe_images() const { return false; }
  virtual int64_t dim(const std::string& family, const Layout& layout, const VectorizeContext& context) const = 0;
  // weights: [rows, layout_size(layout)] -> out: [rows, dim(layout)].
  virtual void compute(const std::string& family, const Layout& layout, const float* weights, int64_t rows, const VectorizeContext& context,
                       float* out) const = 0;
};

// Throws ReduceError listing the registered vectorizations when the name is unknown.
const Vectorization& find_vectorization(const std::string& name);
std::vector<std::string> vectorization_names();

// The vectorization of the given rows (indices into weights.model_ids) of one family's weights.
FeatureMatrix vectorize(const Vectorization& vectorization, const FamilyWeights& weights,
                        const std::vector<int64_t>& rows, const VectorizeContext& context);

// Weight matrices the vectorizations see: parameters of rank >= 2, viewed as [shape[0], rest]
// (conv kernels [out, in, kh, kw] -> [out, in*kh*kw]).
struct MatrixView {
  const ParamLayout* param = nullptr;
  int64_t rows = 0, cols = 0;
};
std::vector<MatrixView> weight_matrices(const Layout& layout);

// Fixed histogram bins of a parameter: kHistBins bins on [-r, r], r = kHistRange / sqrt(fan_in) with
// fan_in = numel / shape[0] (the scale PyTorch's default init uses); values outside fall in the end bins.
constexpr int64_t kHistBins = 16;
constexpr double kHistRange = 3.0;
double hist_half_range(const MatrixView& matrix);

namespace detail {
struct VectorizationRegistration {
  explicit VectorizationRegistration(std::unique_ptr<Vectorization> vectorization);
};
}  // namespace detail

#define GENZOO_REGISTER_VECTORIZATION(ClassName)                                   \
  static ::genzoo::detail::VectorizationRegistration genzoo_vectorization_##ClassName( \
      std::make_unique<ClassName>())

}  // namespace genzoo
