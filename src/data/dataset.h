// Image classification data in memory: Fashion-MNIST (or any IDX pair) as float pixels in [0, 1].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

// Pixel intensity in [0, 1] of a raw byte. A multiplication (not b / 255.0f, whose vector division is
// slow) so that hot loops converting raw bytes on the fly produce exactly ImageSet::pixels.
inline float pixel_value(uint8_t byte) { return static_cast<float>(byte) * (1.0f / 255.0f); }

struct ImageSet {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> pixels;     // [size, rows*cols], row-major, pixel_value(byte)
  std::vector<uint8_t> bytes;    // [size, rows*cols], the raw pixels: a quarter of the memory
                                 // traffic for hot loops that convert on the fly
  std::vector<uint8_t> labels;   // [size]

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t dim() const { return rows * cols; }
  const float* image(int64_t i) const { return pixels.data() + i * dim(); }
  // Indices of all samples with the given label, ascending.
  std::vector<int64_t> indices_of_class(int label) const;
};

struct Dataset {
  std::string name;   // "fashion-mnist"
  std::string dir;    // directory the files were read from
  ImageSet train;
  ImageSet test;
  int num_classes() const { return 10; }
};

// Directory of the dataset: explicit (--data or the job's data.dir) > $GENZOO_DATA > Debian's package.
std::string resolve_data_dir(const std::string& explicit_dir);

// Reads an IDX image file and its IDX label file (each gzip-compressed or plain). Throws DataError
// naming the file and the problem (missing, bad magic, truncated, count mismatch).
ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path);

// Reads train-{images,labels} and t10k-{images,labels} (".gz" or plain) from dir.
Dataset load_fashion_mnist(const std::string& dir);

}  // namespace genzoo
