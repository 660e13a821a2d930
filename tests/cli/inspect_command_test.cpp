// Integration tests for src/cli/inspect_command.cpp on the zoo and a shard of a real tiny.toml run,
// and on files that are not zoos.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "helpers.h"

namespace genzoo::test {
namespace {

namespace fs = std::filesystem;

// The family table's row for name: models ok collapsed garbage diverged params.
std::vector<std::string> family_row(const std::string& output, const std::string& name) {
  for (const auto& line : output_lines(output)) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    for (std::string field; in >> field;) fields.push_back(field);
    if (fields.size() >= 7 && fields[0] == name) return {fields.begin() + 1, fields.begin() + 7};
  }
  return {};
}

TEST(InspectCommand, ZooShowsFamiliesCountsStatusesAndClasses) {
  const std::string zoo = tiny_reference_run() + "/zoo.h5";
  const CommandResult result = run_genzoo("inspect " + shell_quote(zoo));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // linear_ae 784-16-784 with biases: 2*784*16 + 16 + 784 = 25888 parameters.
  EXPECT_EQ(family_row(result.output, "linear_ae"), (std::vector<std::string>{"16", "16", "0", "0", "0", "25888"})) << result.output;
  EXPECT_EQ(family_row(result.output, "conv_ae")[0], "4") << result.output;
  EXPECT_EQ(family_row(result.output, "conv_ae")[1], "4") << result.output;
  EXPECT_NE(result.output.find("job tiny"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("classes [0, 1, 7]"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("designs: chain 3 probe 4 random 10 triplet 3"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("status:  ok 20"), std::string::npos) << result.output;
  // tiny.toml's two families both have hand-written CPU steps: all 20 models trained by one of them.
  const std::string trainer = kernels::isa_has_wide_fma() ? kernels::isa() : "torch";
  EXPECT_NE(result.output.find("trained by: " + trainer + " 20"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("checkpoints linear_ae: steps [10, 40]"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("schema 1"), std::string::npos) << result.output;
}

TEST(InspectCommand, ShardShowsItsChunkOnly) {
  const CommandResult result = run_genzoo("inspect " + shell_quote(tiny_reference_run() + "/shards/chunk-000000.h5"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // The planner balances chunks: tiny's 16 linear_ae models (at most 5 per chunk) go 4, 4, 4, 4.
  EXPECT_EQ(family_row(result.output, "linear_ae"), (std::vector<std::string>{"4", "4", "0", "0", "0", "25888"})) << result.output;
  EXPECT_TRUE(family_row(result.output, "conv_ae").empty()) << result.output;
  EXPECT_NE(result.output.find("status:  ok 4"), std::string::npos) << result.output;
}

TEST(InspectCommand, GarbageFileIsOneLineNamingIt) {
  TempDir dir;
  const std::string garbage = dir.file("zoo.h5");
  write_text(garbage, "this is not an HDF5 file\n");
  expect_one_line_error(run_genzoo("inspect " + shell_quote(garbage)), {garbage, "not an HDF5 file"});
}

TEST(InspectCommand, TruncatedZooIsOneLineNamingIt) {
  TempDir dir;
  const std::string truncated = dir.file("zoo.h5");
  fs::copy_file(tiny_reference_run() + "/zoo.h5", truncated);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  expect_one_line_error(run_genzoo("inspect " + shell_quote(truncated)), {truncated});
}

TEST(InspectCommand, HdfFileWithoutSchemaIsOneLineNamingIt) {
  TempDir dir;
  const std::string other = dir.file("other.h5");
  const CommandResult made = run_command("/usr/bin/python3 -c \"import h5py; h5py.File('" + other + "', 'w').create_dataset('x', data=[1, 2])\"");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  expect_one_line_error(run_genzoo("inspect " + shell_quote(other)), {other, "schema_version"});
}

}  // namespace
}  // namespace genzoo::test
