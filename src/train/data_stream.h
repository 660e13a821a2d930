// Each model's own stream of minibatches over its own training samples: epoch-wise reshuffled with
// the model's seed, so a model sees the same batches whichever batch-mates or rank train it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/rng.h"

namespace genzoo {

struct ImageSet;

class SampleStream {
 public:
  SampleStream(std::vector<int64_t> indices, uint64_t seed);
  // Writes the next batch_size dataset indices (continuing into the next epoch when one ends).
  void next_batch(int64_t batch_size, int64_t* out);

 private:
  std::vector<int64_t> order_;
  size_t position_ = 0;
  Rng rng_;
};

// Copies the images of idx[0..n) into out [n, dim], converting the raw bytes (bit-identical to
// ImageSet::pixels).
void gather_images(const ImageSet& images, const int64_t* idx, int64_t n, float* out);

}  // namespace genzoo
