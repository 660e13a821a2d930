// A run directory holds one job's training state: the job text, the feature net, finished shards
// and the merged zoo. It belongs to exactly one job (by fingerprint of the job text).
#pragma once

#include <string>
#include <vector>

namespace genzoo {

struct Job;

// Stable 64-bit FNV-1a of a text, as 16 hex digits.
std::string fingerprint(const std::string& text);

class RunDir {
 public:
  explicit RunDir(std::string path) : path_(std::move(path)) {}

  // Creates the directory for job, or checks that an existing one was created by the same job.
  // Throws RunDirError (touching nothing) when it belongs to another job.
  void claim(const Job& job) const;
  // Reads the job text stored by claim(). Throws RunDirError when the directory is no run.
  std::string stored_job_text() const;

  const std::string& path() const { return path_; }
  std::string job_path() const { return path_ + "/job.toml"; }
  std::string zoo_path() const { return path_ + "/zoo.h5"; }
  std::string featurenet_path() const { return path_ + "/featurenet.h5"; }
  std::string shard_dir() const { return path_ + "/shards"; }
  // The last failure of `genzoo train` on this run (one line), removed when a train succeeds.
  std::string error_path() const { return path_ + "/error.txt"; }
  std::string shard_path(int64_t chunk_index) const;
  // Completed shards (renamed into place), sorted by name; temporaries of crashed writers are ignored.
  std::vector<std::string> shard_files() const;
  // Removes temporaries left by writers that were killed (name contains ".tmp-").
  void remove_stale_temporaries() const;

 private:
  std::string path_;
};

// Reads a whole text file. Throws RunDirError naming it.
std::string read_text_file(const std::string& path);

// Writes text to path via a temporary file and an atomic rename.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace genzoo
