#include "helpers.h"

#include <gtest/gtest.h>

#include "store/run_dir.h"  // fingerprint

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>

#include "common/rng.h"
#include <thread>

namespace genzoo::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "genzoo-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult run_genzoo(const std::string& args) {
  return run_command(std::string(GENZOO_BINARY) + " " + args);
}

CommandResult run_genzoo_mpi(int ranks, const std::string& args) {
  std::ostringstream cmd;
  cmd << "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
      << MPIEXEC << " --oversubscribe -np " << ranks << " " << GENZOO_BINARY << " " << args;
  return run_command(cmd.str());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string source_dir() { return GENZOO_SOURCE_DIR; }

namespace {

constexpr int64_t kSide = 28;

// Class patterns depend only on seed and class; image draws on (seed, stream).
ImageSet draw_images(int64_t per_class, int num_classes, uint64_t seed, uint64_t stream) {
  struct Blob {
    double x, y, width, height;
  };
  std::vector<std::vector<Blob>> patterns(num_classes);
  for (int c = 0; c < num_classes; ++c) {
    Rng rng(mix_seed(seed, 1000 + c));
    for (int b = 0; b < 3; ++b) {
      patterns[c].push_back({4.0 + 20.0 * rng.uniform(), 4.0 + 20.0 * rng.uniform(), 1.5 + 3.0 * rng.uniform(), 0.6 + 0.4 * rng.uniform()});
    }
  }
  ImageSet set;
  set.rows = set.cols = kSide;
  const int64_t count = per_class * num_classes;
  set.bytes.resize(count * kSide * kSide);
  set.labels.resize(count);
  Rng rng(mix_seed(seed, stream));
  for (int64_t i = 0; i < count; ++i) {
    const int c = static_cast<int>(i % num_classes);
    set.labels[i] = static_cast<uint8_t>(c);
    const double dx = 4.0 * rng.uniform() - 2.0, dy = 4.0 * rng.uniform() - 2.0, scale = 0.6 + 0.4 * rng.uniform();
    for (int64_t y = 0; y < kSide; ++y) {
      for (int64_t x = 0; x < kSide; ++x) {
        double value = 0.0;
        for (const Blob& b : patterns[c]) {
          const double rx = (x - b.x - dx) / b.width, ry = (y - b.y - dy) / b.width;
          value += b.height * std::exp(-0.5 * (rx * rx + ry * ry));
        }
        value = std::clamp(scale * value + 0.1 * (rng.uniform() - 0.5), 0.0, 1.0);
        set.bytes[i * kSide * kSide + y * kSide + x] = static_cast<uint8_t>(std::lround(255.0 * value));
      }
    }
  }
  set.pixels.resize(set.bytes.size());
  for (size_t j = 0; j < set.bytes.size(); ++j) set.pixels[j] = pixel_value(set.bytes[j]);
  return set;
}

}  // namespace

ImageSet synthetic_images(int64_t per_class, int num_classes, uint64_t seed) {
  return draw_images(per_class, num_classes, seed, 1);
}

void plan_on_dataset(PlannedJob& target, const std::string& job_text, const std::string& source) {
  target.job = parse_job(job_text, source);
  std::vector<std::vector<int64_t>> pools;
  for (int64_t c : target.job.data.classes) pools.push_back(target.dataset.train.indices_of_class(static_cast<int>(c)));
  target.plan = make_plan(target.job, target.job.data.classes, pools);
  target.family_specs.assign(target.job.families.size(), {});
  for (const ModelSpec& m : target.plan.models) target.family_specs[m.family_index].push_back(&m);
  target.eval.dataset = &target.dataset;
  for (int64_t c : target.plan.classes) {
    target.eval.test_pools.push_back(target.dataset.test.indices_of_class(static_cast<int>(c)));
  }
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::max(worst, std::isnan(d) ? INFINITY : d);
  }
  return worst;
}

Dataset synthetic_dataset(int64_t train_per_class, int64_t test_per_class, int num_classes, uint64_t seed) {
  Dataset dataset;
  dataset.name = "synthetic";
  dataset.train = draw_images(train_per_class, num_classes, seed, 1);
  dataset.test = draw_images(test_per_class, num_classes, seed, 2);
  return dataset;
}

}  // namespace genzoo::test

// ---- integration tests

namespace genzoo::test {

namespace fs = std::filesystem;
using genzoo::fingerprint;

std::string tiny_job_path() { return source_dir() + "/tests/data/jobs/tiny.toml"; }

std::string reference_run(const std::string& name, const std::string& job_text) {
  const fs::path binary(GENZOO_BINARY);
  const auto binary_mtime = fs::last_write_time(binary).time_since_epoch();
  const std::string stamp = std::to_string(fs::file_size(binary)) + ":" +
                            std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(binary_mtime).count());
  const fs::path cache = binary.parent_path() / "test-cache";
  const std::string prefix = name + "-";
  const fs::path run = cache / (prefix + fingerprint(job_text + "\n" + stamp));
  if (fs::exists(run / "zoo.h5")) return run.string();

