// Tests for src/common/progress.cpp: the ETA arithmetic (eta_seconds) and the printed line of a Progress
// whose clock is injected, for equal-cost units and for units weighted by their cost (FLOPs), where
// the rate and ETA follow the cost and the counter still shows units. No wall clock is read.
#include "common/progress.h"

#include <gtest/gtest.h>

#include <cmath>

namespace genzoo {
namespace {

// All values below are small integers and their quotients: exact, or within one rounding, in double.
constexpr double kTolerance = 1e-12;

TEST(Progress, EtaIsRemainingWorkAtTheRateSoFar) {
  // A quarter of the work in 30 s: three quarters left at the same rate take 90 s.
  EXPECT_NEAR(eta_seconds(25.0, 100.0, 30.0), 90.0, kTolerance);
  EXPECT_NEAR(eta_seconds(1.0, 4.0, 2.0), 6.0, kTolerance);
  EXPECT_EQ(eta_seconds(100.0, 100.0, 30.0), 0.0);
  EXPECT_EQ(eta_seconds(120.0, 100.0, 30.0), 0.0) << "more done than planned is no negative ETA";
}

TEST(Progress, EtaIsUnknownBeforeAnyWorkOrTime) {
  EXPECT_TRUE(std::isnan(eta_seconds(0.0, 100.0, 30.0)));
  EXPECT_TRUE(std::isnan(eta_seconds(10.0, 100.0, 0.0)));
  EXPECT_EQ(format_duration(eta_seconds(0.0, 100.0, 30.0)), "--:--");
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(9.4), "0:09");
  EXPECT_EQ(format_duration(185.0), "3:05");
  EXPECT_EQ(format_duration(3 * 3600 + 61.0), "3:01:01");
  EXPECT_EQ(format_duration(-1.0), "--:--");
}

// A clock the test moves by hand.
struct FakeClock {
  double now = 1000.0;
  ProgressClock function() {
    return [this] { return now; };
  }
};

TEST(Progress, EqualCostUnitsShowRateAndEtaInUnits) {
  FakeClock clock;
  Progress progress("featurenet", "epochs", 10.0, /*quiet=*/true, clock.function());
  clock.now += 8.0;
  progress.update(4.0);
  // 4 epochs in 8 s: 0.50 epochs/s, 6 left take 12 s.
  EXPECT_EQ(progress.line(false), "[featurenet] 4/10 epochs  0.50 epochs/s  ETA 0:12");
  EXPECT_EQ(progress.line(true, "done"), "[featurenet] 4/10 epochs  0.50 epochs/s  elapsed 0:08  done");
}

TEST(Progress, CostWeightedEtaFollowsFlopsNotModels) {
  // 112 models: 104 cheap ones (1 GFLOP each) planned first, 8 expensive ones (112 GFLOP each) last;
  // 1000 GFLOP in all. After the cheap ones (93% of the models, 10.4% of the cost) in 60 s, the rest
  // takes 60 s * 896 / 104 = 516.9 s, not the 60 s * 8 / 104 = 4.6 s that counting models promises.
  FakeClock clock;
  const double total_flops = 104 * 1e9 + 8 * 112e9;
  Progress progress("train", "models", 112.0, ProgressWork{"GFLOP", 1e9, total_flops}, /*quiet=*/true,
                    clock.function());
  clock.now += 60.0;
  progress.update(104.0, 104e9);
  EXPECT_NEAR(eta_seconds(104e9, total_flops, 60.0), 60.0 * 896.0 / 104.0, 1e-9);
  EXPECT_EQ(progress.line(false), "[train] 104/112 models  cost 10%  1.73 GFLOP/s  ETA 8:37");

  // Halfway through the expensive ones (models partly through their steps count fractionally).
  clock.now += 240.0;
  progress.update(108.5, 104e9 + 4.5 * 112e9);
  // 608 GFLOP in 300 s: 2.03 GFLOP/s; 392 GFLOP left take 300 * 392 / 608 = 193.4 s.
  EXPECT_EQ(progress.line(false), "[train] 108/112 models  cost 60%  2.03 GFLOP/s  ETA 3:13");

  clock.now += 100.0;
  progress.update(112.0, total_flops);
  EXPECT_EQ(progress.line(true), "[train] 112/112 models  cost 100%  2.50 GFLOP/s  elapsed 6:40");
}

TEST(Progress, CostShareRoundsDown) {
  FakeClock clock;
  Progress progress("train", "models", 2.0, ProgressWork{"GFLOP", 1e9, 1000e9}, /*quiet=*/true, clock.function());
  clock.now += 1.0;
  progress.update(1.0, 999e9);  // 99.9%: not yet 100%
  EXPECT_NE(progress.line(false).find("cost 99%"), std::string::npos) << progress.line(false);
}

}  // namespace
}  // namespace genzoo
