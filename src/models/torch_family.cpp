#include "models/torch_family.h"

#include <cmath>

#include "common/rng.h"
#include "data/dataset.h"
#include "job/job.h"
#include "models/latent_density.h"

namespace genzoo {

int64_t TorchFamily::code_width(const FamilyConfig& config) const { return config.latent; }

StackedParams view_params(const torch::Tensor& flat, const Layout& layout) {
  StackedParams params;
  const int64_t models = flat.size(0);
  for (const auto& p : layout) {
    std::vector<int64_t> shape{models};
    shape.insert(shape.end(), p.shape.begin(), p.shape.end());
    params[p.name] = flat.narrow(1, p.offset, p.numel()).view(shape);
  }
  return params;
}

torch::Tensor labels_of(const ImageSet& images, const int64_t* indices, int64_t n) {
  auto labels = torch::empty({n}, torch::kLong);
  int64_t* out = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) out[i] = images.labels[indices[i]];
  return labels;
}

torch::Generator noise_generator(uint64_t model_seed) {
  return at::make_generator<at::CPUGeneratorImpl>(mix_seed(model_seed, 0x6e6f697365ULL));  // "noise"
}

torch::Tensor sample_class_slots(const std::vector<double>& proportions, int64_t count, torch::Generator& generator) {
  const auto probabilities = torch::tensor(proportions).to(torch::kFloat);
  return torch::multinomial(probabilities, count, true, generator);
}

ClassSlotTable class_slot_table(const std::vector<int64_t>& class_labels) {
  ClassSlotTable table;
  table.fill(-1);
  for (size_t slot = 0; slot < class_labels.size(); ++slot) {
    const int64_t label = class_labels[slot];
    if (label >= 0 && label < static_cast<int64_t>(table.size())) table[label] = static_cast<int>(slot);
  }
  return table;
}

int64_t generator_param_count(const Layout& layout) {
  int64_t count = 0;
  for (const auto& p : layout) {
    if (p.role != "generator") break;
    count = p.offset + p.numel();
  }
  return count;
}

int64_t averaged_param_count(const Layout& layout) {
  const int64_t generator = generator_param_count(layout);
  return generator > 0 ? generator : trained_param_count(layout);
}

void init_flat_params(float* flat, const Layout& layout, uint64_t seed) {
  Rng rng(seed);
  // PyTorch convention: fan_in = shape[1] * receptive field (also for transposed convolutions,
  // whose weights are [in, out, kh, kw]); a bias uses the fan_in of the weight before it.
  int64_t last_fan_in = 1;
  for (const auto& p : layout) {
    int64_t fan_in = 1;
    if (p.shape.size() >= 2) {
      fan_in = p.shape[1];
      for (size_t d = 2; d < p.shape.size(); ++d) fan_in *= p.shape[d];
      last_fan_in = fan_in;
    } else {
      fan_in = last_fan_in;
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    float* out = flat + p.offset;
    if (p.role == kLatentDensityRole) continue;  // not trained: N(0, I) until fitted, below
    for (int64_t i = 0; i < p.numel(); ++i) out[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  }
  if (has_latent_density(layout)) {
    const ParamLayout& means = find_param(layout, "latent_density.means");
    write_latent_density(standard_mixture(means.shape[0], means.shape[1]), layout, flat);
  }
}

torch::Tensor corrupt_inputs(const torch::Tensor& x, const FamilyConfig& config, std::vector<torch::Generator>& generators) {
  if (config.regularizer != "denoising" || config.noise_level <= 0.0) return x;
  std::vector<torch::Tensor> rows;
  rows.reserve(x.size(0));
  for (int64_t m = 0; m < x.size(0); ++m) {
    // Noise is drawn on the CPU from the model's own generator, then moved: identical on any device.
    const auto row = x[m];
    auto noise = torch::empty(row.sizes());
    if (config.noise == "mask") {
      rows.push_back(row * noise.bernoulli_(1.0 - config.noise_level, generators[m]).to(x.device()));
    } else {
      rows.push_back(row + noise.normal_(0.0, config.noise_level, generators[m]).to(x.device()));
    }
  }
  return torch::stack(rows);
}

}  // namespace genzoo
