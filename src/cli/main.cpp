// genzoo command line: one subcommand per pipeline stage. Errors become one line and a non-zero exit.
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "common/error.h"
#include "dist/comm.h"
#include "kernels/isa.h"

int main(int argc, char** argv) {
  // LibTorch's training steps allocate and free tensors of tens of MB every step (a batch of models'
  // gradients). glibc serves those by mmap and returns them at free, so every step page-faults them in
  // afresh: 23 s of system time in 30 s for 16 mlp [784, 800, 50, 10] models x 100 steps. Kept in the heap
  // instead (reused, trimmed only past 1 GiB of free memory) the same run takes 19 s with 0.8 s of it.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"genzoo " GENZOO_VERSION
               ": train zoos of small generative models on class mixtures, store every model's weights in HDF5,\n"
               "and reduce the zoo into model vectors, a hierarchical embedding space and distillation priors.\n\n"
               "Typical session:\n"
               "  genzoo plan jobs/quickstart.toml                 # what the job will train\n"
               "  genzoo train jobs/quickstart.toml --run runs/q   # train (resumable; also under mpirun/srun)\n"
               "  genzoo inspect runs/q/zoo.h5                     # look at the result\n"
               "  genzoo reduce runs/q/zoo.h5                      # model vectors, embedding, hierarchy, priors\n"
               "  genzoo distill runs/q/zoo.h5                     # small students trained with the priors\n"};
  app.require_subcommand(1);
  std::string isa = "auto";
  app.add_option("--isa", isa,
                 "Instruction set of the hand-written kernels: auto (the best this CPU has; default, or $GENZOO_ISA), "
                 "or one of AVX3 (AVX-512), AVX2, SSE4, SCALAR or EMU128 (portable), NEON - e.g. to give every node of a mixed "
                 "cluster the same arithmetic")
      ->capture_default_str();
  std::map<std::string, genzoo::cli::Runner> runners{
      {"train", genzoo::cli::add_train_command(app)},     {"merge", genzoo::cli::add_merge_command(app)},
      {"plan", genzoo::cli::add_plan_command(app)},       {"inspect", genzoo::cli::add_inspect_command(app)},
      {"status", genzoo::cli::add_status_command(app)},   {"bench", genzoo::cli::add_bench_command(app)},
      {"job-reference", genzoo::cli::add_job_reference_command(app)},
      {"reduce", genzoo::cli::add_reduce_command(app)},   {"distill", genzoo::cli::add_distill_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const std::string command = app.get_subcommands().front()->get_name();
  try {
    genzoo::kernels::use_isa_from_environment();
    if (app.count("--isa") > 0) genzoo::kernels::use_isa(isa);
    return runners.at(command)();
  } catch (const genzoo::Error& e) {
    return genzoo::report_fatal_error(e.what());
  } catch (const std::exception& e) {
    return genzoo::report_fatal_error(std::string("internal error: ") + e.what());
  }
}
