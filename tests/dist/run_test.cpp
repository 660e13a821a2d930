// Integration tests for src/dist/run.cpp and src/dist/comm.cpp: the real genzoo binary under mpirun
// (as root, oversubscribed on however many cores the machine has) and as a single process, killed,
// interrupted and failing on purpose. Results are read back with read_zoo (src/store/zoo.h).
//
// Rank counts (GROMACS-style): every test name ends in the number of MPI ranks it launches
// (OneProcess = no mpirun). Every mpirun runs under `timeout`, so a hang fails the test instead of
// blocking the suite. No test asserts wall-clock times.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <regex>
#include <set>

#include "helpers.h"
#include "store/zoo.h"

namespace genzoo::test {
namespace {

namespace fs = std::filesystem;

constexpr int kMpiTimeout = 120;  // seconds: anti-hang only
constexpr int kTimeoutExit = 124;  // what `timeout` returns when it had to kill

// Weights of one model may differ across rank counts only by float32 rounding (thread counts of the
// BLAS differ with the ranks' core shares); 1e-5 absolute is far below any real difference.
constexpr double kWeightTolerance = 1e-5;

std::string train_args(const std::string& job, const std::string& run, const std::string& extra = "") {
  return "train " + shell_quote(job) + " --run " + shell_quote(run) + (extra.empty() ? "" : " " + extra);
}

CommandResult run_mpi(int ranks, const std::string& args) {
  return run_command(genzoo_mpi_command(ranks, args, kMpiTimeout));
}

// A slower variant of tiny.toml (linear_ae only, many small chunks, more steps) that trains for a few
// seconds, so that a test can kill or signal it with some shards written and others not.
constexpr int kSlowModels = 24;
constexpr int kSlowChunks = 12;
std::string slow_job_text() {
  return R"(# tests/dist/run_test.cpp: slow enough to be interrupted
name = "slow"
seed = 11

[data]
num_classes = 3
classes = [0, 1, 7]
samples_min = 200
samples_max = 400

[[family]]
name = "linear_ae"
models = 24
latent = 16
steps = 1500
batch_size = 32
lr = 1e-3
chunk_models = 2
)";
}

struct SlowReference {
  std::string job;  // the job file (in a TempDir of the process)
  std::string run;  // its uninterrupted 1-process run (see reference_run)
};

const SlowReference& slow_reference() {
  static TempDir dir;
  static const SlowReference reference = [] {
    SlowReference r;
    r.job = dir.file("slow.toml");
    write_text(r.job, slow_job_text());
    r.run = reference_run("slow", slow_job_text());
    return r;
  }();
  return reference;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

// Same models (ids, metadata, design), same weights within kWeightTolerance; ranks and timings may differ.
void expect_same_zoo(const ZooData& actual, const ZooData& expected) {
  EXPECT_EQ(actual.attrs.job_fingerprint, expected.attrs.job_fingerprint);
  EXPECT_EQ(actual.attrs.job_toml, expected.attrs.job_toml);
  EXPECT_EQ(actual.attrs.classes, expected.attrs.classes);
  ASSERT_EQ(actual.models.size(), expected.models.size());
  for (size_t i = 0; i < expected.models.size(); ++i) {
    const ModelRecord& a = actual.models[i];
    const ModelRecord& e = expected.models[i];
    SCOPED_TRACE("model " + std::to_string(e.id));
    EXPECT_EQ(a.id, e.id);
    EXPECT_EQ(a.family, e.family);
    EXPECT_EQ(a.seed, e.seed);
    EXPECT_EQ(a.init_group, e.init_group);
    EXPECT_EQ(a.lr, e.lr);
    EXPECT_EQ(a.counts, e.counts);
    EXPECT_EQ(a.proportions, e.proportions);
    EXPECT_EQ(a.sample_indices, e.sample_indices);
    EXPECT_EQ(a.design, e.design);
    EXPECT_EQ(a.design_group, e.design_group);
    EXPECT_EQ(a.design_role, e.design_role);
    EXPECT_EQ(a.status, e.status);
    EXPECT_NEAR(a.final_loss, e.final_loss, 1e-5 * std::fabs(e.final_loss));
    EXPECT_NEAR(a.test_loss, e.test_loss, 1e-5 * std::fabs(e.test_loss));
  }
  ASSERT_EQ(actual.weights.size(), expected.weights.size());
  for (const auto& [family, e] : expected.weights) {
    SCOPED_TRACE("family " + family);
    ASSERT_TRUE(actual.weights.count(family));
    const FamilyWeights& a = actual.weights.at(family);
    EXPECT_EQ(a.model_ids, e.model_ids);
    EXPECT_EQ(a.param_count(), e.param_count());
    ASSERT_EQ(a.data.size(), e.data.size());
    EXPECT_LE(max_abs_diff(a.data, e.data), kWeightTolerance);
    EXPECT_EQ(a.checkpoint_steps, e.checkpoint_steps);
    ASSERT_EQ(a.checkpoints.size(), e.checkpoints.size());
    EXPECT_LE(max_abs_diff(a.checkpoints, e.checkpoints), kWeightTolerance);
  }
}

std::set<int32_t> ranks_used(const ZooData& zoo) {
  std::set<int32_t> ranks;
  for (const auto& model : zoo.models) ranks.insert(model.rank);
  return ranks;
}

// Model id -> chunk index, from the shard names (chunk-NNNNNN.h5).
std::map<int64_t, int> chunk_of_models(const std::string& run) {
  std::map<int64_t, int> chunk_of;
  for (const auto& entry : fs::directory_iterator(run + "/shards")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("chunk-", 0) != 0) continue;
    const int chunk = std::stoi(name.substr(6, 6));
    for (int64_t id : read_model_ids(entry.path().string())) chunk_of[id] = chunk;
  }
  return chunk_of;
}

// Trains tiny.toml with `ranks` MPI ranks and compares the merged zoo with the 1-process reference.
void expect_mpi_run_matches_one_process(int ranks, const std::string& schedule) {
  TempDir dir;
  const std::string run = dir.file("run");
  const CommandResult result = run_mpi(ranks, train_args(tiny_job_path(), run, "--quiet --schedule " + schedule));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("20 models (20 trained now, 0 resumed from shards)"), std::string::npos) << result.output;
  const ZooData zoo = read_zoo(run + "/zoo.h5");
  expect_same_zoo(zoo, read_zoo(tiny_reference_run() + "/zoo.h5"));
  for (int32_t rank : ranks_used(zoo)) {
    EXPECT_GE(rank, 0);
    EXPECT_LT(rank, ranks);
  }
  if (schedule == "static") {
    // Static: chunk i of a fresh run goes to rank i mod size, so every rank trains (6 chunks >= ranks).
    for (const auto& [id, chunk] : chunk_of_models(run)) {
      EXPECT_EQ(zoo.models.at(id).rank, chunk % ranks) << "model " << id << " of chunk " << chunk;
    }
    EXPECT_EQ(ranks_used(zoo).size(), static_cast<size_t>(ranks));
  }
}

