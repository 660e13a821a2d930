// Tests for src/distill/student_batch.cpp: the hand-written kernel path and the LibTorch path train the
// same students (the data term's gradient from the family's GradientStep, the prior's in closed form,
// against autograd through both), on every instruction set the CPU has; the learning curve starts at
// the start; bad jobs are refused.
#include "distill/student_batch.h"

#include <gtest/gtest.h>

#include <numeric>

#include "common/error.h"
#include "common/rng.h"
#include "distill/methods.h"
#include "helpers.h"
#include "models/torch_family.h"

namespace genzoo::test {
namespace {

class StudentKernels : public EveryIsa {};

FamilyConfig small_linear_ae() {
  FamilyConfig config;
  config.name = "linear_ae";
  config.latent = 5;  // not a whole vector on any target
  return config;
}

TEST_P(StudentKernels, KernelPathMatchesLibTorchForPointAndPriorMethods) {
  const Dataset data = synthetic_dataset(60, 20, 3, 11);
  const FamilyConfig config = small_linear_ae();
  const Layout layout = find_family(config.name).layout(config);
  const int64_t p = layout_size(layout);
  std::vector<float> start(p);
  init_flat_params(start.data(), layout, 3);
  priors::LowRankGaussian prior;
  Rng rng(5);
  for (int64_t i = 0; i < p; ++i) {
    prior.mean.push_back(start[i] + 0.01 * rng.normal());
    prior.diag.push_back(1e-3 * (1.0 + rng.uniform()));
  }
  prior.rank = 2;
  for (int64_t i = 0; i < 2 * p; ++i) prior.factor.push_back(0.01 * rng.normal());
  std::vector<int64_t> samples(40);
  std::iota(samples.begin(), samples.end(), 0);
  std::vector<distill::StudentJob> jobs;
  for (const char* name : {"scratch", "map", "vi_root"}) {
    distill::StudentJob job;
    job.method = &distill::find_method(name);
    job.start = start;
    job.prior = job.method->bayesian() ? &prior : nullptr;
    job.samples = samples;
    job.seed = 9;
    job.pixel_variance = 0.05;
    jobs.push_back(job);
  }
  jobs[2].method = &distill::find_method("map");  // a second prior student, started elsewhere
  jobs[2].start = std::vector<float>(prior.mean.begin(), prior.mean.end());
  const distill::TestSet test{{{0, 3, 6, 9}, {1, 4, 7}, {2, 5}}, {0.5, 0.3, 0.2}};
  distill::TrainSettings settings;
  settings.steps = 5;
  settings.batch_size = 16;
  settings.curve_points = 5;
  settings.kernels = "fast";
  const auto fast = distill::train_students(config, jobs, data, test, settings);
  settings.kernels = "torch";
  const auto torch_path = distill::train_students(config, jobs, data, test, settings);
  ASSERT_EQ(fast.size(), jobs.size());
  for (size_t m = 0; m < jobs.size(); ++m) {
    // Five Adam steps: float rounding of two summation orders (as the training paths' 5e-5).
    EXPECT_LT(max_abs_diff(fast[m].weights.data(), torch_path[m].weights.data(), p), 5e-5) << m;
    ASSERT_EQ(fast[m].curve.size(), 6u);
    EXPECT_NEAR(fast[m].curve.front(), torch_path[m].curve.front(), 1e-6 * torch_path[m].curve.front()) << m;
    EXPECT_NEAR(fast[m].test_loss, torch_path[m].test_loss, 1e-3 * torch_path[m].test_loss) << m;
  }
  // Every student moved: the prior students by less than 5 steps of lr in prior standard deviations.
  EXPECT_GT(max_abs_diff(fast[0].weights.data(), start.data(), p), 1e-4);
}
GENZOO_INSTANTIATE_EVERY_ISA(StudentKernels);

TEST(StudentBatch, CurveStepsStartAtZeroAndEndAtTheLastStep) {
  EXPECT_EQ(distill::curve_steps(400, 4), (std::vector<int64_t>{0, 100, 200, 300, 400}));
  EXPECT_EQ(distill::curve_steps(3, 8), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(distill::curve_steps(10, 3), (std::vector<int64_t>{0, 4, 7, 10}));
}

TEST(StudentBatch, JobsWithoutWhatTheirMethodNeedsAreRefused) {
  const Dataset data = synthetic_dataset(10, 5, 3, 1);
  const FamilyConfig config = small_linear_ae();
  const int64_t p = layout_size(find_family(config.name).layout(config));
  distill::StudentJob job;
  job.method = &distill::find_method("vi");
  job.start.assign(p, 0.0f);
  job.samples = {0, 1, 2};
  const distill::TestSet test{{{0}, {1}, {2}}, {0.4, 0.3, 0.3}};
  EXPECT_THROW(distill::train_students(config, {job}, data, test, {}), DistillError);  // no prior
  job.method = &distill::find_method("hinton");
  EXPECT_THROW(distill::train_students(config, {job}, data, test, {}), DistillError);  // no teacher outputs
  job.method = &distill::find_method("scratch");
  job.start.pop_back();
  EXPECT_THROW(distill::train_students(config, {job}, data, test, {}), DistillError);  // wrong size
}

}  // namespace
}  // namespace genzoo::test
