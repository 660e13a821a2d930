#include <CLI/CLI.hpp>

#include <cstdio>

#include "bench/workloads.h"
#include "cli/commands.h"
#include "dist/resources.h"
#include "kernels/isa.h"

namespace genzoo::cli {

Runner add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Training throughput vs this machine's SGEMM peak and vs a per-model loop");
  auto options = std::make_shared<BenchOptions>();
  cmd->add_option("--workload", options->workload,
                  "W1: linear_ae 784-16-784; W2: conv_ae (c=8, k=16); W3: gan (c=8, k=16, lr 5e-4); W4: vae "
                  "(h=128, k=8, lr 2e-3). All: 3 classes, Dirichlet(1), n=2000, batch 64, Adam lr 1e-3 unless "
                  "given, float32")
      ->check(CLI::IsMember({"W1", "W2", "W3", "W4"}))
      ->capture_default_str();
  cmd->add_option("--models", options->models, "Models trained together (M)")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--steps", options->steps, "Training steps per model")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--threads", options->threads, "LibTorch / kernel threads")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--kernels", options->kernels, "auto (hand-written CPU kernels where a family has them, on AVX2/AVX-512), fast (them on any instruction set) or torch")
      ->check(CLI::IsMember({"auto", "fast", "torch"}))
      ->capture_default_str();
  cmd->add_option("--data", options->data_dir, "Fashion-MNIST directory (default: $GENZOO_DATA or the Debian package)");
  cmd->add_flag("--no-loop", options->skip_loop, "Skip the per-model loop (loop_models_per_s=0)");
  return [options] {
    std::printf("workload %s: %lld models x %lld steps, %d thread(s), kernels %s, isa %s\n", options->workload.c_str(),
                static_cast<long long>(options->models), static_cast<long long>(options->steps), options->threads,
                options->kernels.c_str(), kernels::isa().c_str());
    const std::string blas_warning = blas_core_warning();
    if (!blas_warning.empty()) std::printf("warning: %s\n", blas_warning.c_str());
    std::fflush(stdout);
    const BenchResult r = run_workload(*options);
    std::printf("sgemm 2048^3: %.2f GFLOP/s (OpenBLAS core %s)\n", r.sgemm_gflops,
                blas_core().empty() ? "n/a" : blas_core().c_str());
    std::printf("batched: %.3f s (%.3f models/s, %.2f GFLOP/s, %.1f%% of SGEMM peak)\n", r.batched_seconds,
                r.models_per_s, r.gflops, 100.0 * r.peak_fraction);
    if (r.loop_seconds > 0) {
      std::printf("per-model loop: %.3f s (%.3f models/s); batched/loop = %.2fx\n", r.loop_seconds, r.loop_models_per_s,
                  r.models_per_s / r.loop_models_per_s);
    }
    std::printf("%s\n", format_result_line(options->workload, r).c_str());
    return 0;
  };
}

}  // namespace genzoo::cli
