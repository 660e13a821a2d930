// Tests for src/data/dataset.cpp: IDX round trips on tiny synthetic files (plain and gzip), one test
// per broken-file error message, and the real Debian Fashion-MNIST when it is installed.
#include "data/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"
#include "helpers.h"

namespace genzoo {
namespace {

using test::TempDir;
using test::read_text;
using test::write_text;

void append_big_endian_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& pixels) {
  std::string bytes;
  append_big_endian_u32(bytes, 0x00000803);
  append_big_endian_u32(bytes, count);
  append_big_endian_u32(bytes, rows);
  append_big_endian_u32(bytes, cols);
  bytes.append(pixels.begin(), pixels.end());
  return bytes;
}

std::string idx_labels(const std::vector<uint8_t>& labels) {
  std::string bytes;
  append_big_endian_u32(bytes, 0x00000801);
  append_big_endian_u32(bytes, static_cast<uint32_t>(labels.size()));
  bytes.append(labels.begin(), labels.end());
  return bytes;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

// Three 2x2 images whose pixels cover 0, 255 and values in between.
const std::vector<uint8_t> kPixels = {0, 255, 1, 128,  //
                                      10, 20, 30, 40,  //
                                      254, 3, 77, 200};
const std::vector<uint8_t> kLabels = {7, 0, 9};

void expect_tiny_set(const ImageSet& set) {
  ASSERT_EQ(set.size(), 3);
  EXPECT_EQ(set.rows, 2);
  EXPECT_EQ(set.cols, 2);
  EXPECT_EQ(set.dim(), 4);
  ASSERT_EQ(set.pixels.size(), kPixels.size());
  for (size_t i = 0; i < kPixels.size(); ++i) {
    EXPECT_EQ(set.pixels[i], pixel_value(kPixels[i])) << "pixel " << i;
  }
  EXPECT_EQ(set.pixels[0], 0.0f);
  EXPECT_EQ(set.pixels[1], 1.0f);
  EXPECT_EQ(set.image(2)[0], pixel_value(254));
  EXPECT_NEAR(set.image(2)[0], 254.0 / 255.0, 1e-7);
  EXPECT_EQ(set.labels, kLabels);
}

// Runs `read` and returns the DataError message, or fails the test if nothing (or something else) is thrown.
template <typename Fn>
std::string data_error_message(Fn&& read) {
  try {
    read();
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message should be one line: " << message;
    return message;
  }
  ADD_FAILURE() << "expected a DataError";
  return "";
}

// Sets an environment variable for one scope and restores its previous value afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

TEST(IdxReader, ReadsPlainFilesExactly) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels));
  write_text(dir.file("labels"), idx_labels(kLabels));
  expect_tiny_set(read_idx_pair(dir.file("images"), dir.file("labels")));
}

TEST(IdxReader, ReadsGzipFilesExactly) {
  TempDir dir;
  write_gzip(dir.file("images.gz"), idx_images(3, 2, 2, kPixels));
  write_gzip(dir.file("labels.gz"), idx_labels(kLabels));
  expect_tiny_set(read_idx_pair(dir.file("images.gz"), dir.file("labels.gz")));
}

TEST(IdxReader, DetectsGzipByContentNotByName) {
  TempDir dir;
  // Compressed without ".gz", plain with ".gz": both must still read.
  write_gzip(dir.file("images.idx"), idx_images(3, 2, 2, kPixels));
  write_text(dir.file("labels.gz"), idx_labels(kLabels));
  expect_tiny_set(read_idx_pair(dir.file("images.idx"), dir.file("labels.gz")));
}

