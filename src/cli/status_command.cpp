// `genzoo status RUN_DIR...`: the state of runs (e.g. every run of a sweep) without touching them.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "cli/commands.h"
#include "common/error.h"
#include "job/job.h"
#include "store/run_dir.h"
#include "store/zoo.h"

namespace genzoo::cli {

namespace {

struct RunState {
  std::string state;   // done | partial | failed | empty | not a run
  std::string detail;
};

// ", 3 garbage, 1 diverged": the models of a finished zoo whose status is not ok, by status.
std::string not_ok_counts(const std::string& zoo_path) {
  std::map<std::string, int64_t> counts;
  for (const std::string& status : read_model_statuses(zoo_path)) {
    if (status != "ok") ++counts[status];
  }
  std::string text;
  for (const auto& [status, count] : counts) text += ", " + std::to_string(count) + " " + status;
  return text;
}

RunState state_of(const std::string& path) {
  const RunDir run(path);
  std::string text;
  try {
    text = run.stored_job_text();
  } catch (const RunDirError&) {
    return {"not a run", "no job.toml"};
  }
  int64_t total = 0;
  std::string name;
  try {
    const Job job = parse_job(text, run.job_path());
    total = job.total_models();
    name = job.name;
  } catch (const JobError& e) {
    return {"failed", e.what()};
  }
  const auto count = [&](int64_t n) { return std::to_string(n) + "/" + std::to_string(total) + " models"; };
  if (std::filesystem::exists(run.zoo_path())) {
    try {
      const int64_t in_zoo = static_cast<int64_t>(read_model_ids(run.zoo_path()).size());
      if (in_zoo == total) return {"done", "job " + name + ", " + count(in_zoo) + not_ok_counts(run.zoo_path())};
    } catch (const StorageError& e) {
      return {"failed", e.what()};
    }
  }
  std::set<int64_t> ids;
  for (const auto& shard : run.shard_files()) {
    try {
      for (int64_t id : read_model_ids(shard)) ids.insert(id);
    } catch (const StorageError& e) {
      return {"failed", e.what()};
    }
  }
  const int64_t done = static_cast<int64_t>(ids.size());
  if (std::filesystem::exists(run.error_path())) {
    std::string error;
    try {
      error = read_text_file(run.error_path());
    } catch (const Error&) {
    }
    while (!error.empty() && (error.back() == '\n' || error.back() == '\r')) error.pop_back();
    return {"failed", count(done) + ": " + error};
  }
  if (done == 0) return {"empty", "job " + name + ", " + count(0)};
  return {"partial", "job " + name + ", " + count(done) + (done == total ? " (not merged: genzoo merge)" : "")};
}

}  // namespace

Runner add_status_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("status", "State of run directories, e.g. of a sweep: done / partial / failed (with the error)");
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("run_dirs", *paths, "Run directories")->required();
  return [paths] {
    int not_done = 0;
    for (const auto& path : *paths) {
      const RunState s = state_of(path);
      std::printf("%-40s %-9s %s\n", path.c_str(), s.state.c_str(), s.detail.c_str());
      not_done += s.state != "done";
    }
    return not_done == 0 ? 0 : 3;  // scripts can wait for a whole sweep
  };
}

}  // namespace genzoo::cli
