#include "train/data_stream.h"

#include <cstring>

#include "data/dataset.h"

namespace genzoo {

SampleStream::SampleStream(std::vector<int64_t> indices, uint64_t seed) : order_(std::move(indices)), rng_(seed) {
  rng_.shuffle(order_);
}

void SampleStream::next_batch(int64_t batch_size, int64_t* out) {
  for (int64_t i = 0; i < batch_size; ++i) {
    if (position_ == order_.size()) {
      rng_.shuffle(order_);
      position_ = 0;
    }
    out[i] = order_[position_++];
  }
}

void gather_images(const ImageSet& images, const int64_t* idx, int64_t n, float* out) {
  const int64_t dim = images.dim();
  if (images.bytes.size() != images.pixels.size()) {  // an ImageSet built without raw bytes
    for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * dim, images.image(idx[i]), sizeof(float) * dim);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* __restrict src = images.bytes.data() + idx[i] * dim;
    float* __restrict dst = out + i * dim;
    for (int64_t d = 0; d < dim; ++d) dst[d] = pixel_value(src[d]);
  }
}

}  // namespace genzoo
