// `genzoo distill` end to end (DESIGN.md section 6, seed 004): zoo.h5 + reduce.h5 -> for every held-out
// target mixture, training-set size n and seed (one unit of work), every student structure's methods
// trained together -> one shard per unit -> distill.h5. Units go to MPI ranks dynamically; a rerun
// skips the units already in shards, so an interrupted distill loses at most the units in flight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

class Comm;
struct Job;
struct FamilyConfig;

namespace distill {

struct DistillOptions {
  std::string zoo_path;
  std::string reduce_path;     // default: reduce.h5 next to zoo.h5
  std::string config_path;     // job whose [distill] section drives it (default: the job stored in zoo.h5)
  std::string output_path;     // default: distill.h5 next to zoo.h5
  std::string data_dir;
  std::string device = "auto";
  std::string schedule = "dynamic";
  std::string kernels = "auto";   // auto | fast | torch: the students' hand-written CPU steps
  bool quiet = false;
  // Overrides of [distill]; empty / 0: as the job says.
  std::vector<std::string> students, methods;
  std::vector<int64_t> sizes;
  int64_t seeds = 0, mixtures = 0, steps = 0;
};

struct DistillSummary {
  int64_t units = 0;
  int64_t units_done_before = 0;  // found in shards at start
  int64_t results = 0;
  bool interrupted = false;       // stopped by SIGTERM / SIGUSR1 before finishing
  std::string output_path;
};

// A student structure of the run: its name ("linear_ae", "linear_ae:latent=8"), its configuration
// and its teacher's (the job's family table of that name).
struct StudentStructure {
  std::string name, family;
  const FamilyConfig* teacher = nullptr;
  std::vector<std::pair<std::string, int64_t>> changes;  // empty: the teacher's own structure
};

// [distill] students resolved against the job (default: each linear_ae and conv_ae family at its own
// structure and at half its code width). Throws DistillError naming the entry.
std::vector<StudentStructure> resolve_students(const Job& job);

// The output file and its shard directory ("<output>.shards").
std::string distill_output_path(const DistillOptions& options);

// Runs on every rank of comm; rank 0 merges distill.h5 and prints the summary table.
DistillSummary run_distill(const DistillOptions& options, Comm& comm);

}  // namespace distill
}  // namespace genzoo