TEST(IdxReader, IndicesOfClassAreAscending) {
  ImageSet set;
  set.labels = {3, 1, 3, 0, 3, 1};
  EXPECT_EQ(set.indices_of_class(3), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(set.indices_of_class(1), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(set.indices_of_class(0), (std::vector<int64_t>{3}));
  EXPECT_TRUE(set.indices_of_class(9).empty());
}

TEST(IdxReader, BadMagicNamesFileAndBothValues) {
  TempDir dir;
  // A label file given where images are expected.
  write_text(dir.file("labels-as-images"), idx_labels(kLabels));
  write_text(dir.file("labels"), idx_labels(kLabels));
  const std::string message = data_error_message(
      [&] { read_idx_pair(dir.file("labels-as-images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("labels-as-images")), std::string::npos) << message;
  EXPECT_NE(message.find("bad magic"), std::string::npos) << message;
  EXPECT_NE(message.find("expected 0x00000803"), std::string::npos) << message;
  EXPECT_NE(message.find("found 0x00000801"), std::string::npos) << message;
}

TEST(IdxReader, BadMagicOfNonIdxFile) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels));
  write_text(dir.file("labels.txt"), "hello, this is not IDX");
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels.txt")); });
  EXPECT_NE(message.find(dir.file("labels.txt")), std::string::npos) << message;
  EXPECT_NE(message.find("expected 0x00000801"), std::string::npos) << message;
  EXPECT_NE(message.find("found 0x68656c6c"), std::string::npos) << message;  // "hell"
  EXPECT_NE(message.find("not an IDX file"), std::string::npos) << message;
}

TEST(IdxReader, TruncatedPixelDataSaysExpectedAndFound) {
  TempDir dir;
  std::string bytes = idx_images(3, 2, 2, kPixels);
  bytes.resize(bytes.size() - 5);  // 7 of the 12 pixel bytes remain
  write_text(dir.file("images"), bytes);
  write_text(dir.file("labels"), idx_labels(kLabels));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images")), std::string::npos) << message;
  EXPECT_NE(message.find("truncated: expected 12 bytes of pixel data"), std::string::npos) << message;
  EXPECT_NE(message.find("found 7"), std::string::npos) << message;
}

TEST(IdxReader, TruncatedPixelDataInsideValidGzip) {
  TempDir dir;
  std::string bytes = idx_images(3, 2, 2, kPixels);
  bytes.resize(bytes.size() - 2);
  write_gzip(dir.file("images.gz"), bytes);
  write_text(dir.file("labels"), idx_labels(kLabels));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images.gz"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("expected 12 bytes of pixel data"), std::string::npos) << message;
  EXPECT_NE(message.find("found 10 after decompression"), std::string::npos) << message;
}

TEST(IdxReader, TruncatedLabelData) {
  TempDir dir;
  std::string labels = idx_labels(kLabels);
  labels.pop_back();
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels));
  write_text(dir.file("labels"), labels);
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("labels")), std::string::npos) << message;
  EXPECT_NE(message.find("expected 3 bytes of label data"), std::string::npos) << message;
  EXPECT_NE(message.find("found 2"), std::string::npos) << message;
}

TEST(IdxReader, TruncatedHeader) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels).substr(0, 10));
  write_text(dir.file("labels"), idx_labels(kLabels));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images")), std::string::npos) << message;
  EXPECT_NE(message.find("truncated IDX header: expected 16 bytes, found 10"), std::string::npos) << message;

  write_text(dir.file("images"), "");
  const std::string empty_message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(empty_message.find("truncated IDX header: expected 16 bytes, found 0"), std::string::npos)
      << empty_message;
}

TEST(IdxReader, HeaderClaimingFarMoreThanTheFileHolds) {
  TempDir dir;
  // 100000 images of 1000x1000 would be 100 GB; the file holds 12 bytes of pixels.
  write_text(dir.file("images"), idx_images(100000, 1000, 1000, kPixels));
  std::string labels = idx_labels(kLabels);
  labels.replace(4, 4, std::string("\x00\x01\x86\xa0", 4));  // count 100000, matching the images
  write_text(dir.file("labels"), labels);
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find("expected 100000000000 bytes of pixel data"), std::string::npos) << message;
  EXPECT_NE(message.find("found 12"), std::string::npos) << message;
}

TEST(IdxReader, ExtraBytesAfterPayload) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels) + "xyz");
  write_text(dir.file("labels"), idx_labels(kLabels));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images")), std::string::npos) << message;
  EXPECT_NE(message.find("3 unexpected bytes after the 12 bytes of pixel data"), std::string::npos)
      << message;
}

TEST(IdxReader, CountMismatchNamesBothFilesAndCounts) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels));
  write_text(dir.file("labels"), idx_labels({1, 2}));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find("count mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("images") + " has 3 images"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("labels") + " has 2 labels"), std::string::npos) << message;
}

