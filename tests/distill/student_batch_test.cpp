// Tests for src/distill/student_batch.cpp: the hand-written kernel path and the LibTorch path train the
// same students (the data term's gradient from the family's GradientStep, the prior's in closed form,
// against autograd through both), on every instruction set the CPU has; the learning curve starts at
// the start; bad jobs are refused.
#include "distill/student_batch.h"

#include <gtest/gtest.h>

#include <cmath>
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

// mlp students learn from the labels by cross-entropy; hinton's loss is the seed's
// (1 - λ) CE(y, g) + λ CE(softmax(f / T), softmax(g / T)): with one-hot teacher targets at T = 1 it is
// the plain cross-entropy, so that student trains exactly as scratch. A student's weights do not
// depend on its batch-mates.
TEST(StudentBatch, MlpStudentsLearnFromLabelsAndHintonIsTheSeedsLoss) {
  const Dataset data = synthetic_dataset(60, 20, 3, 11);
  FamilyConfig config;
  config.name = "mlp";
  config.hidden = 8;
  const Layout layout = find_family(config.name).layout(config);
  const int64_t p = layout_size(layout);
  std::vector<float> start(p);
  init_flat_params(start.data(), layout, 3);
  std::vector<int64_t> samples(40);
  std::iota(samples.begin(), samples.end(), 0);
  distill::StudentJob scratch;
  scratch.method = &distill::find_method("scratch");
  scratch.start = start;
  scratch.samples = samples;
  scratch.seed = 9;
  distill::StudentJob hinton = scratch;
  hinton.method = &distill::find_method("hinton");
  ASSERT_EQ(distill::target_width(config), 10);
  hinton.teacher_targets.assign(samples.size() * 10, 0.0f);
  for (size_t i = 0; i < samples.size(); ++i) hinton.teacher_targets[i * 10 + data.train.labels[samples[i]]] = 1.0f;
  distill::StudentJob other = scratch;
  other.seed = 10;
  const distill::TestSet test{{{0, 3, 6, 9}, {1, 4, 7}, {2, 5}}, {0.5, 0.3, 0.2}};
  distill::TrainSettings settings;
  settings.steps = 40;
  settings.batch_size = 16;
  settings.lr = 1e-2;
  settings.hinton_weight = 0.5;
  settings.hinton_temperature = 1.0;
  const auto batch = distill::train_students(config, {scratch, hinton, other}, data, test, settings);
  const auto alone = distill::train_students(config, {scratch}, data, test, settings);
  EXPECT_LT(max_abs_diff(batch[0].weights.data(), batch[1].weights.data(), p), 1e-5);
  EXPECT_EQ(max_abs_diff(batch[0].weights.data(), alone[0].weights.data(), p), 0.0);
  EXPECT_GT(max_abs_diff(batch[0].weights.data(), batch[2].weights.data(), p), 1e-3);  // its own minibatches
  // The test loss is the class-weighted cross-entropy; it fell from the start's (about log 10).
  ASSERT_EQ(batch[0].curve.size(), settings.curve_points + 1u);
  EXPECT_GT(batch[0].curve.front(), 1.5);
  EXPECT_LT(batch[0].test_loss, 0.5 * batch[0].curve.front());
  const auto per_class = distill::class_test_losses(config, batch[0].weights, 1, data, test);
  EXPECT_NEAR(batch[0].test_loss, 0.5 * per_class[0][0] + 0.3 * per_class[0][1] + 0.2 * per_class[0][2], 1e-9);

  // A classifier teacher's soft targets are its softened class probabilities: rows sum to 1, the learnt
  // class leads, and a higher temperature spreads them (higher entropy).
  const auto sharp = distill::teacher_outputs(config, batch[0].weights, data.train, {0, 1, 2}, 1.0);
  const auto soft = distill::teacher_outputs(config, batch[0].weights, data.train, {0, 1, 2}, 4.0);
  ASSERT_EQ(soft.size(), 30u);
  const auto entropy = [](const float* q) {
    double h = 0.0, sum = 0.0;
    for (int c = 0; c < 10; ++c) h -= q[c] > 0 ? q[c] * std::log(q[c]) : 0.0, sum += q[c];
    EXPECT_NEAR(sum, 1.0, 1e-5);
    return h;
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(sharp[i * 10 + data.train.labels[i]], 0.5) << i;
    EXPECT_GT(entropy(soft.data() + i * 10), entropy(sharp.data() + i * 10) + 0.1) << i;
  }
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
