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
  std::string config_path;        // job file whose seed drives splits and folds (default: the zoo's own job)
  std::string data_dir;           // for latent_mean's probe images (default: job data.dir, $GENZOO_DATA, Debian)
  std::vector<std::string> vectorizations;  // empty: every registered one
  // Families to reduce; empty: all. A family named here that is too small for the embedding's split
  // is an error; unnamed small families are reduced without an embedding (ReduceData::not_embedded).
  std::vector<std::string> families;
  int64_t probe_images_per_class = 100;
  int64_t folds = 5;
  int64_t mi_neighbours = 3;
  int64_t mi_components = 4;   // principal components of the features the KSG estimate sees
  EmbeddingOptions embedding;
  ProbeOptions probe;
  bool quiet = false;
};

// options.output_path, or reduce.h5 in the zoo's directory.
std::string reduce_output_path(const ReduceOptions& options);

// Runs the stage on every rank of comm; rank 0 returns the result (and has written it), other ranks
// return an empty ReduceData. Notes (skipped vectorizations, progress) go to stderr unless quiet.
ReduceData run_reduce(const ReduceOptions& options, Comm& comm);

}  // namespace genzoo
