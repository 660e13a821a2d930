// Tests for src/train/fast_trainer.cpp (and the FastStep implementations' layouts): which
// configurations get a hand-written step, aligned buffers, and the internal parameter order
// round-tripping to the canonical one. The training loop itself is exercised through
// train_weights in trainer_test.cpp.
#include "train/fast_trainer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "job/job.h"

namespace genzoo::test {
namespace {

bool is_aligned(const float* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

TEST(AlignedFloats, StartsOnACacheLineZeroFilledAndSurvivesAMove) {
  for (const int64_t count : {1, 15, 16, 1000, 100000}) {
    AlignedFloats floats(count);
    ASSERT_TRUE(is_aligned(floats.data())) << count;
    EXPECT_EQ(floats.size(), count);
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(floats[i], 0.0f) << count;
    floats[count - 1] = 7.0f;
    const float* before = floats.data();
    AlignedFloats moved(std::move(floats));
    EXPECT_EQ(moved.data(), before);  // the vector's buffer moved with it
    EXPECT_EQ(moved[count - 1], 7.0f);
  }
}

FamilyConfig family(const std::string& name) {
  FamilyConfig config;
  config.name = name;
  config.latent = 16;
  config.channels = 8;
  config.batch_size = 64;
  return config;
}

TEST(FastStep, OnlyTheConfigurationsTheKernelsImplement) {
  EXPECT_NE(make_fast_step(family("linear_ae")), nullptr);
  EXPECT_NE(make_fast_step(family("conv_ae")), nullptr);
  EXPECT_NE(make_fast_step(family("vae")), nullptr);
  EXPECT_NE(make_fast_step(family("gan")), nullptr);
  FamilyConfig config = family("gan");
  config.condition = "label";
  EXPECT_EQ(make_fast_step(config), nullptr);
  config = family("linear_ae");
  config.regularizer = "denoising";
  EXPECT_EQ(make_fast_step(config), nullptr);
  config.regularizer = "contractive";
  EXPECT_NE(make_fast_step(config), nullptr);
  config = family("conv_ae");
  config.regularizer = "contractive";
  EXPECT_EQ(make_fast_step(config), nullptr);
  config.regularizer = "sparse";
  EXPECT_NE(make_fast_step(config), nullptr);
}

// Distinct values through to_internal and back give the canonical vector again; the internal
// vector holds every value (a permutation plus zero padding).
TEST(FastStep, InternalOrderRoundTrips) {
  for (const std::string name : {"linear_ae", "conv_ae", "gan", "vae"}) {
    for (const int64_t channels : {4, 8}) {
      FamilyConfig config = family(name);
      config.channels = channels;
      const auto step = make_fast_step(config);
      ASSERT_NE(step, nullptr);
      const int64_t canonical_size = layout_size(step->layout());
      ASSERT_GE(step->internal_size(), canonical_size) << name;
      std::vector<float> canonical(canonical_size);
      std::iota(canonical.begin(), canonical.end(), 1.0f);
      AlignedFloats internal(step->internal_size());
      step->to_internal(canonical.data(), internal.data());
      double internal_sum = 0.0;
      for (int64_t i = 0; i < internal.size(); ++i) internal_sum += internal[i];
      const double n = static_cast<double>(canonical_size);
      EXPECT_DOUBLE_EQ(internal_sum, n * (n + 1) / 2) << name;
      std::vector<float> back(canonical_size, -1.0f);
      step->to_canonical(internal.data(), back.data());
      EXPECT_EQ(back, canonical) << name << " channels " << channels;
    }
  }
}

// conv_ae's internal tensors start on lane-vector boundaries (aligned rows for the kernels).
TEST(FastStep, ConvAeInternalSizeIsWholeVectors) {
  const auto step = make_fast_step(family("conv_ae"));
  EXPECT_EQ(step->internal_size() % 16, 0);
  EXPECT_LT(step->internal_size() - layout_size(step->layout()), 16 * static_cast<int64_t>(step->layout().size()));
}

}  // namespace
}  // namespace genzoo::test
