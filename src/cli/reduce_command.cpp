// `genzoo reduce RUN_DIR/zoo.h5 [--config JOB]`: vectorizations, probe, embedding, hierarchy and
// information retained, written to RUN_DIR/reduce.h5 (DESIGN.md section 6). Under mpirun/srun the ranks
// share the vectorization; rank 0 trains the probes and encoders and writes the file.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "dist/comm.h"
#include "dist/resources.h"
#include "reduce/pipeline.h"
#include "reduce/vectorize.h"
#include "common/text.h"

namespace genzoo::cli {

Runner add_reduce_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("reduce", "Reduce a zoo: vectorizations, dataset probe, embedding, hierarchy, "
                                           "mutual information -> reduce.h5 next to zoo.h5 (runs under mpirun/srun)");
  auto options = std::make_shared<ReduceOptions>();
  cmd->add_option("zoo", options->zoo_path, "RUN_DIR/zoo.h5")->required()->check(CLI::ExistingFile);
  cmd->add_option("--config", options->config_path,
                  "Job file whose [reduce] section and seed drive the stage (default: the job stored in zoo.h5)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--output,-o", options->output_path, "Output file (default: reduce.h5 next to zoo.h5)");
  cmd->add_option("--data", options->data_dir, "Fashion-MNIST directory for latent_mean's probe images");
  cmd->add_option("--families", options->families,
                  "Families to reduce (default: all; a family too small for the embedding's split is then "
                  "reduced without embedding, while a family named here must be large enough)");
  // Overrides of the job's [reduce] keys (genzoo job-reference lists them with their defaults).
  cmd->add_option("--features", options->features,
                  "Vectorizations to compute (default: [reduce] features, else all of: " + join(vectorization_names()) + ")");
  cmd->add_option("--folds", options->folds, "Probe cross-validation folds (default: [reduce] folds)")->check(CLI::Range(2, 100));
  cmd->add_option("--epochs", options->epochs, "Embedding encoder steps at most (default: [reduce] epochs)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("--priors-only", options->priors_only,
               "Recompute only the priors of the existing output file (its features, embedding and dendrogram are kept); "
               "with --config, under that job's [reduce] prior_* keys");
  cmd->add_flag("--include-garbage", options->include_garbage,
                "Also reduce models with status garbage (final loss above the trivial predictor's; left out by default)");
  cmd->add_flag("--quiet,-q", options->quiet, "No progress output");
  return [options] {
    Comm& comm = Comm::world();
    set_threads(owned_cores());
    const ReduceData data = run_reduce(*options, comm);
    if (comm.rank() == 0) {
      std::printf("%s", format_reduce_tables(data).c_str());
      std::printf("\nwrote %s\n", reduce_output_path(*options).c_str());
    }
    comm.finalize();
    return 0;
  };
}

}  // namespace genzoo::cli