TEST(DistRun, DynamicMatchesOneProcess_2Ranks) {
  expect_mpi_run_matches_one_process(2, "dynamic");
}

TEST(DistRun, DynamicUsesBothRanks_2Ranks) {
  // Rank 0 trains too and hands chunks to rank 1 between its own steps; with 6 chunks both get work.
  TempDir dir;
  const std::string run = dir.file("run");
  const CommandResult result = run_mpi(2, train_args(tiny_job_path(), run, "--quiet"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(ranks_used(read_zoo(run + "/zoo.h5")), (std::set<int32_t>{0, 1}));
}

TEST(DistRun, StaticMatchesOneProcess_2Ranks) { expect_mpi_run_matches_one_process(2, "static"); }

TEST(DistRun, DynamicMatchesOneProcess_3Ranks) { expect_mpi_run_matches_one_process(3, "dynamic"); }

TEST(DistRun, StaticMatchesOneProcess_3Ranks) { expect_mpi_run_matches_one_process(3, "static"); }

// "[train] resuming: N of M models already in shards" and the summary "(T trained now, N resumed ...)".
void expect_resumed(const std::string& output, int total) {
  std::smatch resuming, summary;
  ASSERT_TRUE(std::regex_search(output, resuming, std::regex(R"(\[train\] resuming: (\d+) of (\d+) models already in shards)")))
      << output;
  ASSERT_TRUE(std::regex_search(output, summary,
                                std::regex(R"((\d+) models \((\d+) trained now, (\d+) resumed from shards\))")))
      << output;
  const int already = std::stoi(resuming[1]);
  EXPECT_GT(already, 0);
  EXPECT_LT(already, total);
  EXPECT_EQ(std::stoi(resuming[2]), total);
  EXPECT_EQ(std::stoi(summary[1]), total);
  EXPECT_EQ(std::stoi(summary[3]), already);
  EXPECT_EQ(std::stoi(summary[2]) + already, total);
}

// Waits until at least one shard (but not the zoo) exists, then kills everything launched by command.
void start_and_kill_after_first_shard(const std::string& command, const std::string& run) {
  BackgroundProcess process(command);
  const bool shard_written = wait_until(
      [&] { return count_files(run + "/shards", "chunk-", ".h5") >= 1 || !process.running(); }, 90) &&
      process.running();
  process.signal_group(SIGKILL);
  kill_processes_mentioning(run);  // ranks that outlived mpirun, if any
  const int code = process.wait(30);
  ASSERT_TRUE(shard_written) << process.output();
  EXPECT_EQ(code, 128 + SIGKILL) << process.output();
  ASSERT_TRUE(wait_until([&] { return kill_processes_mentioning(run) == 0; }, 10));
  ASSERT_FALSE(fs::exists(run + "/zoo.h5"));
  ASSERT_LT(count_files(run + "/shards", "chunk-", ".h5"), kSlowChunks) << "the run finished before the kill";
}

void expect_complete_like_reference(const std::string& run) {
  const ZooData zoo = read_zoo(run + "/zoo.h5");  // merge already checked: every model id exactly once
  std::vector<int64_t> ids;
  for (const auto& model : zoo.models) ids.push_back(model.id);
  std::vector<int64_t> expected(kSlowModels);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(ids, expected);
  expect_same_zoo(zoo, read_zoo(slow_reference().run + "/zoo.h5"));
  EXPECT_EQ(count_files(run + "/shards", "chunk-", ".h5"), kSlowChunks);
  EXPECT_EQ(count_files(run + "/shards", "", ""), kSlowChunks) << "temporaries of the killed writer remain";
}

TEST(DistRun, ResumesAfterSigkill_OneProcess) {
  const SlowReference& reference = slow_reference();
  TempDir dir;
  const std::string run = dir.file("run");
  start_and_kill_after_first_shard("exec " + std::string(GENZOO_BINARY) + " " + train_args(reference.job, run), run);

  const CommandResult resumed = run_genzoo(train_args(reference.job, run));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_resumed(resumed.output, kSlowModels);
  expect_complete_like_reference(run);
}

TEST(DistRun, ResumesAfterSigkill_2Ranks) {
  const SlowReference& reference = slow_reference();
  TempDir dir;
  const std::string run = dir.file("run");
  start_and_kill_after_first_shard("exec env " + genzoo_mpi_command(2, train_args(reference.job, run)), run);

  const CommandResult resumed = run_mpi(2, train_args(reference.job, run));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_resumed(resumed.output, kSlowModels);
  expect_complete_like_reference(run);
}

TEST(DistRun, SigtermStopsWithCode75ThenRerunCompletes_OneProcess) {
  const SlowReference& reference = slow_reference();
  TempDir dir;
  const std::string run = dir.file("run");
  {
    BackgroundProcess process("exec " + std::string(GENZOO_BINARY) + " " + train_args(reference.job, run));
    ASSERT_TRUE(wait_until([&] { return count_files(run + "/shards", "chunk-", ".h5") >= 1 || !process.running(); }, 90) &&
                process.running())
        << process.output();
    process.signal(SIGTERM);
    const int code = process.wait(60);  // anti-hang; the chunk in flight is abandoned at its next step
    EXPECT_EQ(code, 75) << process.output();
    EXPECT_NE(process.output().find("interrupted"), std::string::npos) << process.output();
    EXPECT_NE(process.output().find("rerun"), std::string::npos) << process.output();
  }
  EXPECT_FALSE(fs::exists(run + "/zoo.h5"));
  EXPECT_LT(count_files(run + "/shards", "chunk-", ".h5"), kSlowChunks);

  const CommandResult resumed = run_genzoo(train_args(reference.job, run));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_resumed(resumed.output, kSlowModels);
  expect_complete_like_reference(run);
}

TEST(DistRun, FailureOnOneRankAbortsAllNamingRankAndModel_2Ranks) {
  TempDir dir;
  const CommandResult result = run_mpi(2, train_args(tiny_job_path(), dir.file("run"), "--quiet --inject-fault 3"));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.exit_code, kTimeoutExit) << "hung until timeout:\n" << result.output;
  EXPECT_TRUE(std::regex_search(result.output, std::regex(R"(genzoo: error: \[rank [01] of 2\] .*model 3\b)")))
      << result.output;
  EXPECT_FALSE(fs::exists(dir.file("run") + "/zoo.h5"));
}

TEST(DistRun, FaultOnWorkerRankIsNamed_2Ranks) {
  // Static schedule: chunk 1 (tiny's linear_ae models 4..7; the planner balances 16 models into
  // chunks of 4) goes to rank 1, and the fault fires only there.
  TempDir dir;
  const CommandResult result =
      run_mpi(2, train_args(tiny_job_path(), dir.file("run"), "--quiet --schedule static --inject-fault 7@1"));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.exit_code, kTimeoutExit) << "hung until timeout:\n" << result.output;
  EXPECT_TRUE(std::regex_search(result.output, std::regex(R"(genzoo: error: \[rank 1 of 2\] .*model 7\b)"))) << result.output;
}