TEST(IdxReader, ZeroImages) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(0, 28, 28, {}));
  write_text(dir.file("labels"), idx_labels({}));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images")), std::string::npos) << message;
  EXPECT_NE(message.find("zero images"), std::string::npos) << message;
}

TEST(IdxReader, LabelOutOfRangeNamesFileAndIndex) {
  TempDir dir;
  write_text(dir.file("images"), idx_images(3, 2, 2, kPixels));
  write_text(dir.file("labels"), idx_labels({1, 2, 12}));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("labels")), std::string::npos) << message;
  EXPECT_NE(message.find("label 12 at index 2"), std::string::npos) << message;
}

TEST(IdxReader, MissingFile) {
  TempDir dir;
  write_text(dir.file("labels"), idx_labels(kLabels));
  const std::string message =
      data_error_message([&] { read_idx_pair(dir.file("no-such-images"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("no-such-images")), std::string::npos) << message;
  EXPECT_NE(message.find("file not found"), std::string::npos) << message;
}

TEST(IdxReader, CorruptGzip) {
  TempDir dir;
  // Pseudo-random pixels so the deflate stream is long and not trivially repetitive.
  std::vector<uint8_t> pixels(50 * 28 * 28);
  uint32_t state = 12345;
  for (auto& p : pixels) {
    state = state * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(state >> 24);
  }
  write_gzip(dir.file("images.gz"), idx_images(50, 28, 28, pixels));
  write_text(dir.file("labels"), idx_labels(std::vector<uint8_t>(50, 4)));
  const std::string good = read_text(dir.file("images.gz"));
  ASSERT_EQ(static_cast<uint8_t>(good[0]), 0x1f);
  ASSERT_EQ(static_cast<uint8_t>(good[1]), 0x8b);
  ASSERT_EQ(read_idx_pair(dir.file("images.gz"), dir.file("labels")).size(), 50);

  std::string flipped = good;
  for (size_t i = good.size() / 2; i < good.size() / 2 + 8; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  write_text(dir.file("images.gz"), flipped);
  std::string message =
      data_error_message([&] { read_idx_pair(dir.file("images.gz"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt or truncated gzip data"), std::string::npos) << message;

  // A download cut short: the gzip stream ends early.
  write_text(dir.file("images.gz"), good.substr(0, good.size() / 2));
  message = data_error_message([&] { read_idx_pair(dir.file("images.gz"), dir.file("labels")); });
  EXPECT_NE(message.find(dir.file("images.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt or truncated gzip data"), std::string::npos) << message;

  // Only the CRC in the trailer is wrong: the data inflates fine but must still be rejected.
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(~bad_crc[bad_crc.size() - 8]);
  write_text(dir.file("images.gz"), bad_crc);
  message = data_error_message([&] { read_idx_pair(dir.file("images.gz"), dir.file("labels")); });
  EXPECT_NE(message.find("corrupt or truncated gzip data"), std::string::npos) << message;
}

// Writes a complete tiny Fashion-MNIST directory; `gzip` picks the file flavour.
void write_tiny_fashion_mnist(const TempDir& dir, bool gzip) {
  const std::string suffix = gzip ? ".gz" : "";
  auto write = [&](const std::string& name, const std::string& bytes) {
    if (gzip) {
      write_gzip(dir.file(name + suffix), bytes);
    } else {
      write_text(dir.file(name), bytes);
    }
  };
  write("train-images-idx3-ubyte", idx_images(3, 2, 2, kPixels));
  write("train-labels-idx1-ubyte", idx_labels(kLabels));
  write("t10k-images-idx3-ubyte", idx_images(1, 2, 2, {5, 6, 7, 8}));
  write("t10k-labels-idx1-ubyte", idx_labels({2}));
}

TEST(FashionMnist, LoadsPlainDirectory) {
  TempDir dir;
  write_tiny_fashion_mnist(dir, /*gzip=*/false);
  const Dataset dataset = load_fashion_mnist(dir.path());
  EXPECT_EQ(dataset.name, "fashion-mnist");
  EXPECT_EQ(dataset.dir, dir.path());
  EXPECT_EQ(dataset.num_classes(), 10);
  expect_tiny_set(dataset.train);
  ASSERT_EQ(dataset.test.size(), 1);
  EXPECT_EQ(dataset.test.pixels[3], pixel_value(8));
  EXPECT_EQ(dataset.test.labels[0], 2);
}

TEST(FashionMnist, PrefersGzipWhenBothExist) {
  TempDir dir;
  write_tiny_fashion_mnist(dir, /*gzip=*/true);
  // A plain train-images with different content next to the .gz: the .gz must win.
  write_text(dir.file("train-images-idx3-ubyte"), idx_images(3, 2, 2, std::vector<uint8_t>(12, 99)));
  const Dataset dataset = load_fashion_mnist(dir.path());
  expect_tiny_set(dataset.train);
}

TEST(FashionMnist, MissingFileNamesDirectoryAndHowToPointElsewhere) {
  TempDir dir;
  write_tiny_fashion_mnist(dir, /*gzip=*/true);
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
  const std::string message = data_error_message([&] { load_fashion_mnist(dir.path()); });
  EXPECT_NE(message.find("t10k-labels-idx1-ubyte"), std::string::npos) << message;
  EXPECT_NE(message.find("file not found"), std::string::npos) << message;
  EXPECT_NE(message.find("searched directory " + dir.path()), std::string::npos) << message;
  EXPECT_NE(message.find("--data"), std::string::npos) << message;
  EXPECT_NE(message.find("GENZOO_DATA"), std::string::npos) << message;
}

TEST(FashionMnist, MissingDirectory) {
  TempDir dir;
  const std::string missing = dir.file("nowhere");
  const std::string message = data_error_message([&] { load_fashion_mnist(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_NE(message.find("GENZOO_DATA"), std::string::npos) << message;
}

TEST(FashionMnist, TestAndTrainImageSizesMustAgree) {
  TempDir dir;
  write_tiny_fashion_mnist(dir, /*gzip=*/false);
  write_text(dir.file("t10k-images-idx3-ubyte"), idx_images(1, 1, 4, {5, 6, 7, 8}));
  const std::string message = data_error_message([&] { load_fashion_mnist(dir.path()); });
  EXPECT_NE(message.find(dir.file("t10k-images-idx3-ubyte") + ": images are 1x4"), std::string::npos)
      << message;
  EXPECT_NE(message.find("2x2"), std::string::npos) << message;
}

TEST(FashionMnist, ResolveDataDirPrecedence) {
  {
    ScopedEnv env("GENZOO_DATA", "/from/env");
    EXPECT_EQ(resolve_data_dir("/explicit"), "/explicit");
    EXPECT_EQ(resolve_data_dir(""), "/from/env");
  }
  {
    ScopedEnv env("GENZOO_DATA", nullptr);
    EXPECT_EQ(resolve_data_dir(""), "/usr/share/datasets/fashion-mnist");
  }
  {
    ScopedEnv env("GENZOO_DATA", "");  // set but empty counts as unset
    EXPECT_EQ(resolve_data_dir(""), "/usr/share/datasets/fashion-mnist");
  }
}

TEST(FashionMnist, ReadsDebianPackage) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << dir << " not installed (Debian package dataset-fashion-mnist)";
  }
  const auto start = std::chrono::steady_clock::now();
  const Dataset dataset = load_fashion_mnist(dir);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("loaded Fashion-MNIST (70000 images) in %.3f s\n", seconds);

  EXPECT_EQ(dataset.train.size(), 60000);
  EXPECT_EQ(dataset.test.size(), 10000);
  for (const ImageSet* set : {&dataset.train, &dataset.test}) {
    EXPECT_EQ(set->rows, 28);
    EXPECT_EQ(set->cols, 28);
    EXPECT_EQ(set->pixels.size(), static_cast<size_t>(set->size() * 784));
    float min_pixel = 1.0f, max_pixel = 0.0f;
    for (float p : set->pixels) {
      min_pixel = std::min(min_pixel, p);
      max_pixel = std::max(max_pixel, p);
    }
    EXPECT_EQ(min_pixel, 0.0f);
    EXPECT_EQ(max_pixel, 1.0f);
    for (uint8_t label : set->labels) ASSERT_LE(label, 9);
  }
  for (int label = 0; label < 10; ++label) {
    EXPECT_EQ(dataset.train.indices_of_class(label).size(), 6000u) << "class " << label;
    EXPECT_EQ(dataset.test.indices_of_class(label).size(), 1000u) << "class " << label;
  }
}

}  // namespace
}  // namespace genzoo
