// Tests for src/train/adam.cpp: the fused batched Adam against torch::optim::Adam, one optimizer per
// model row (each with its own learning rate), over several steps of random gradients.
//
// Tolerance: 1e-6 absolute, parameters within [-3, 3] (init clamped to [-2, 2], lr <= 0.1). Both
// compute the same formula in float but round in different orders (torch: lerp for m, divides by
// sqrt(v)/sqrt(bias2); here multiply-adds and a Newton-refined reciprocal), so a parameter may land
// on a neighbouring float: observed differences are 0-2.5 ulp (ulp of [2, 4) = 2.4e-7). A wrong bias
// correction, beta or eps handling shows up at the 1e-4..1e-2 level; even computing 1 - beta2 in
// float (1.0f - 0.999f = 1.0000467e-3) gave up to 6e-6 here.
#include "train/adam.h"

#include <gtest/gtest.h>

#include "helpers.h"
#include "job/job.h"
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace genzoo::test {
namespace {

constexpr double kTol = 1e-6;

struct AdamRun {
  std::vector<float> ours;       // [models, count] after the steps
  std::vector<float> reference;  // the same from torch::optim::Adam
  std::vector<float> initial;
};

AdamRun run_both(const std::vector<float>& lrs, int64_t count, int64_t steps, const AdamSettings& settings) {
  const int64_t models = static_cast<int64_t>(lrs.size());
  torch::manual_seed(1234);
  const auto initial = torch::randn({models, count}).clamp_(-2.0, 2.0);
  // Gradients change scale and sign over the steps, so m and v do not settle into a fixed ratio.
  std::vector<torch::Tensor> grads;
  for (int64_t s = 0; s < steps; ++s) grads.push_back(torch::randn({models, count}) * (0.1 + 0.5 * static_cast<double>(s % 3)));

  AdamRun run;
  run.initial.assign(initial.data_ptr<float>(), initial.data_ptr<float>() + models * count);
  run.ours = run.initial;
  std::vector<float> m(models * count, 0.0f), v(models * count, 0.0f);
  for (int64_t s = 0; s < steps; ++s) {
    const auto g = grads[s].contiguous();
    adam_step(run.ours.data(), g.data_ptr<float>(), m.data(), v.data(), models, count, lrs.data(), s + 1, settings);
  }

  run.reference.resize(models * count);
  for (int64_t row = 0; row < models; ++row) {
    auto param = initial[row].clone().requires_grad_(true);
    torch::optim::Adam optimizer({param}, torch::optim::AdamOptions(lrs[row])
                                              .betas({settings.beta1, settings.beta2})
                                              .eps(settings.eps));
    for (int64_t s = 0; s < steps; ++s) {
      // The schedule as a torch user writes it: the group's lr set before each step.
      static_cast<torch::optim::AdamOptions&>(optimizer.param_groups()[0].options())
          .lr(lrs[row] * lr_schedule_factor(settings, s + 1));
      optimizer.zero_grad();
      param.mutable_grad() = grads[s][row].clone();
      optimizer.step();
    }
    const auto out = param.detach().contiguous();
    std::copy_n(out.data_ptr<float>(), count, run.reference.data() + row * count);
  }
  return run;
}

void expect_matches(const AdamRun& run, const std::vector<float>& lrs, int64_t count) {
  for (size_t row = 0; row < lrs.size(); ++row) {
    double worst = 0.0, moved = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      const size_t at = row * count + i;
      worst = std::max(worst, static_cast<double>(std::fabs(run.ours[at] - run.reference[at])));
      moved = std::max(moved, static_cast<double>(std::fabs(run.ours[at] - run.initial[at])));
    }
    EXPECT_LE(worst, kTol) << "model row " << row << " (lr " << lrs[row] << ")";
    if (std::getenv("GENZOO_TEST_VERBOSE")) std::printf("adam row %zu lr %g: max difference %.3g\n", row, lrs[row], worst);
    // The comparison means something: the parameters did move (by about lr per step).
    if (lrs[row] > 0.0f) {
      EXPECT_GT(moved, 0.3 * lrs[row]) << "model row " << row;
    }
  }
}

class Adam : public EveryIsa {};

TEST_P(Adam, MatchesTorchWithOneLearningRate) {
  const std::vector<float> lrs(3, 1e-2f);
  const int64_t count = 1000;
  expect_matches(run_both(lrs, count, 7, AdamSettings{}), lrs, count);
}

TEST_P(Adam, MatchesTorchWithALearningRatePerModel) {
  // Counts that are not multiples of the vector width check the loop remainder.
  const std::vector<float> lrs = {1e-3f, 3e-2f, 1e-1f, 5e-4f};
  for (const int64_t count : {int64_t{1}, int64_t{17}, int64_t{25888}}) {
    expect_matches(run_both(lrs, count, 10, AdamSettings{}), lrs, count);
  }
}

TEST_P(Adam, MatchesTorchWithOtherBetasAndEps) {
  const std::vector<float> lrs = {2e-2f, 1e-3f};
  AdamSettings settings;
  settings.beta1 = 0.5;
  settings.beta2 = 0.9;
  settings.eps = 1e-3;  // large enough to matter for the small gradients
  expect_matches(run_both(lrs, 513, 8, settings), lrs, 513);
}

TEST_P(Adam, ZeroLearningRateLeavesTheModelUnchanged) {
  const std::vector<float> lrs = {1e-2f, 0.0f, 1e-2f};
  const int64_t count = 300;
  const AdamRun run = run_both(lrs, count, 5, AdamSettings{});
  for (int64_t i = 0; i < count; ++i) ASSERT_EQ(run.ours[count + i], run.initial[count + i]) << "element " << i;
  expect_matches(run, lrs, count);
}

TEST_P(Adam, MatchesTorchWithADecayingLearningRate) {
  const std::vector<float> lrs = {2e-2f, 5e-3f};
  AdamSettings settings;
  settings.updates = 10;
  settings.decay_updates = 4;
  const AdamRun decayed = run_both(lrs, 257, 10, settings);
  expect_matches(decayed, lrs, 257);
  // The schedule changed the run: the last updates were smaller than a constant rate's.
  const AdamRun constant = run_both(lrs, 257, 10, AdamSettings{});
  double gap = 0.0;
  for (size_t i = 0; i < constant.ours.size(); ++i) gap = std::max(gap, static_cast<double>(std::fabs(decayed.ours[i] - constant.ours[i])));
  EXPECT_GT(gap, 1e-3);
}

GENZOO_INSTANTIATE_EVERY_ISA(Adam);

// lr_decay = 0.3 of 10 steps: constant for 7 updates, then 3/4, 2/4, 1/4 of lr; a discriminator making 2
// updates per step decays over its last 6 updates, in the same proportion of its run.
TEST(AdamSchedule, LinearDecayOverTheLastFractionOfSteps) {
  FamilyConfig config;
  config.steps = 10;
  EXPECT_EQ(lr_schedule_factor(adam_settings(config), 10), 1.0);  // lr_decay 0: constant
  config.lr_decay = 0.3;
  const AdamSettings settings = adam_settings(config);
  EXPECT_EQ(settings.updates, 10);
  EXPECT_EQ(settings.decay_updates, 3);
  const std::vector<double> expected = {1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25};
  for (int64_t step = 1; step <= 10; ++step) EXPECT_DOUBLE_EQ(lr_schedule_factor(settings, step), expected[step - 1]) << step;
  const AdamSettings twice = adam_settings(config, 2);
  EXPECT_EQ(twice.updates, 20);
  EXPECT_EQ(twice.decay_updates, 6);
  EXPECT_DOUBLE_EQ(lr_schedule_factor(twice, 14), 1.0);
  EXPECT_DOUBLE_EQ(lr_schedule_factor(twice, 15), 6.0 / 7.0);
  EXPECT_DOUBLE_EQ(lr_schedule_factor(twice, 20), 1.0 / 7.0);
  EXPECT_DOUBLE_EQ(lr_schedule_factor(twice, 25), 1.0 / 7.0);  // past the end: the last rate, never 0 or negative
  config.lr_decay = 1.0;
  EXPECT_DOUBLE_EQ(lr_schedule_factor(adam_settings(config), 1), 10.0 / 11.0);
}

}  // namespace
}  // namespace genzoo::test
