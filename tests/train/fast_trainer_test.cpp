// Tests for src/train/fast_trainer.cpp (and the FastStep implementations' layouts): which
// configurations get a hand-written step, aligned buffers, and the internal parameter order
// round-tripping to the canonical one. The training loop itself is exercised through
// train_weights in trainer_test.cpp.
#include "train/fast_trainer.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "helpers.h"
#include "job/job.h"
#include "models/latent_density.h"
#include "plan/plan.h"

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
  EXPECT_NE(make_fast_step(config), nullptr);
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

// Adam and a step's gradient span the leading trained_size() internal floats: every trained tensor of a vae
// inside it, its latent density (fitted after training, never trained) after it; the other families train
// every internal float.
TEST(FastStep, TrainedSpanEndsBeforeTheVaesLatentDensity) {
  for (const std::string decoder : {"mlp", "conv"}) {
    for (const std::string density : {"standard", "mixture"}) {
      SCOPED_TRACE(decoder + " " + density);
      FamilyConfig config = family("vae");
      config.decoder = decoder;
      config.latent_density = density;
      config.latent_components = 3;
      const auto step = make_fast_step(config);
      const Layout& layout = step->layout();
      // Each canonical float's value is its index + 1: an internal float's value names its tensor.
      std::vector<float> canonical(layout_size(layout));
      std::iota(canonical.begin(), canonical.end(), 1.0f);
      AlignedFloats internal(step->internal_size());
      step->to_internal(canonical.data(), internal.data());
      int64_t density_floats = 0;
      for (int64_t i = 0; i < internal.size(); ++i) {
        if (internal[i] == 0.0f) continue;  // padding
        const int64_t index = static_cast<int64_t>(internal[i]) - 1;
        const auto tensor = std::find_if(layout.begin(), layout.end(), [&](const ParamLayout& t) {
          return index >= t.offset && index < t.offset + t.numel();
        });
        ASSERT_NE(tensor, layout.end());
        if (tensor->role == kLatentDensityRole) {
          ++density_floats;
          EXPECT_GE(i, step->trained_size()) << tensor->name;
        } else {
          EXPECT_LT(i, step->trained_size()) << tensor->name;
        }
      }
      EXPECT_EQ(density_floats, density == "mixture" ? 3 * (1 + 16 + 16 * 16) : 0);
      EXPECT_LE(step->trained_size(), step->internal_size() - density_floats);
    }
  }
  for (const std::string name : {"linear_ae", "conv_ae", "gan"}) {
    const auto step = make_fast_step(family(name));
    EXPECT_EQ(step->trained_size(), step->internal_size()) << name;
  }
}

// conv_ae's internal tensors start on lane-vector boundaries (aligned rows for the kernels).
TEST(FastStep, ConvAeInternalSizeIsWholeVectors) {
  const auto step = make_fast_step(family("conv_ae"));
  EXPECT_EQ(step->internal_size() % 16, 0);
  EXPECT_LT(step->internal_size() - layout_size(step->layout()), 16 * static_cast<int64_t>(step->layout().size()));
}

// A step that throws (as a LibTorch op or an allocation inside a step may) on a thread other than
// the calling one, which may then be waiting for the other threads: the exception must reach the
// caller, and no thread may be left waiting (the test would hang). Workers throw at step 3, the calling
// thread only at step 6: with one thread, or when the scheduler gave every model to the calling thread,
// the caller throws itself, so the test never depends on how the models were shared out.
class ThrowingStep : public FastStep {
 public:
  explicit ThrowingStep(std::unique_ptr<FastStep> inner) : inner_(std::move(inner)) {}
  const Layout& layout() const override { return inner_->layout(); }
  int64_t internal_size() const override { return inner_->internal_size(); }
  int64_t trained_size() const override { return inner_->trained_size(); }
  void to_internal(const float* canonical, float* internal) const override { inner_->to_internal(canonical, internal); }
  void to_canonical(const float* internal, float* canonical) const override { inner_->to_canonical(internal, canonical); }
  std::unique_ptr<StepScratch> make_scratch() const override { return inner_->make_scratch(); }
  double update(const ImageSet& train, const int64_t* batch_indices, int64_t step, const FastModel& model,
                StepScratch& scratch, BatchPrefetcher& prefetch) const override {
    if (step == (at::get_thread_num() != 0 ? 3 : 6)) throw std::runtime_error("step failed");
    return inner_->update(train, batch_indices, step, model, scratch, prefetch);
  }

 private:
  std::unique_ptr<FastStep> inner_;
};

TEST(FastTrainer, AStepsExceptionReachesTheCallerFromAnyThread) {
  PlannedJob world;
  world.dataset = synthetic_dataset(100, 10, 3, 5);
  plan_on_dataset(world, R"(
name = "throwing"
seed = 1
[data]
num_classes = 3
classes = [0, 1, 2]
samples_min = 60
samples_max = 90
[[family]]
name = "linear_ae"
models = 2
latent = 16
steps = 50
batch_size = 16
)", "<throwing>");
  const FamilyConfig& config = world.job.families[0];
  const ThrowingStep step(make_fast_step(config));
  const int threads_before = at::get_num_threads();
  for (const int threads : {2, 1}) {
    at::set_num_threads(threads);  // LibTorch's default may be one thread (one physical core)
    EXPECT_THROW(train_fast(config, step, world.family_specs[0], world.dataset.train, TrainOptions{}), std::runtime_error)
        << threads << " threads";
  }
  at::set_num_threads(threads_before);
}

}  // namespace
}  // namespace genzoo::test
