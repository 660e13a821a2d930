#include "data/gaussian_source.h"

#include <cmath>

#include "common/rng.h"
#include "job/job.h"

namespace genzoo {

namespace {

// count vectors x ~ N(mean 1, diag(spectrum)), each followed by y = xᵀw + noise ε when w is given.
ImageSet gaussian_vectors(int64_t count, const DataConfig& data, const std::vector<double>& spectrum,
                          const std::vector<double>& w, Rng& rng) {
  const int64_t d = data.dimension, width = d + (w.empty() ? 0 : 1);
  ImageSet set;
  set.rows = 1;
  set.cols = width;
  set.pixels.resize(static_cast<size_t>(count * width));
  set.labels.assign(static_cast<size_t>(count), 0);
  for (int64_t i = 0; i < count; ++i) {
    float* row = set.pixels.data() + i * width;
    double y = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      row[j] = static_cast<float>(data.mean + std::sqrt(spectrum[j]) * rng.normal());
      if (!w.empty()) y += w[j] * row[j];
    }
    if (!w.empty()) row[d] = static_cast<float>(y + data.target_noise * rng.normal());
  }
  return set;
}

}  // namespace

std::vector<double> regression_weights(const DataConfig& data, uint64_t seed) {
  if (!data.regression()) return {};
  Rng rng(mix_seed(seed, 0x7461726765ULL));  // "targe"
  std::vector<double> w(static_cast<size_t>(data.dimension));
  for (double& v : w) v = rng.normal();
  return w;
}

Dataset gaussian_dataset(const DataConfig& data, uint64_t seed) {
  const std::vector<double> spectrum = data.gaussian_spectrum(), w = regression_weights(data, seed);
  Dataset dataset;
  dataset.name = "gaussian";
  Rng train_rng(mix_seed(seed, 0x6761757373ULL)), test_rng(mix_seed(seed, 0x74657374ULL));
  dataset.train = gaussian_vectors(data.pool, data, spectrum, w, train_rng);
  dataset.test = gaussian_vectors(data.test_pool, data, spectrum, w, test_rng);
  return dataset;
}

Dataset load_job_dataset(const Job& job, const std::string& explicit_dir) {
  if (job.data.gaussian()) return gaussian_dataset(job.data, job.seed);
  return load_fashion_mnist(resolve_data_dir(explicit_dir.empty() ? job.data.dir : explicit_dir));
}

}  // namespace genzoo
