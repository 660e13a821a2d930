// IDX reader for Fashion-MNIST-style data: a big-endian header (magic, dims), then raw unsigned bytes.
// Every file goes through zlib's gz* API, which inflates gzip data (recognised by its 1f 8b magic,
// whatever the file is called) and passes plain files through unchanged.
#include "data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/error.h"

namespace genzoo {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dims: n, rows, cols
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dim: n
constexpr int kNumClasses = 10;
constexpr const char* kDebianDataDir = "/usr/share/datasets/fashion-mnist";

// Far larger than any real image set (1 TiB); a header claiming more is corrupt.
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 40;
constexpr size_t kMaxGzreadBytes = size_t{1} << 30;  // gzread counts in int
// Payload is read in slices this size: small enough to stay in cache while it is converted.
constexpr size_t kReadSliceBytes = size_t{1} << 20;

std::string hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// What a magic number means, so a wrong one can be recognised ("this is a label file").
std::string describe_magic(uint32_t magic) {
  if (magic == kImagesMagic) return "IDX images";
  if (magic == kLabelsMagic) return "IDX labels";
  if ((magic >> 16) == 0x1f8b) return "gzip data inside gzip";
  const uint32_t type = (magic >> 8) & 0xff;
  const bool idx_type = type == 0x08 || type == 0x09 || (type >= 0x0b && type <= 0x0e);
  if ((magic >> 16) == 0 && idx_type) {
    char text[48];
    std::snprintf(text, sizeof text, "IDX type 0x%02x with %u dims", type, magic & 0xff);
    return text;
  }
  return "not an IDX file";
}

uint32_t read_big_endian_u32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

// A gzip-or-plain file opened for reading; every failure becomes a DataError naming the file.
class CompressedOrPlainFile {
 public:
  explicit CompressedOrPlainFile(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) fail("file not found");
    if (std::filesystem::is_directory(path, ec)) fail("is a directory, not an IDX file");
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) fail(std::string("cannot open: ") + std::strerror(errno));
    gzbuffer(file_, 1 << 20);  // fewer, larger reads: the train images are ~26 MB compressed
  }
  ~CompressedOrPlainFile() {
    if (file_) gzclose(file_);
  }
  CompressedOrPlainFile(const CompressedOrPlainFile&) = delete;
  CompressedOrPlainFile& operator=(const CompressedOrPlainFile&) = delete;

  // Reads up to `size` bytes; returns fewer only when the data ends.
  size_t read(uint8_t* out, size_t size) {
    size_t total = 0;
    while (total < size) {
      const unsigned slice = static_cast<unsigned>(std::min(size - total, kMaxGzreadBytes));
      const int got = gzread(file_, out + total, slice);
      check_stream();  // a short or failed read may mean corrupt gzip, not merely end of data
      if (got <= 0) break;
      total += static_cast<size_t>(got);
      if (static_cast<unsigned>(got) < slice) break;
    }
    return total;
  }

  // Counts (and discards) what is left; reading to the end also makes zlib verify the gzip CRC.
  uint64_t count_remaining() {
    std::vector<uint8_t> sink(1 << 16);
    uint64_t total = 0;
    size_t got;
    while ((got = read(sink.data(), sink.size())) > 0) total += got;
    return total;
  }

  bool is_gzip() { return gzdirect(file_) == 0; }

  [[noreturn]] void fail(const std::string& problem) const {
    throw DataError(path_ + ": " + problem);
  }

 private:
  void check_stream() {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_OK) return;
    if (code == Z_ERRNO) fail(std::string("read error: ") + std::strerror(errno));
    // zlib prefixes its message with the path, which our own prefix already gives.
    std::string detail = message ? message : "unknown error";
    const std::string prefix = path_ + ": ";
    if (detail.compare(0, prefix.size(), prefix) == 0) detail.erase(0, prefix.size());
    fail("corrupt or truncated gzip data (zlib: " + detail + ")");
  }

  std::string path_;
  gzFile file_ = nullptr;
};