TEST(DistRun, MissingDataOnOneRankAbortsAll_2Ranks) {
  // MPMD launch: rank 0 has the data, rank 1 is pointed at a directory that does not exist.
  TempDir dir;
  const std::string run = dir.file("run");
  const std::string command = mpi_env() + "timeout " + std::to_string(kMpiTimeout) + " " + MPIEXEC +
                              " --oversubscribe -np 1 " + GENZOO_BINARY + " " + train_args(tiny_job_path(), run) +
                              " : -np 1 " + GENZOO_BINARY + " " + train_args(tiny_job_path(), run, "--data /nonexistent");
  const CommandResult result = run_command(command);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.exit_code, kTimeoutExit) << "hung until timeout:\n" << result.output;
  EXPECT_TRUE(std::regex_search(result.output,
                                std::regex(R"(genzoo: error: \[rank 1 of 2\] /nonexistent/train-images-idx3-ubyte)")))
      << result.output;
  EXPECT_FALSE(fs::exists(run + "/zoo.h5"));
}

TEST(DistRun, SlurmNtasksMismatchRefused_OneProcess) {
  TempDir dir;
  const std::string run = dir.file("run");
  const CommandResult refused = run_command("SLURM_NTASKS=2 " + std::string(GENZOO_BINARY) + " " + train_args(tiny_job_path(), run));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  const std::vector<std::string> lines = output_lines(refused.output);
  ASSERT_EQ(lines.size(), 1u) << refused.output;
  EXPECT_NE(lines[0].find("SLURM_NTASKS is 2"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("world size is 1"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("GENZOO_IGNORE_SLURM_NTASKS=1"), std::string::npos) << lines[0];
  EXPECT_FALSE(fs::exists(run)) << "a refused launch must not touch the run directory";

  // The override (checked on a finished run, so nothing needs training).
  copy_tree(tiny_reference_run(), run);
  const CommandResult overridden = run_command("SLURM_NTASKS=2 GENZOO_IGNORE_SLURM_NTASKS=1 " + std::string(GENZOO_BINARY) +
                                               " " + train_args(tiny_job_path(), run));
  EXPECT_EQ(overridden.exit_code, 0) << overridden.output;
  EXPECT_NE(overridden.output.find("nothing to do"), std::string::npos) << overridden.output;
  const CommandResult matching = run_command("SLURM_NTASKS=1 " + std::string(GENZOO_BINARY) + " " + train_args(tiny_job_path(), run));
  EXPECT_EQ(matching.exit_code, 0) << matching.output;
}

TEST(DistRun, SlurmNtasksComparedWithWorldSize_2Ranks) {
  TempDir dir;
  const std::string run = dir.file("run");
  copy_tree(tiny_reference_run(), run);  // finished: the check is all that runs
  const auto command = [&](int ntasks) {
    return mpi_env() + "timeout " + std::to_string(kMpiTimeout) + " " + MPIEXEC + " --oversubscribe -x SLURM_NTASKS=" +
           std::to_string(ntasks) + " -np 2 " + GENZOO_BINARY + " " + train_args(tiny_job_path(), run);
  };
  const CommandResult result = run_command(command(2));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("nothing to do"), std::string::npos) << result.output;

  // The same launch with a SLURM_NTASKS that is not the world size is refused by every rank.
  const CommandResult refused = run_command(command(3));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.exit_code, kTimeoutExit) << "hung until timeout:\n" << refused.output;
  EXPECT_NE(refused.output.find("MPI world size is 2 but SLURM_NTASKS is 3"), std::string::npos) << refused.output;
}