  // Train into a private staging directory and rename the finished run into place, so concurrent test
  // processes never see half a run; runs of older binaries go.
  fs::create_directories(cache);
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(cache)) {
    const std::string entry_name = entry.path().filename().string();
    if (entry_name.rfind(prefix, 0) == 0 && entry_name.find(".tmp-") == std::string::npos) fs::remove_all(entry.path(), ignored);
  }
  const fs::path staging = cache / (run.filename().string() + ".tmp-" + std::to_string(getpid()));
  fs::remove_all(staging, ignored);
  fs::create_directories(staging);
  write_text((staging / "job.toml").string(), job_text);
  const CommandResult result = run_genzoo("train " + shell_quote((staging / "job.toml").string()) + " --run " +
                                          shell_quote((staging / "run").string()) + " --quiet");
  if (result.exit_code != 0) {
    fs::remove_all(staging, ignored);
    throw std::runtime_error("training the reference run " + name + " failed:\n" + result.output);
  }
  fs::rename(staging / "run", run, ignored);  // fails harmlessly when another process got there first
  fs::remove_all(staging, ignored);
  if (!fs::exists(run / "zoo.h5")) throw std::runtime_error("reference run " + run.string() + " is missing");
  return run.string();
}

std::string tiny_reference_run() { return reference_run("tiny", read_text(tiny_job_path())); }

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string mpi_env() {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 ";
}

std::string genzoo_mpi_command(int ranks, const std::string& args, int timeout_seconds) {
  std::ostringstream cmd;
  cmd << mpi_env();
  if (timeout_seconds > 0) cmd << "timeout " << timeout_seconds << " ";
  cmd << MPIEXEC << " --oversubscribe -np " << ranks << " " << GENZOO_BINARY << " " << args;
  return cmd.str();
}

std::vector<std::string> output_lines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

void expect_one_line_error(const CommandResult& result, const std::vector<std::string>& parts) {
  EXPECT_NE(result.exit_code, 0) << result.output;
  const std::vector<std::string> lines = output_lines(result.output);
  ASSERT_EQ(lines.size(), 1u) << result.output;
  EXPECT_EQ(lines[0].rfind("genzoo: error: ", 0), 0u) << lines[0];
  for (const auto& part : parts) EXPECT_NE(lines[0].find(part), std::string::npos) << "missing '" << part << "' in: " << lines[0];
}

void copy_tree(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

DirSnapshot snapshot_dir(const std::string& dir) {
  DirSnapshot snapshot;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    FileState state;
    state.contents = read_text(entry.path().string());
    state.mtime_ns = static_cast<long long>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(entry.last_write_time().time_since_epoch()).count());
    snapshot[fs::relative(entry.path(), dir).string()] = std::move(state);
  }
  return snapshot;
}

std::string snapshot_changes(const DirSnapshot& before, const DirSnapshot& after) {
  std::string changes;
  for (const auto& [name, state] : before) {
    const auto now = after.find(name);
    if (now == after.end()) {
      changes += "removed " + name + "\n";
    } else if (now->second.contents != state.contents) {
      changes += "contents changed " + name + "\n";
    } else if (now->second.mtime_ns != state.mtime_ns) {
      changes += "mtime changed " + name + "\n";
    }
  }
  for (const auto& [name, state] : after) {
    if (!before.count(name)) changes += "added " + name + "\n";
  }
  return changes;
}

bool wait_until(const std::function<bool()>& predicate, double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  for (;;) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int count_files(const std::string& dir, const std::string& prefix, const std::string& suffix) {
  int count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      ++count;
    }
  }
  return count;
}

BackgroundProcess::BackgroundProcess(const std::string& command) {
  std::string pattern = (fs::temp_directory_path() / "genzoo-bg-XXXXXX").string();
  const int fd = mkstemp(pattern.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  output_path_ = pattern;
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid_, pid_);  // also from the parent, so signal_group works at once
  close(fd);
}

BackgroundProcess::~BackgroundProcess() {
  if (!reaped_) {
    kill(-pid_, SIGKILL);
    wait(10);
  }
  std::remove(output_path_.c_str());
}

void BackgroundProcess::signal(int sig) const { kill(pid_, sig); }
void BackgroundProcess::signal_group(int sig) const { kill(-pid_, sig); }

int BackgroundProcess::wait(double timeout_seconds) {
  wait_until(
      [this] {
        if (reaped_) return true;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
        reaped_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      },
      timeout_seconds);
  return reaped_ ? exit_code_ : -1;
}

bool BackgroundProcess::running() { return wait(0) == -1; }

std::string BackgroundProcess::output() const { return read_text(output_path_); }

int kill_processes_mentioning(const std::string& text) {
  int killed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == getpid()) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(text) != std::string::npos && kill(pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

}  // namespace genzoo::test