// One IDX file: the constructor opens it and checks the header (magic, dims); read_payload then
// streams the data to a consumer in slices through one small buffer, so pixels are converted while
// still in cache and no whole-file byte copy is held.
class IdxReader {
 public:
  IdxReader(const std::string& path, uint32_t expected_magic, int num_dims) : file_(path) {
    const size_t header_bytes = 4 + 4 * static_cast<size_t>(num_dims);
    uint8_t header[16];
    const size_t header_found = file_.read(header, header_bytes);
    after_inflate_ = file_.is_gzip() ? " after decompression" : "";
    const std::string truncated_header = "truncated IDX header: expected " + std::to_string(header_bytes) +
                                         " bytes, found " + std::to_string(header_found) + after_inflate_;
    if (header_found < 4) file_.fail(truncated_header);
    const uint32_t magic = read_big_endian_u32(header);
    if (magic != expected_magic) {
      file_.fail("bad magic number: expected " + hex32(expected_magic) + " (" +
                 describe_magic(expected_magic) + "), found " + hex32(magic) + " (" +
                 describe_magic(magic) + ")");
    }
    if (header_found < header_bytes) file_.fail(truncated_header);

    for (int d = 0; d < num_dims; ++d) {
      const uint32_t extent = read_big_endian_u32(header + 4 + 4 * d);
      dims_.push_back(extent);
      shape_ += (d ? "x" : "") + std::to_string(extent);
      // Saturate instead of overflowing; the limit check below rejects it.
      payload_bytes_ = extent != 0 && payload_bytes_ > kMaxPayloadBytes / extent
                           ? kMaxPayloadBytes + 1
                           : payload_bytes_ * extent;
    }
    if (payload_bytes_ > kMaxPayloadBytes) {
      file_.fail("implausible IDX dimensions " + shape_ + " (corrupt header?)");
    }
  }

  const std::vector<uint32_t>& dims() const { return dims_; }
  uint64_t payload_bytes() const { return payload_bytes_; }
  [[noreturn]] void fail(const std::string& problem) const { file_.fail(problem); }

  // Hands exactly payload_bytes() bytes to `consume`; fails if the file holds fewer or more.
  // `payload_name` ("pixel", "label") words the messages.
  template <typename Consume>
  void read_payload(const std::string& payload_name, Consume&& consume) {
    std::vector<uint8_t> slice(kReadSliceBytes);
    uint64_t bytes_read = 0;
    while (bytes_read < payload_bytes_) {
      const size_t wanted = static_cast<size_t>(std::min<uint64_t>(payload_bytes_ - bytes_read, slice.size()));
      const size_t got = file_.read(slice.data(), wanted);
      bytes_read += got;
      if (got < wanted) {
        file_.fail("truncated: expected " + std::to_string(payload_bytes_) + " bytes of " + payload_name +
                   " data (dimensions " + shape_ + "), found " + std::to_string(bytes_read) +
                   after_inflate_);
      }
      consume(slice.data(), got);
    }
    const uint64_t extra_bytes = file_.count_remaining();
    if (extra_bytes > 0) {
      file_.fail(std::to_string(extra_bytes) + " unexpected bytes after the " +
                 std::to_string(payload_bytes_) + " bytes of " + payload_name +
                 " data that dimensions " + shape_ + " call for (wrong header?)");
    }
  }

 private:
  CompressedOrPlainFile file_;
  std::vector<uint32_t> dims_;
  std::string shape_;
  uint64_t payload_bytes_ = 1;
  std::string after_inflate_;
};

// Reserves what a header claims, capped: a lying header must not allocate its claim before the
// data runs out (past the cap, the vector simply grows).
template <typename T>
void reserve_claimed(std::vector<T>& values, uint64_t claimed) {
  constexpr uint64_t kMaxReserveElements = uint64_t{1} << 26;
  values.reserve(static_cast<size_t>(std::min(claimed, kMaxReserveElements)));
}