// ---- merge

// A copy of the tiny reference run without its zoo.h5: six shards, chunk-000000 .. chunk-000005
// (models 0-3, 4-7, 8-11, 12-15 of linear_ae; 16-17, 18-19 of conv_ae).
std::string unmerged_copy(const TempDir& dir) {
  const std::string run = dir.file("run");
  copy_tree(tiny_reference_run(), run);
  fs::remove(run + "/zoo.h5");
  return run;
}

void expect_merge_refused(const std::string& run, const std::vector<std::string>& parts) {
  const DirSnapshot before = snapshot_dir(run);
  const CommandResult result = run_genzoo("merge " + shell_quote(run));
  EXPECT_NE(result.exit_code, 0) << result.output;
  const std::vector<std::string> lines = output_lines(result.output);
  ASSERT_EQ(lines.size(), 1u) << result.output;
  EXPECT_EQ(lines[0].rfind("genzoo: error: merge: ", 0), 0u) << lines[0];
  for (const auto& part : parts) EXPECT_NE(lines[0].find(part), std::string::npos) << "missing '" << part << "' in: " << lines[0];
  EXPECT_EQ(snapshot_changes(before, snapshot_dir(run)), "") << "a refused merge must not write";
}

TEST(DistMerge, RebuildsTheSameZoo_OneProcess) {
  TempDir dir;
  const std::string run = unmerged_copy(dir);
  const CommandResult result = run_genzoo("merge " + shell_quote(run));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const ZooData merged = read_zoo(run + "/zoo.h5");
  const ZooData reference = read_zoo(tiny_reference_run() + "/zoo.h5");
  expect_same_zoo(merged, reference);
  for (const auto& [family, weights] : reference.weights) EXPECT_EQ(merged.weights.at(family).data, weights.data);
}

