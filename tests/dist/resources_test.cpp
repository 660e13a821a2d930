// Tests for src/dist/resources.cpp: the cores and device a rank takes from its environment, and the
// thread settings of LibTorch and OpenBLAS (one BLAS thread under LibTorch's threads).
#include "dist/resources.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "common/error.h"

namespace genzoo::test {
namespace {

// Sets an environment variable for one scope and restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) had_ = true, old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() { had_ ? setenv(name_, old_.c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

// OpenBLAS's thread count, or -1 when the BLAS is not OpenBLAS.
int openblas_threads() {
  using GetThreads = int (*)();
  auto* get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : -1;
}

TEST(Resources, SlurmCpusPerTaskIsTheCoreCount) {
  const ScopedEnv cpus("SLURM_CPUS_PER_TASK", "3");
  EXPECT_EQ(owned_cores(), 3);
}

TEST(Resources, MpirunLocalSizeCapsTheCoreCount) {
  const ScopedEnv no_slurm("SLURM_CPUS_PER_TASK", "");
  const ScopedEnv ranks("OMPI_COMM_WORLD_LOCAL_SIZE", "1000000");
  EXPECT_EQ(owned_cores(), 1);  // a fair share of the node, at least one core
}

TEST(Resources, LocalRankFromOpenMpiThenSlurm) {
  {
    const ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK", "2");
    const ScopedEnv slurm("SLURM_LOCALID", "5");
    EXPECT_EQ(local_rank(), 2);
  }
  const ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK", "");
  const ScopedEnv slurm("SLURM_LOCALID", "5");
  EXPECT_EQ(local_rank(), 5);
}

TEST(Resources, DeviceNames) {
  EXPECT_EQ(resolve_device("cpu"), "cpu");
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("auto"), "cpu");
    EXPECT_THROW(resolve_device("cuda:0"), UsageError);
  }
  EXPECT_THROW(resolve_device("tpu"), UsageError);
}

TEST(Resources, LibTorchGetsTheThreadsAndOpenBlasOne) {
  set_threads(2);
  EXPECT_EQ(torch::get_num_threads(), 2);
  if (openblas_threads() < 0) GTEST_SKIP() << "the BLAS behind libblas.so.3 is not OpenBLAS";
  EXPECT_EQ(openblas_threads(), 1);
  set_blas_threads(2);
  EXPECT_EQ(openblas_threads(), 2);
  set_threads(1);
  EXPECT_EQ(openblas_threads(), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
}

}  // namespace
}  // namespace genzoo::test
