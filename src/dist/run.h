// Training a job into a run directory: feature net and class selection, plan, chunks -> shards
// (skipping chunks already in shards), then merge into zoo.h5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

struct Job;

struct RunOptions {
  std::string run_dir;
  std::string data_dir;            // overrides the job's data.dir and $GENZOO_DATA
  std::string device = "auto";
  std::string kernels = "auto";
  std::string schedule = "dynamic";  // dynamic | static (MPI)
  bool quiet = false;
  bool timings = false;             // rank 0 prints where each rank's time went (train, HDF5, MPI)
  int64_t fault_model = -1;         // test-only fault injection
  int fault_rank = -1;              // test-only: the rank on which the fault fires (-1: any)
};

struct RunSummary {
  int64_t total_models = 0;
  int64_t already_done = 0;   // found in shards at start
  int64_t trained = 0;        // by this invocation (all ranks)
  bool merged = false;
  bool was_complete = false;  // nothing to do
  bool interrupted = false;   // stopped by SIGTERM/SIGUSR1 before finishing
};

RunSummary train_run(const Job& job, const RunOptions& options);

// Builds run_dir/zoo.h5 from the feature net and the shards. Throws StorageError naming a corrupt or
// foreign shard, a duplicated model or missing models.
void merge_run(const std::string& run_dir, bool quiet);

}  // namespace genzoo
