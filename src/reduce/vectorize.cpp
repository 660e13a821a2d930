#include "reduce/vectorize.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/error.h"
#include "common/text.h"
#include "models/latent_density.h"
#include "store/zoo.h"

namespace genzoo {

namespace {
std::map<std::string, std::unique_ptr<Vectorization>>& registry() {
  static std::map<std::string, std::unique_ptr<Vectorization>> vectorizations;
  return vectorizations;
}
}  // namespace

detail::VectorizationRegistration::VectorizationRegistration(std::unique_ptr<Vectorization> vectorization) {
  const std::string name = vectorization->name();
  registry()[name] = std::move(vectorization);
}

const Vectorization& find_vectorization(const std::string& name) {
  const auto it = registry().find(name);
  if (it == registry().end()) {
    throw ReduceError("unknown vectorization '" + name + "' (registered: " + join(vectorization_names()) + ")");
  }
  return *it->second;
}

std::vector<std::string> vectorization_names() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

FeatureMatrix vectorize(const Vectorization& vectorization, const FamilyWeights& weights,
                        const std::vector<int64_t>& rows, const VectorizeContext& context) {
  FeatureMatrix features;
  features.name = vectorization.name();
  features.family = weights.family;
  features.dim = vectorization.dim(weights.family, weights.layout, context);
  const int64_t params = weights.param_count(), count = static_cast<int64_t>(rows.size());
  // The selected rows, contiguous, so that implementations see one [rows, P] block.
  std::vector<float> block(static_cast<size_t>(count * params));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = rows[i];
    if (row < 0 || row >= static_cast<int64_t>(weights.model_ids.size())) {
      throw ReduceError("vectorize " + features.name + ": row " + std::to_string(row) + " out of range for family " +
                        weights.family);
    }
    std::copy_n(weights.data.begin() + row * params, params, block.begin() + i * params);
    features.model_ids.push_back(weights.model_ids[row]);
  }
  features.data.assign(static_cast<size_t>(count * features.dim), 0.0f);
  if (count > 0) vectorization.compute(weights.family, weights.layout, block.data(), count, context, features.data.data());
  return features;
}

std::vector<MatrixView> weight_matrices(const Layout& layout) {
  std::vector<MatrixView> matrices;
  for (const ParamLayout& param : layout) {
    if (param.shape.size() < 2 || param.numel() == 0) continue;
    if (param.role == kLatentDensityRole) continue;  // a vae's fitted code density: statistics, not a layer's weights
    matrices.push_back({&param, param.shape[0], param.numel() / param.shape[0]});
  }
  return matrices;
}

double hist_half_range(const MatrixView& matrix) {
  return kHistRange / std::sqrt(static_cast<double>(matrix.cols));
}

}  // namespace genzoo
