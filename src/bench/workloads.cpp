#include "bench/workloads.h"
#include "kernels/isa.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "common/error.h"
#include "data/dataset.h"
#include "dist/resources.h"
#include "job/job.h"
#include "models/family.h"
#include "plan/plan.h"
#include "train/trainer.h"

namespace genzoo {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// The workloads share data and optimizer settings and differ in the family.
Job workload_job(const BenchOptions& options) {
  Job job;
  job.name = "bench-" + options.workload;
  job.seed = 2024;
  job.data.num_classes = 3;
  job.data.classes = {0, 1, 7};  // fixed so runs compare; any 3 classes cost the same
  job.data.alpha = 1.0;
  job.data.samples_min = job.data.samples_max = 2000;
  FamilyConfig family;
  family.latent = 16;
  family.lr = 1e-3;
  if (options.workload == "W1") {
    family.name = "linear_ae";
  } else if (options.workload == "W2") {
    family.name = "conv_ae";
    family.channels = 8;
  } else if (options.workload == "W3") {
    family.name = "gan";
    family.channels = 8;
    family.lr = 5e-4;
    family.sample_grid = 0;
  } else if (options.workload == "W4") {
    family.name = "vae";  // zoo-1k's
    family.hidden = 128;
    family.latent = 8;
    family.lr = 2e-3;
    family.sample_grid = 0;
  } else {
    throw UsageError("--workload " + options.workload + ": expected W1, W2, W3 or W4");
  }
  family.models = options.models;
  family.steps = options.steps;
  family.batch_size = 64;
  family.chunk_models = options.models;
  family.init = "model";
  job.families.push_back(family);
  return job;
}

double measure_sgemm_gflops(int64_t n) {
  torch::NoGradGuard no_grad;
  // One GEMM: only BLAS itself can spread it over the threads (training keeps BLAS at one thread,
  // restored however this returns).
  struct BlasThreads {
    BlasThreads() { set_blas_threads(torch::get_num_threads()); }
    ~BlasThreads() { set_blas_threads(1); }
  } blas_threads;
  const auto a = torch::rand({n, n}), b = torch::rand({n, n});
  auto c = torch::mm(a, b);  // warm-up
  double best = 0.0;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::max(best, 2.0 * n * n * n / seconds_since(start) / 1e9);
  }
  return best;
}

BenchResult run_workload(const BenchOptions& options) {
  set_threads(options.threads);
  const Job job = workload_job(options);
  const FamilyConfig& config = job.families.front();
  const Dataset dataset = load_fashion_mnist(resolve_data_dir(options.data_dir));
  std::vector<std::vector<int64_t>> pools;
  for (int64_t label : job.data.classes) pools.push_back(dataset.train.indices_of_class(static_cast<int>(label)));
  const Plan plan = make_plan(job, job.data.classes, pools);
  std::vector<const ModelSpec*> specs;
  for (const auto& spec : plan.models) specs.push_back(&spec);

  TrainOptions train_options;
  train_options.kernels = options.kernels;
  train_options.class_labels = job.data.classes;
  BenchResult result;
  result.sgemm_gflops = measure_sgemm_gflops();

  auto start = std::chrono::steady_clock::now();
  train_weights(config, specs, dataset, train_options);
  result.batched_seconds = seconds_since(start);

  if (!options.skip_loop) {
    start = std::chrono::steady_clock::now();
    for (const ModelSpec* spec : specs) train_weights(config, {spec}, dataset, train_options);
    result.loop_seconds = seconds_since(start);
    result.loop_models_per_s = static_cast<double>(specs.size()) / result.loop_seconds;
  }

  const double flops_per_model =
      find_family(config.name).flops_per_sample(config) * static_cast<double>(config.batch_size * config.steps);
  result.models_per_s = static_cast<double>(specs.size()) / result.batched_seconds;
  result.gflops = flops_per_model * result.models_per_s / 1e9;
  result.peak_fraction = result.gflops / result.sgemm_gflops;
  return result;
}

std::string format_result_line(const std::string& workload, const BenchResult& r) {
  char line[320];
  std::snprintf(line, sizeof line,
                "%s models_per_s=%.4f gflops=%.3f sgemm_gflops=%.3f peak_fraction=%.4f loop_models_per_s=%.4f isa=%s",
                workload.c_str(), r.models_per_s, r.gflops, r.sgemm_gflops, r.peak_fraction, r.loop_models_per_s,
                kernels::isa().c_str());
  return line;
}

}  // namespace genzoo
