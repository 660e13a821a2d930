#include "data/gaussian_source.h"

#include <cmath>

#include "common/rng.h"
#include "job/job.h"

namespace genzoo {

namespace {

ImageSet gaussian_vectors(int64_t count, const DataConfig& data, const std::vector<double>& spectrum, Rng& rng) {
  ImageSet set;
  set.rows = 1;
  set.cols = data.dimension;
  set.pixels.resize(static_cast<size_t>(count * data.dimension));
  set.labels.assign(static_cast<size_t>(count), 0);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < data.dimension; ++j) {
      set.pixels[i * data.dimension + j] = static_cast<float>(data.mean + std::sqrt(spectrum[j]) * rng.normal());
    }
  }
  return set;
}

}  // namespace

Dataset gaussian_dataset(const DataConfig& data, uint64_t seed) {
  const std::vector<double> spectrum = data.gaussian_spectrum();
  Dataset dataset;
  dataset.name = "gaussian";
  Rng train_rng(mix_seed(seed, 0x6761757373ULL)), test_rng(mix_seed(seed, 0x74657374ULL));
  dataset.train = gaussian_vectors(data.pool, data, spectrum, train_rng);
  dataset.test = gaussian_vectors(data.test_pool, data, spectrum, test_rng);
  return dataset;
}

Dataset load_job_dataset(const Job& job, const std::string& explicit_dir) {
  if (job.data.gaussian()) return gaussian_dataset(job.data, job.seed);
  return load_fashion_mnist(resolve_data_dir(explicit_dir.empty() ? job.data.dir : explicit_dir));
}

}  // namespace genzoo
