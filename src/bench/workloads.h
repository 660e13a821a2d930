// Benchmark workloads (W1 linear_ae, W2 conv_ae, W3 gan, W4 vae): throughput of batched training relative to
// the machine's own SGEMM peak and to a per-model loop through the same code, measured in one run.
#pragma once

#include <cstdint>
#include <string>

namespace genzoo {

struct BenchOptions {
  std::string workload = "W1";
  int64_t models = 64;
  int64_t steps = 500;
  int threads = 1;
  std::string kernels = "auto";
  std::string data_dir;
  bool skip_loop = false;
};

struct BenchResult {
  double models_per_s = 0, gflops = 0, sgemm_gflops = 0, peak_fraction = 0, loop_models_per_s = 0;
  double batched_seconds = 0, loop_seconds = 0;
};

struct Job;

// The workload's job: one family of options.models models with the workload's settings. Throws
// UsageError for an unknown workload.
Job workload_job(const BenchOptions& options);

// Single-precision GEMM throughput (GFLOP/s) of LibTorch's BLAS on n x n x n, best of a few runs.
double measure_sgemm_gflops(int64_t n = 2048);

BenchResult run_workload(const BenchOptions& options);

// "W1 models_per_s=<f> gflops=<f> sgemm_gflops=<f> peak_fraction=<f> loop_models_per_s=<f> isa=<target>"
std::string format_result_line(const std::string& workload, const BenchResult& result);

}  // namespace genzoo
