// The reduction stage end to end (DESIGN.md section 6): zoo.h5 -> vectorizations (MPI ranks share the
// models) -> probe, embedding, hierarchy, information (rank 0) -> reduce.h5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reduce/reduce_file.h"

namespace genzoo {

class Comm;
struct ZooData;

struct ReduceOptions {
  std::string zoo_path;
  std::string output_path;        // default: reduce.h5 next to zoo.h5
  // Job file whose [reduce] section and seed drive the stage (default: the job stored in zoo.h5).
  std::string config_path;
  std::string data_dir;           // for latent_mean's probe images (default: job data.dir, $GENZOO_DATA, Debian)
  // Families to reduce; empty: all. A family named here that is too small for the embedding's split
  // is an error; unnamed small families are reduced without an embedding (ReduceData::not_embedded).
  std::vector<std::string> families;
  // Overrides of the job's [reduce] section; empty / 0: as the job says.
  std::vector<std::string> features;
  int64_t folds = 0;
  int64_t epochs = 0;
  bool quiet = false;
  // Read the existing output file and recompute only its /priors (features, probe, embedding and
  // hierarchy stay as they are). The file must come from this zoo (same job fingerprint).
  bool priors_only = false;
  // Keep models whose status is garbage (left out by default, with a note saying how many).
  bool include_garbage = false;
};

// The embedding trained on all of a family's vectorizations concatenated is stored under this name
// (/embedding/<family>/combined); it has no /features group of its own.
constexpr const char* kCombinedFeature = "combined";

// options.output_path, or reduce.h5 in the zoo's directory.
std::string reduce_output_path(const ReduceOptions& options);

// Runs the stage on every rank of comm; rank 0 returns the result (and has written it), other ranks
// return an empty ReduceData. Notes (skipped vectorizations, progress) go to stderr unless quiet.
ReduceData run_reduce(const ReduceOptions& options, Comm& comm);

}  // namespace genzoo
