#include "store/run_dir.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "job/job.h"

namespace fs = std::filesystem;

namespace genzoo {

std::string fingerprint(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) throw RunDirError(path + ": cannot write (" + tmp + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RunDirError(path + ": cannot rename the temporary file into place");
  }
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RunDirError(path + ": cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string RunDir::stored_job_text() const {
  if (!fs::exists(job_path())) throw RunDirError(path_ + ": not a genzoo run directory (no job.toml)");
  return read_text_file(job_path());
}

void RunDir::claim(const Job& job) const {
  std::error_code ec;
  if (fs::exists(job_path())) {
    const std::string stored = stored_job_text();
    if (fingerprint(stored) != fingerprint(job.text)) {
      throw RunDirError("run directory " + path_ + " belongs to another job (its job.toml differs from " + job.source +
                        "); use a new --run directory or the job file stored there");
    }
    // The same job again: its shards resume it; a removed shard directory only means training them anew.
    fs::create_directories(shard_dir(), ec);
    if (ec) throw RunDirError(shard_dir() + ": cannot create the shard directory: " + ec.message());
    return;
  }
  if (fs::exists(path_) && !fs::is_empty(path_, ec)) {
    throw RunDirError("run directory " + path_ + " is not empty and is no genzoo run (no job.toml); refusing to write into it");
  }
  fs::create_directories(shard_dir(), ec);
  if (ec) throw RunDirError(path_ + ": cannot create run directory: " + ec.message());
  write_file_atomically(job_path(), job.text);
}

std::string RunDir::shard_path(int64_t chunk_index) const {
  char name[64];
  std::snprintf(name, sizeof name, "/chunk-%06lld.h5", static_cast<long long>(chunk_index));
  return shard_dir() + name;
}

std::vector<std::string> RunDir::shard_files() const {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(shard_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("chunk-", 0) == 0 && name.size() > 3 && name.substr(name.size() - 3) == ".h5") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void RunDir::remove_stale_temporaries() const {
  std::error_code ec;
  for (const auto& dir : {path_, shard_dir()}) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace genzoo
