// Shared test helpers: temporary directories, running the genzoo binary, small synthetic data.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "data/dataset.h"
#include "kernels/isa.h"
#include "job/job.h"
#include "plan/plan.h"
#include "train/trainer.h"

namespace genzoo::test {

// A suite whose tests run once per instruction set this CPU and build can dispatch the kernels to
// (AVX3, AVX2, SSE4 and the portable SCALAR or EMU128 on an AVX-512 machine): `class Suite : public EveryIsa {};`, TEST_P, then
// GENZOO_INSTANTIATE_EVERY_ISA(Suite).
class EveryIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { kernels::use_isa(GetParam()); }
  void TearDown() override { kernels::use_isa("auto"); }
};

#define GENZOO_INSTANTIATE_EVERY_ISA(Suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(Isa, Suite, ::testing::ValuesIn(::genzoo::kernels::available_isas()), \
                           [](const ::testing::TestParamInfo<std::string>& info) { return info.param; })

// A fresh directory under $TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

// Runs a shell command, capturing its combined output.
CommandResult run_command(const std::string& command);
// Runs the genzoo binary built next to the tests with the given arguments.
CommandResult run_genzoo(const std::string& args);
// Runs genzoo under mpirun with n ranks (allowed as root, oversubscribed).
CommandResult run_genzoo_mpi(int ranks, const std::string& args);

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
std::string source_dir();  // the repository root (jobs/, analysis/)

// Synthetic 28x28 images: every class is a few blurred blobs at class-specific places, each image a
// randomly shifted and scaled copy of its class pattern plus pixel noise. Sample i has label
// i mod num_classes; bytes and pixels are both filled (pixel = pixel_value(byte), as the loader does).
// Deterministic in seed; learnable (an autoencoder's loss drops, a classifier separates the classes).
ImageSet synthetic_images(int64_t per_class, int num_classes, uint64_t seed);
// train and test splits of synthetic_images with the same class patterns (name "synthetic").
Dataset synthetic_dataset(int64_t train_per_class, int64_t test_per_class, int num_classes, uint64_t seed);

// A job planned on a dataset, with the evaluation data of its classes: what trainer-level tests train.
// Keep it where it is built (eval and the plan's spec pointers point into it).
struct PlannedJob {
  Dataset dataset;
  Job job;
  Plan plan;
  EvalData eval;
  std::vector<std::vector<const ModelSpec*>> family_specs;  // [family index]: its specs in plan order
};
// Parses job_text (source names it in errors) and plans it on target.dataset, which must be set.
void plan_on_dataset(PlannedJob& target, const std::string& job_text, const std::string& source);

// Largest |a[i] - b[i]| over n floats; NaN compares as infinitely different.
double max_abs_diff(const float* a, const float* b, int64_t n);

// ---- integration tests (tests/cli, tests/dist): the real binary on the real data

// tests/data/jobs/tiny.toml: 20 models (16 linear_ae in 4 chunks, 4 conv_ae in 2), classes given by
// the job so no feature net is trained; a run takes a few seconds.
std::string tiny_job_path();
// A run directory holding a finished 1-process, uninterrupted `genzoo train` of job_text: the
// reference that distributed, resumed and merged runs are compared with. Trained once per build of
// the genzoo binary and kept under <build dir>/test-cache (ctest runs every test in its own process),
// keyed by the job text and the binary's size and mtime. Shared: tests must not modify it (copy it
// with copy_tree first).
std::string reference_run(const std::string& name, const std::string& job_text);
// reference_run of tests/data/jobs/tiny.toml.
std::string tiny_reference_run();

// text in single quotes for sh.
std::string shell_quote(const std::string& text);
// The environment assignments that let mpirun run as root, oversubscribed (ends with a space).
std::string mpi_env();
// The command run_genzoo_mpi runs, for wrapping (`timeout`, background runs):
// "<mpi_env>timeout <seconds> mpirun --oversubscribe -np <ranks> genzoo <args>"; no timeout when seconds <= 0.
std::string genzoo_mpi_command(int ranks, const std::string& args, int timeout_seconds = 0);
// The combined output's lines (without the trailing newline), empty lines dropped.
std::vector<std::string> output_lines(const std::string& output);
// GoogleTest expectations that a command was refused with one line "genzoo: error: ..." containing
// every part (the CLI's contract for bad input).
void expect_one_line_error(const CommandResult& result, const std::vector<std::string>& parts);

void copy_tree(const std::string& from, const std::string& to);

// Every regular file under a directory: contents and modification time, keyed by relative path.
struct FileState {
  std::string contents;
  long long mtime_ns = 0;
};
using DirSnapshot = std::map<std::string, FileState>;
DirSnapshot snapshot_dir(const std::string& dir);
// "" when equal, else one line per added, removed or changed file.
std::string snapshot_changes(const DirSnapshot& before, const DirSnapshot& after);

// Polls predicate every 50 ms; false when timeout_seconds pass first.
bool wait_until(const std::function<bool()>& predicate, double timeout_seconds);
// Files in dir whose name starts with prefix and ends with suffix (0 when dir is missing).
int count_files(const std::string& dir, const std::string& prefix, const std::string& suffix);

// A shell command running in the background in its own process group, output to a file.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::string& command);
  ~BackgroundProcess();  // SIGKILLs the group if it still runs
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  pid_t pid() const { return pid_; }
  void signal(int sig) const;        // the shell's process (use `exec` in the command to make it the program)
  void signal_group(int sig) const;  // every process of the group
  // Exit code (128 + signal when killed by one), or -1 when still running after timeout_seconds.
  int wait(double timeout_seconds);
  bool running();
  std::string output() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::string output_path_;
};

// SIGKILLs (by pid) every process of ours whose command line contains text: ranks orphaned when a
// test kills mpirun. text must be unique to the test (a TempDir path). Returns how many were killed.
int kill_processes_mentioning(const std::string& text);

}  // namespace genzoo::test
