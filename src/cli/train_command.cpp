#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "dist/comm.h"
#include "dist/run.h"
#include "common/error.h"
#include "store/run_dir.h"
#include "job/job.h"

namespace genzoo::cli {

namespace {
// "MODEL" or "MODEL@RANK" for the test-only fault injection.
void parse_fault(const std::string& text, RunOptions& options) {
  const auto at = text.find('@');
  options.fault_model = std::stoll(text.substr(0, at));
  if (at != std::string::npos) options.fault_rank = std::stoi(text.substr(at + 1));
}
// Leaves the failure in RUN/error.txt for `genzoo status` (never in a directory that is not this
// job's run: a refused directory stays untouched).
RunSummary train_and_record_errors(const Job& job, const RunOptions& options) {
  const RunDir run(options.run_dir);
  try {
    RunSummary summary = train_run(job, options);
    if (Comm::world().rank() == 0) std::filesystem::remove(run.error_path());
    return summary;
  } catch (const RunDirError&) {
    throw;
  } catch (const std::exception& e) {
    std::error_code ec;
    if (std::filesystem::exists(run.job_path(), ec) && fingerprint(run.stored_job_text()) == fingerprint(job.text)) {
      try {
        write_file_atomically(run.error_path(), std::string(e.what()) + "\n");
      } catch (const std::exception&) {
      }
    }
    throw;
  }
}

}  // namespace

Runner add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a job's zoo into a run directory (resumable; runs under mpirun/srun)");
  auto job_path = std::make_shared<std::string>();
  auto options = std::make_shared<RunOptions>();
  auto fault = std::make_shared<std::string>();
  cmd->add_option("job", *job_path, "Job file (TOML), e.g. jobs/quickstart.toml")->required()->check(CLI::ExistingFile);
  cmd->add_option("--run", options->run_dir, "Run directory: shards, feature net and the merged zoo.h5")->required();
  cmd->add_option("--data", options->data_dir, "Directory with the Fashion-MNIST IDX files (default: $GENZOO_DATA, "
                                              "else /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--device", options->device, "auto (cuda:<local rank mod GPUs> when available, else cpu), cpu, cuda, cuda:N")
      ->capture_default_str();
  cmd->add_option("--kernels", options->kernels, "auto: hand-written CPU kernels where a family has them and the CPU has AVX2 or AVX-512; fast: those kernels on any instruction set; torch: LibTorch only")
      ->check(CLI::IsMember({"auto", "fast", "torch"}))
      ->capture_default_str();
  cmd->add_option("--schedule", options->schedule, "MPI work distribution: dynamic (rank 0 hands out chunks) or static")
      ->check(CLI::IsMember({"dynamic", "static"}))
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", options->quiet, "No progress output");
  cmd->add_flag("--timings", options->timings, "Print each rank's time in training, HDF5 writes and MPI calls");
  cmd->add_option("--inject-fault", *fault, "Testing only: fail while training MODEL (MODEL@RANK: only on that rank)")
      ->group("Testing");
  return [job_path, options, fault] {
    if (!fault->empty()) parse_fault(*fault, *options);
    const Job job = load_job(*job_path);
    const RunSummary summary = train_and_record_errors(job, *options);
    Comm& comm = Comm::world();
    if (comm.rank() == 0) {
      if (summary.was_complete) {
        std::printf("%s is complete (%lld models in zoo.h5); nothing to do\n", options->run_dir.c_str(),
                    static_cast<long long>(summary.total_models));
      } else if (summary.interrupted) {
        std::printf("%s: interrupted by a signal after %lld new models; rerun the same command to resume\n",
                    options->run_dir.c_str(), static_cast<long long>(summary.trained));
      } else {
        std::printf("%s/zoo.h5: %lld models (%lld trained now, %lld resumed from shards)\n", options->run_dir.c_str(),
                    static_cast<long long>(summary.total_models), static_cast<long long>(summary.trained),
                    static_cast<long long>(summary.already_done));
      }
    }
    comm.finalize();
    return summary.interrupted ? 75 : 0;  // EX_TEMPFAIL: a requeue resumes the run
  };
}

Runner add_merge_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "Build RUN_DIR/zoo.h5 from the run's shards (train does this when it completes)");
  auto run_dir = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("run_dir", *run_dir, "Run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_flag("--quiet,-q", *quiet, "No progress output");
  return [run_dir, quiet] {
    merge_run(*run_dir, *quiet);
    return 0;
  };
}

}  // namespace genzoo::cli
