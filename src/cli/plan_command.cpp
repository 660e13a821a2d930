#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "common/error.h"
#include "job/job.h"
#include "models/family.h"
#include "plan/plan.h"

namespace genzoo::cli {

namespace {
// Rough single-core throughput used only for the printed estimate (see bench/RESULTS.md).
constexpr double kAssumedGflopsPerCore = 40.0;
constexpr int64_t kTrainImagesPerClass = 6000;
}  // namespace

Runner add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "Summarize what a job will train; optionally write the full plan as CSV");
  auto job_path = std::make_shared<std::string>();
  auto csv_path = std::make_shared<std::string>();
  cmd->add_option("job", *job_path, "Job file (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--csv", *csv_path, "Write one row per model (design, proportions, counts, seed, lr) to this file");
  return [job_path, csv_path] {
    const Job job = load_job(*job_path);
    check_family_layouts(job.families, job.source);
    std::printf("job %s (seed %llu) from %s\n", job.name.c_str(), static_cast<unsigned long long>(job.seed),
                job.source.c_str());
    if (job.data.gaussian()) {
      std::printf("data: gaussian pool of %lld vectors in %lld dimensions, each kept with probability %.3g (E[m] = %.1f per model)\n",
                  static_cast<long long>(job.data.pool), static_cast<long long>(job.data.dimension), job.data.inclusion,
                  job.data.inclusion * static_cast<double>(job.data.pool));
    } else {
      std::printf("data: %lld classes (%s), Dirichlet alpha %.3g, %lld-%lld samples per model\n",
                  static_cast<long long>(job.data.num_classes),
                  job.data.classes.empty() ? "chosen by the feature net" : "given by the job", job.data.alpha,
                  static_cast<long long>(job.data.samples_min), static_cast<long long>(job.data.samples_max));
    }
    std::printf("\n%-10s %7s %7s %7s %7s %7s %7s %9s %9s %10s\n", "family", "models", "random", "triplet", "chain",
                "probe", "chunks", "params", "steps", "GFLOP");
    double total_gflop = 0.0;
    int64_t total_models = 0, total_chunks = 0;
    const int64_t probe_datasets = job.probe.datasets();
    for (const FamilyConfig& config : job.families) {
      const Family& family = find_family(config.name);
      const int64_t models = config.total_models(probe_datasets);
      const int64_t chunks = (models + config.chunk_models - 1) / config.chunk_models;
      const double gflop = training_flops(config) * static_cast<double>(models) / 1e9;
      std::printf("%-10s %7lld %7lld %7lld %7lld %7lld %7lld %9lld %9lld %10.1f\n", config.name.c_str(),
                  static_cast<long long>(models), static_cast<long long>(config.models),
                  static_cast<long long>(3 * config.triplets), static_cast<long long>(3 * config.chains),
                  static_cast<long long>(config.probe_models * probe_datasets), static_cast<long long>(chunks),
                  static_cast<long long>(layout_size(family.layout(config))), static_cast<long long>(config.steps), gflop);
      total_gflop += gflop;
      total_models += models;
      total_chunks += chunks;
    }
    std::printf("%-10s %7lld %39lld %20.1f\n", "total", static_cast<long long>(total_models),
                static_cast<long long>(total_chunks), total_gflop);
    std::printf("\nestimated cost: %.1f core-minutes at %.0f GFLOP/s per core (measure yours: genzoo bench)\n",
                total_gflop / kAssumedGflopsPerCore / 60.0, kAssumedGflopsPerCore);

    if (!csv_path->empty()) {
      // Class slots stand in for labels (the feature net picks those at train time); pool sizes are
      // Fashion-MNIST's (or the gaussian pool's), so counts and proportions are exactly what train will use.
      std::vector<int64_t> classes = job.data.classes;
      std::vector<std::vector<int64_t>> pools;
      for (int64_t slot = 0; slot < job.data.num_classes; ++slot) {
        if (classes.size() < static_cast<size_t>(job.data.num_classes)) classes.push_back(slot);
        const int64_t size = job.data.gaussian() ? job.data.pool : kTrainImagesPerClass;
        std::vector<int64_t> pool(static_cast<size_t>(size));
        for (int64_t i = 0; i < size; ++i) pool[i] = slot * size + i;
        pools.push_back(std::move(pool));
      }
      const Plan plan = make_plan(job, classes, pools);
      std::ofstream out(*csv_path);
      out << plan_csv(plan, job);
      if (!out) throw UsageError("--csv " + *csv_path + ": cannot write");
      std::printf("wrote %zu rows to %s\n", plan.models.size(), csv_path->c_str());
    }
    return 0;
  };
}

Runner add_job_reference_command(CLI::App& app) {
  app.add_subcommand("job-reference", "Print every job-file key with its type, default, range and meaning (Markdown)");
  return [] {
    std::fputs(job_reference_markdown().c_str(), stdout);
    return 0;
  };
}

}  // namespace genzoo::cli
