// Tests for src/train/data_stream.cpp: a model's sample stream visits each of its samples once per
// epoch, is a pure function of its seed, and gather_images converts raw bytes bit-exactly.
#include "train/data_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "data/dataset.h"
#include "helpers.h"

namespace genzoo::test {
namespace {

// Arbitrary, non-contiguous dataset indices (a model's samples are a subset of the split).
std::vector<int64_t> some_indices(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(3 + 7 * i + (i % 3));
  return v;
}

std::vector<int64_t> draw(SampleStream& stream, int64_t n, int64_t batch) {
  std::vector<int64_t> out(n);
  for (int64_t start = 0; start < n; start += batch) stream.next_batch(std::min(batch, n - start), out.data() + start);
  return out;
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(SampleStream, EveryEpochCoversEachSampleExactlyOnce) {
  const auto indices = some_indices(50);
  SampleStream stream(indices, 42);
  // Batches of 7 do not divide 50: epochs end mid-batch.
  const auto seen = draw(stream, 4 * 50, 7);
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 4; ++e) {
    epochs.emplace_back(seen.begin() + e * 50, seen.begin() + (e + 1) * 50);
    EXPECT_EQ(sorted(epochs.back()), indices) << "epoch " << e;
  }
  // Reshuffled each epoch, and not left in the given order.
  EXPECT_NE(epochs[0], indices);
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
}

TEST(SampleStream, IsDeterministicPerSeedAndIndependentOfBatchSize) {
  const auto indices = some_indices(40);
  SampleStream a(indices, 9), b(indices, 9), c(indices, 9);
  const auto from_a = draw(a, 130, 16);
  EXPECT_EQ(from_a, draw(b, 130, 16));
  // The stream is a sequence: how it is cut into batches does not change it.
  EXPECT_EQ(from_a, draw(c, 130, 5));
}

TEST(SampleStream, DifferentSeedsGiveDifferentOrders) {
  const auto indices = some_indices(40);
  SampleStream a(indices, 1), b(indices, 2);
  const auto from_a = draw(a, 40, 40), from_b = draw(b, 40, 40);
  EXPECT_NE(from_a, from_b);
  EXPECT_EQ(sorted(from_a), sorted(from_b));
}

TEST(SampleStream, BatchLargerThanTheSamplesWrapsIntoTheNextEpoch) {
  const auto indices = some_indices(5);
  SampleStream stream(indices, 3);
  std::vector<int64_t> batch(12, -1);
  stream.next_batch(12, batch.data());
  EXPECT_EQ(sorted({batch.begin(), batch.begin() + 5}), indices);
  EXPECT_EQ(sorted({batch.begin() + 5, batch.begin() + 10}), indices);
  // The third epoch has started: its first two samples are distinct, and the next batch finishes it.
  EXPECT_NE(batch[10], batch[11]);
  std::vector<int64_t> rest(3, -1);
  stream.next_batch(3, rest.data());
  std::vector<int64_t> third = {batch[10], batch[11], rest[0], rest[1], rest[2]};
  EXPECT_EQ(sorted(third), indices);
}

TEST(SampleStream, SingleSampleRepeats) {
  SampleStream stream({17}, 5);
  std::vector<int64_t> batch(4, -1);
  stream.next_batch(4, batch.data());
  EXPECT_EQ(batch, std::vector<int64_t>(4, 17));
}

// Every byte value 0..255 appears; pixels filled as the IDX loader fills them (pixel_value).
ImageSet all_byte_values() {
  ImageSet set;
  set.rows = 4;
  set.cols = 8;
  const int64_t count = 10;
  for (int64_t i = 0; i < count * set.dim(); ++i) set.bytes.push_back(static_cast<uint8_t>((i * 37 + i / 256) % 256));
  for (int64_t i = 0; i < count; ++i) set.labels.push_back(static_cast<uint8_t>(i % 3));
  for (uint8_t b : set.bytes) set.pixels.push_back(pixel_value(b));
  return set;
}

void expect_rows_bit_exact(const ImageSet& set, const std::vector<int64_t>& idx, const std::vector<float>& out) {
  for (size_t i = 0; i < idx.size(); ++i) {
    EXPECT_EQ(std::memcmp(out.data() + i * set.dim(), set.image(idx[i]), sizeof(float) * set.dim()), 0)
        << "row " << i << " (image " << idx[i] << ")";
  }
}

TEST(GatherImages, EqualsPixelRowsBitExactly) {
  const ImageSet set = all_byte_values();
  std::vector<uint8_t> values(set.bytes.begin(), set.bytes.end());
  std::sort(values.begin(), values.end());
  ASSERT_EQ(std::unique(values.begin(), values.end()) - values.begin(), 256) << "the set should hold every byte value";
  const std::vector<int64_t> idx = {9, 0, 3, 3, 7, 1, 8, 2, 4, 5, 6};  // any order, repeats allowed
  std::vector<float> out(idx.size() * set.dim(), -1.0f);
  gather_images(set, idx.data(), static_cast<int64_t>(idx.size()), out.data());
  expect_rows_bit_exact(set, idx, out);
}

TEST(GatherImages, UsesPixelsWhenThereAreNoRawBytes) {
  ImageSet set = all_byte_values();
  set.bytes.clear();
  for (auto& p : set.pixels) p = p * 0.5f + 0.125f;  // not pixel_value of any byte: must be copied
  const std::vector<int64_t> idx = {2, 5, 0};
  std::vector<float> out(idx.size() * set.dim(), -1.0f);
  gather_images(set, idx.data(), static_cast<int64_t>(idx.size()), out.data());
  expect_rows_bit_exact(set, idx, out);
}

TEST(GatherImages, SyntheticDatasetHelperKeepsBytesAndPixelsConsistent) {
  const ImageSet set = synthetic_images(4, 3, 11);
  ASSERT_EQ(set.size(), 12);
  ASSERT_EQ(set.dim(), 784);
  std::vector<int64_t> idx(set.size());
  for (int64_t i = 0; i < set.size(); ++i) idx[i] = set.size() - 1 - i;
  std::vector<float> out(idx.size() * set.dim());
  gather_images(set, idx.data(), set.size(), out.data());
  expect_rows_bit_exact(set, idx, out);
}

}  // namespace
}  // namespace genzoo::test
