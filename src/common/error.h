// One exception type per kind of failure; every message names the file, field, model or rank involved.
// Thrown at the failure site, caught once at the CLI boundary (src/cli/main.cpp).
#pragma once

#include <stdexcept>
#include <string>

namespace genzoo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A data file (IDX) is missing, truncated or corrupt.
class DataError : public Error {
 public:
  using Error::Error;
};

// A job file is unreadable or fails validation (unknown key, wrong type, out of range).
class JobError : public Error {
 public:
  using Error::Error;
};

// An HDF5 file (zoo, shard, reduce) cannot be read or written, or has the wrong schema.
class StorageError : public Error {
 public:
  using Error::Error;
};

// A run directory is in a state that forbids the requested action (e.g. it belongs to another job).
class RunDirError : public Error {
 public:
  using Error::Error;
};

// Training a model or a batch of models failed in a way that is not a per-model divergence.
class TrainError : public Error {
 public:
  using Error::Error;
};

// MPI launch or communication failed (world size mismatch, a peer rank failed).
class MpiError : public Error {
 public:
  using Error::Error;
};

// The reduction stage cannot run on its input (a family with too few models for a split, features
// that do not fit a task).
class ReduceError : public Error {
 public:
  using Error::Error;
};

// Distillation cannot run on its input (no prior for a student, a size larger than the mixture's pool).
class DistillError : public Error {
 public:
  using Error::Error;
};

// The command line is inconsistent beyond what CLI11 checks.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace genzoo
