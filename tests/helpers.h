// Shared test helpers: temporary directories, running the genzoo binary, small synthetic data.
#pragma once

#include <string>
#include <vector>

namespace genzoo::test {

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

}  // namespace genzoo::test
