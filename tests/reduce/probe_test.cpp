// Tests for src/reduce/probe.{h,cpp}: cross-validated precision/recall on synthetic features that are
// separable (two distant blobs) and inseparable (one distribution for both labels).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "reduce/probe.h"

namespace genzoo {
namespace {

constexpr int64_t kDim = 6;

// n models per label; label 1's mean is shifted by `shift` along every coordinate.
void blobs(int64_t n, double shift, uint64_t seed, std::vector<float>& x, std::vector<int32_t>& y) {
  Rng rng(seed);
  for (int64_t i = 0; i < 2 * n; ++i) {
    const int32_t label = static_cast<int32_t>(i % 2);
    for (int64_t j = 0; j < kDim; ++j) x.push_back(static_cast<float>(rng.normal() + label * shift));
    y.push_back(label);
  }
}

TEST(Probe, SeparableFeaturesScoreNearlyPerfectlyWithBothClassifiers) {
  std::vector<float> x;
  std::vector<int32_t> y;
  blobs(40, 3.0, 1, x, y);  // means 3 sqrt(6) = 7.3 standard deviations apart
  for (const std::string& classifier : probe_classifier_names()) {
    const ProbeScores s = cross_validate_probe(x, kDim, y, classifier, ProbeOptions(ReduceConfig{}));
    EXPECT_GE(s.precision, 0.95) << classifier;
    EXPECT_GE(s.recall, 0.95) << classifier;
    EXPECT_GE(s.accuracy, 0.95) << classifier;
    EXPECT_EQ(s.folds, 5);
    EXPECT_EQ(s.positives, 40);
    EXPECT_EQ(s.negatives, 40);
  }
}

TEST(Probe, InseparableFeaturesScoreNearChance) {
  std::vector<float> x;
  std::vector<int32_t> y;
  blobs(60, 0.0, 2, x, y);
  for (const std::string& classifier : probe_classifier_names()) {
    const ProbeScores s = cross_validate_probe(x, kDim, y, classifier, ProbeOptions(ReduceConfig{}));
    // 120 held-out predictions of a coin: accuracy 0.5 +- 0.046; 0.7 is more than 4 standard deviations.
    EXPECT_LT(s.accuracy, 0.7) << classifier;
  }
}

TEST(Probe, FoldsAreStratifiedAndCappedBySmallerClass) {
  const std::vector<int32_t> labels = {0, 0, 0, 0, 0, 0, 1, 1, 1};
  const std::vector<int64_t> folds = stratified_folds(labels, 3, 7);
  for (int64_t f = 0; f < 3; ++f) {
    int64_t ones = 0, zeros = 0;
    for (size_t i = 0; i < labels.size(); ++i) (labels[i] == 1 ? ones : zeros) += folds[i] == f;
    EXPECT_EQ(ones, 1) << "fold " << f;
    EXPECT_EQ(zeros, 2) << "fold " << f;
  }
  std::vector<float> x(labels.size() * 2, 0.0f);
  ProbeOptions options{ReduceConfig{}};
  options.folds = 5;
  EXPECT_EQ(cross_validate_probe(x, 2, labels, "logistic", options).folds, 3);
}

TEST(Probe, TooFewModelsOrUnknownClassifierAreClearErrors) {
  std::vector<float> x(8, 0.0f);
  try {
    cross_validate_probe(x, 2, {0, 0, 0, 1}, "logistic", ProbeOptions(ReduceConfig{}));
    FAIL() << "no error";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2 models of each dataset"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cross_validate_probe(x, 2, {0, 0, 1, 1}, "svm", ProbeOptions(ReduceConfig{})), ReduceError);
  EXPECT_THROW(cross_validate_probe(x, 3, {0, 0, 1, 1}, "logistic", ProbeOptions(ReduceConfig{})), ReduceError);
}

}  // namespace
}  // namespace genzoo
