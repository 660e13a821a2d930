// The zoo file as a downstream user reads it (DESIGN.md section 5, "plain h5py must be able to read
// everything"): after `genzoo train tiny.toml`, Debian's python3 with h5py and numpy alone rebuilds every
// linear_ae model from the stored layout and recomputes its loss over its own stored training samples
// (tests/data/check_zoo.py), analysis/genzoo_zoo.py reads the same file, and h5dump accepts it.
#include <gtest/gtest.h>

#include <regex>

#include "helpers.h"

namespace genzoo::test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with h5py and numpy
constexpr const char* kDataDir = "/usr/share/datasets/fashion-mnist";

std::string check_script() { return source_dir() + "/tests/data/check_zoo.py"; }

TEST(ZooPython, LinearAeRebuiltFromLayoutReproducesFinalLoss) {
  const std::string zoo = tiny_reference_run() + "/zoo.h5";
  const CommandResult result =
      run_command(std::string(kPython) + " " + shell_quote(check_script()) + " losses " + shell_quote(zoo) + " " + kDataDir);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // All 16 linear_ae models of tiny.toml, each within the script's relative tolerance 1e-4.
  std::smatch match;
  ASSERT_TRUE(std::regex_search(result.output, match,
                                std::regex(R"(linear_ae losses checked: (\d+) models, max relative difference (\S+))")))
      << result.output;
  EXPECT_EQ(match[1], "16");
  EXPECT_LE(std::stod(match[2]), 1e-4);
}

TEST(ZooPython, AnalysisReaderAgreesWithRawFile) {
  const std::string zoo = tiny_reference_run() + "/zoo.h5";
  const CommandResult result = run_command(std::string(kPython) + " " + shell_quote(check_script()) + " analysis " +
                                           shell_quote(zoo) + " " + kDataDir + " " + shell_quote(source_dir() + "/analysis"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("analysis/genzoo_zoo.py checked: 20 models"), std::string::npos) << result.output;
}

TEST(ZooPython, H5dumpReadsTheSchema) {
  const std::string zoo = tiny_reference_run() + "/zoo.h5";
  const CommandResult result = run_command("h5dump -H " + shell_quote(zoo));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* part : {"ATTRIBUTE \"schema_version\"", "ATTRIBUTE \"job_toml\"", "GROUP \"models\"",
                           "DATASET \"sample_indices\"", "DATASET \"final_loss\"", "GROUP \"linear_ae\"",
                           "GROUP \"conv_ae\"", "GROUP \"layout\"", "GROUP \"checkpoints\""}) {
    EXPECT_NE(result.output.find(part), std::string::npos) << "h5dump -H shows no " << part;
  }
  // /weights/linear_ae/data is [16 models, 25888 parameters] (784*16 + 16 + 16*784 + 784).
  EXPECT_NE(result.output.find("( 16, 25888 )"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace genzoo::test
