// The gaussian data source (issue 15, seed 000's theorem): a pool X of data.pool vectors
// x ~ N(mean 1, diag(spectrum)) in R^d as the training split and data.test_pool more as the test split,
// drawn from the job seed. It is an ImageSet of rows = 1, cols = d with every label 0 (one class), so the
// plan, training and evaluation take it as they take images; its values are not pixels (no raw bytes).
// With data.target = "linear" every vector carries y = xᵀw + target_noise · ε as its last column
// (d + 1 columns): seed 004's synthetic regression, w ~ N(0, I) drawn from the job seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace genzoo {

struct DataConfig;
struct Job;

Dataset gaussian_dataset(const DataConfig& data, uint64_t seed);

// The regression target's weights w [d] (empty without a target).
std::vector<double> regression_weights(const DataConfig& data, uint64_t seed);

// The job's data: the gaussian pool, or Fashion-MNIST from explicit_dir / the job's dir / $GENZOO_DATA /
// Debian's package (DataError naming the directory when it is missing or corrupt).
Dataset load_job_dataset(const Job& job, const std::string& explicit_dir);

}  // namespace genzoo
