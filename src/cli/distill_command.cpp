// `genzoo distill RUN_DIR/zoo.h5`: students trained on few images of held-out mixtures with the zoo's
// priors against baselines -> RUN_DIR/distill.h5 (DESIGN.md section 6, seed 004). Resumable; under
// mpirun/srun the (mixture, n, seed) units go to the ranks dynamically.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "common/text.h"
#include "dist/comm.h"
#include "distill/distill_file.h"
#include "distill/distill_run.h"
#include "distill/methods.h"

namespace genzoo::cli {

Runner add_distill_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("distill", "Distill the zoo into small students: train them on few images of held-out "
                                            "mixtures with the nearest node's aligned prior and against baselines -> "
                                            "distill.h5 next to zoo.h5 (resumable; runs under mpirun/srun)");
  auto options = std::make_shared<distill::DistillOptions>();
  cmd->add_option("zoo", options->zoo_path, "RUN_DIR/zoo.h5")->required()->check(CLI::ExistingFile);
  cmd->add_option("--reduce", options->reduce_path, "reduce.h5 with the priors (default: reduce.h5 next to zoo.h5)");
  cmd->add_option("--config", options->config_path,
                  "Job file whose [distill] section drives it (default: the job stored in zoo.h5)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--output,-o", options->output_path,
                  "Output file (default: distill.h5 next to zoo.h5; unit shards go to <output>.shards/)");
  cmd->add_option("--data", options->data_dir, "Fashion-MNIST directory (default: the job's, $GENZOO_DATA, Debian's)");
  cmd->add_option("--device", options->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_option("--kernels", options->kernels,
                  "auto: students on the families' hand-written CPU kernels where training would use them (AVX2, "
                  "AVX-512); fast: on any instruction set; torch: LibTorch only")
      ->check(CLI::IsMember({"auto", "fast", "torch"}))
      ->capture_default_str();
  cmd->add_option("--schedule", options->schedule, "dynamic | static (MPI)")
      ->check(CLI::IsMember({"dynamic", "static"}))
      ->capture_default_str();
  // Overrides of the job's [distill] keys (genzoo job-reference lists them with their defaults).
  cmd->add_option("--students", options->students, "Student structures, e.g. linear_ae linear_ae:latent=8 (default: [distill] students)");
  cmd->add_option("--methods", options->methods, "Methods among " + join(distill::method_names()) + " (default: [distill] methods)");
  cmd->add_option("--sizes", options->sizes, "Training-set sizes n (default: [distill] sizes)")->check(CLI::Range(2, 18000));
  cmd->add_option("--seeds", options->seeds, "Restarts per (mixture, n) (default: [distill] seeds)")->check(CLI::Range(1, 1000));
  cmd->add_option("--mixtures", options->mixtures, "Held-out mixtures drawn from the job seed (default: [distill])")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--steps", options->steps, "Adam steps per student (default: [distill] steps)")->check(CLI::Range(1, 10000000));
  cmd->add_flag("--quiet,-q", options->quiet, "No progress output");
  return [options] {
    Comm& comm = Comm::world();
    const distill::DistillSummary summary = distill::run_distill(*options, comm);
    if (comm.rank() == 0 && summary.interrupted) {
      std::fprintf(stderr, "[distill] stopped by signal: %lld of %lld units in shards; rerun the same command to resume\n",
                   static_cast<long long>(summary.units_done_before), static_cast<long long>(summary.units));
    } else if (comm.rank() == 0) {
      std::printf("%s", distill::format_distill_table(distill::read_distill(summary.output_path)).c_str());
      std::printf("\nwrote %s (%lld results)\n", summary.output_path.c_str(), static_cast<long long>(summary.results));
    }
    comm.finalize();
    return summary.interrupted ? 75 : 0;
  };
}

}  // namespace genzoo::cli
