// Tests for src/bench/workloads.cpp: each workload's job is the configuration its help text and
// bench/RESULTS.md describe (the family, its shape and learning rate, the shared data settings).
#include "bench/workloads.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "job/job.h"

namespace genzoo::test {
namespace {

FamilyConfig family_of(const std::string& workload) {
  BenchOptions options;
  options.workload = workload;
  options.models = 5;
  options.steps = 7;
  const Job job = workload_job(options);
  EXPECT_EQ(job.data.num_classes, 3);
  EXPECT_EQ(job.data.samples_min, 2000);
  EXPECT_EQ(job.data.samples_max, 2000);
  EXPECT_DOUBLE_EQ(job.data.alpha, 1.0);
  EXPECT_EQ(job.families.size(), 1u);
  return job.families.at(0);
}

TEST(Workloads, EachWorkloadIsItsDocumentedConfiguration) {
  struct Expected {
    const char* workload;
    const char* family;
    int64_t latent;
    double lr;
  };
  for (const Expected& e : {Expected{"W1", "linear_ae", 16, 1e-3}, Expected{"W2", "conv_ae", 16, 1e-3},
                            Expected{"W3", "gan", 16, 5e-4}, Expected{"W4", "vae", 8, 2e-3}}) {
    const FamilyConfig family = family_of(e.workload);
    EXPECT_EQ(family.name, e.family) << e.workload;
    EXPECT_EQ(family.latent, e.latent) << e.workload;
    EXPECT_DOUBLE_EQ(family.lr, e.lr) << e.workload;
    EXPECT_EQ(family.models, 5) << e.workload;
    EXPECT_EQ(family.chunk_models, 5) << e.workload;
    EXPECT_EQ(family.steps, 7) << e.workload;
    EXPECT_EQ(family.batch_size, 64) << e.workload;
  }
  EXPECT_EQ(family_of("W2").channels, 8);
  EXPECT_EQ(family_of("W3").channels, 8);
  EXPECT_EQ(family_of("W4").hidden, 128);
}

TEST(Workloads, UnknownWorkloadIsAUsageError) {
  BenchOptions options;
  options.workload = "W9";
  EXPECT_THROW(workload_job(options), UsageError);
}

}  // namespace
}  // namespace genzoo::test