// Prefers the compressed file (what Debian ships), else the plain one.
std::string find_idx_file(const std::string& dir, const std::string& base_name) {
  std::error_code ec;
  for (const std::string& candidate : {dir + "/" + base_name + ".gz", dir + "/" + base_name}) {
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  }
  const std::string where = std::filesystem::is_directory(dir, ec)
                                ? "directory " + dir
                                : "directory " + dir + " (which does not exist)";
  throw DataError(dir + "/" + base_name + "(.gz): file not found; searched " + where +
                  "; point --data or GENZOO_DATA at a directory with the Fashion-MNIST IDX files, "
                  "or install the Debian package dataset-fashion-mnist");
}

}  // namespace

std::vector<int64_t> ImageSet::indices_of_class(int label) const {
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < size(); ++i) {
    if (labels[i] == label) indices.push_back(i);
  }
  return indices;
}

std::string resolve_data_dir(const std::string& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  const char* from_env = std::getenv("GENZOO_DATA");
  if (from_env && *from_env) return from_env;
  return kDebianDataDir;
}

ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  // Headers first: a count mismatch or an empty file is reported before any payload is read.
  IdxReader images(images_path, kImagesMagic, 3);
  const uint32_t num_images = images.dims()[0];
  if (num_images == 0) images.fail("holds zero images");
  if (images.dims()[1] == 0 || images.dims()[2] == 0) {
    images.fail("images are " + std::to_string(images.dims()[1]) + "x" + std::to_string(images.dims()[2]) +
                " pixels");
  }
  IdxReader labels(labels_path, kLabelsMagic, 1);
  const uint32_t num_labels = labels.dims()[0];
  if (num_labels != num_images) {
    throw DataError("image/label count mismatch: " + images_path + " has " +
                    std::to_string(num_images) + " images but " + labels_path + " has " +
                    std::to_string(num_labels) + " labels");
  }

  ImageSet set;
  set.rows = images.dims()[1];
  set.cols = images.dims()[2];
  reserve_claimed(set.pixels, images.payload_bytes());
  reserve_claimed(set.bytes, images.payload_bytes());
  images.read_payload("pixel", [&set](const uint8_t* bytes, size_t count) {
    set.bytes.insert(set.bytes.end(), bytes, bytes + count);
    const size_t offset = set.pixels.size();
    set.pixels.resize(offset + count);
    float* out = set.pixels.data() + offset;
    for (size_t i = 0; i < count; ++i) out[i] = pixel_value(bytes[i]);
  });

  reserve_claimed(set.labels, labels.payload_bytes());
  labels.read_payload("label", [&set](const uint8_t* bytes, size_t count) {
    set.labels.insert(set.labels.end(), bytes, bytes + count);
  });
  for (size_t i = 0; i < set.labels.size(); ++i) {
    if (set.labels[i] >= kNumClasses) {
      labels.fail("label " + std::to_string(set.labels[i]) + " at index " + std::to_string(i) +
                  " is outside 0.." + std::to_string(kNumClasses - 1));
    }
  }
  return set;
}

Dataset load_fashion_mnist(const std::string& dir) {
  // Locate all four files first, so a wrong directory is reported before any reading.
  const std::string train_images = find_idx_file(dir, "train-images-idx3-ubyte");
  const std::string train_labels = find_idx_file(dir, "train-labels-idx1-ubyte");
  const std::string test_images = find_idx_file(dir, "t10k-images-idx3-ubyte");
  const std::string test_labels = find_idx_file(dir, "t10k-labels-idx1-ubyte");

  Dataset dataset;
  dataset.name = "fashion-mnist";
  dataset.dir = dir;
  dataset.train = read_idx_pair(train_images, train_labels);
  dataset.test = read_idx_pair(test_images, test_labels);
  if (dataset.test.rows != dataset.train.rows || dataset.test.cols != dataset.train.cols) {
    throw DataError(test_images + ": images are " + std::to_string(dataset.test.rows) + "x" +
                    std::to_string(dataset.test.cols) + " but " + train_images + " has " +
                    std::to_string(dataset.train.rows) + "x" + std::to_string(dataset.train.cols));
  }
  return dataset;
}

}  // namespace genzoo