TEST(DistMerge, CorruptShardIsNamed_OneProcess) {
  TempDir dir;
  const std::string run = unmerged_copy(dir);
  const std::string shard = run + "/shards/chunk-000002.h5";
  write_text(shard, std::string(4096, 'x'));
  expect_merge_refused(run, {"shard " + shard, "unreadable", "not an HDF5 file"});
}

TEST(DistMerge, TruncatedShardIsNamed_OneProcess) {
  TempDir dir;
  const std::string run = unmerged_copy(dir);
  const std::string shard = run + "/shards/chunk-000004.h5";
  fs::resize_file(shard, fs::file_size(shard) / 2);
  expect_merge_refused(run, {"shard " + shard});
}

TEST(DistMerge, ShardOfAnotherJobIsNamed_OneProcess) {
  TempDir dir;
  const std::string run = unmerged_copy(dir);
  const std::string foreign = run + "/shards/chunk-000099.h5";
  fs::copy_file(slow_reference().run + "/shards/chunk-000000.h5", foreign);
  expect_merge_refused(run, {"shard " + foreign, "belongs to another job", "slow"});
}

TEST(DistMerge, MissingModelsAreCounted_OneProcess) {
  TempDir dir;
  const std::string run = unmerged_copy(dir);
  fs::remove(run + "/shards/chunk-000001.h5");  // linear_ae models 4..7
  expect_merge_refused(run, {"holds 16 of 20 models", "rerun `genzoo train`"});
}

TEST(DistMerge, DuplicatedModelIsNamed_OneProcess) {
  TempDir dir;
  const std::string run = unmerged_copy(dir);
  fs::copy_file(run + "/shards/chunk-000000.h5", run + "/shards/chunk-000010.h5");
  expect_merge_refused(run, {"model 0 is in both", "chunk-000000.h5", "chunk-000010.h5"});
}

TEST(DistMerge, DirectoryThatIsNoRunIsRefused_OneProcess) {
  TempDir dir;
  const CommandResult result = run_genzoo("merge " + shell_quote(dir.path()));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("not a genzoo run directory"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace genzoo::test
