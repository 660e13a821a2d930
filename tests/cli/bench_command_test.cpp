// Integration tests for src/cli/bench_command.cpp: tiny runs of every workload end with the one
// machine-readable line that scripts (bench/) parse. Only the format and positivity are checked,
// never speed (DESIGN.md section 7).
#include <gtest/gtest.h>

#include <regex>

#include "helpers.h"

namespace genzoo::test {
namespace {

const char* const kFloat = R"(([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?))";

void expect_result_line(const std::string& workload, const std::string& args) {
  const CommandResult result = run_genzoo("bench --workload " + workload + " " + args);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::vector<std::string> lines = output_lines(result.output);
  ASSERT_FALSE(lines.empty());
  const std::string f = kFloat;
  const std::regex line("^" + workload + " models_per_s=" + f + " gflops=" + f + " sgemm_gflops=" + f +
                        " peak_fraction=" + f + " loop_models_per_s=" + f + " isa=([A-Z0-9_]+)$");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(lines.back(), match, line)) << "last line: " << lines.back() << "\n" << result.output;
  for (size_t i = 1; i <= 5; ++i) EXPECT_GT(std::stod(match[i]), 0.0) << "field " << i << " of " << lines.back();
  // peak_fraction is gflops / sgemm_gflops (to the printed precision).
  const double gflops = std::stod(match[2]), sgemm = std::stod(match[3]), fraction = std::stod(match[4]);
  EXPECT_NEAR(fraction, gflops / sgemm, 1e-4 + 1e-3 * fraction) << lines.back();
  EXPECT_NE(result.output.find("workload " + workload + ": 2 models x"), std::string::npos) << result.output;
  // The instruction set the kernels ran with: the one automatic dispatch picks here.
  EXPECT_EQ(match[6].str(), kernels::isa()) << lines.back();
}

TEST(BenchCommand, W1EndsWithResultLine) { expect_result_line("W1", "--models 2 --steps 20"); }

TEST(BenchCommand, W2EndsWithResultLine) { expect_result_line("W2", "--models 2 --steps 3"); }

TEST(BenchCommand, W3EndsWithResultLine) { expect_result_line("W3", "--models 2 --steps 3"); }

TEST(BenchCommand, W4EndsWithResultLine) { expect_result_line("W4", "--models 2 --steps 3"); }

// --isa pins the kernels' target (here the most portable one, with the hand-written path forced).
TEST(BenchCommand, IsaOptionIsTheOneTheResultLineNames) {
  const std::string isa = kernels::available_isas().back();
  const CommandResult result = run_genzoo("--isa " + isa + " bench --workload W1 --models 2 --steps 5 --kernels fast");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(output_lines(result.output).back().find(" isa=" + isa), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("kernels fast, isa " + isa), std::string::npos) << result.output;
}

TEST(BenchCommand, RejectsUnknownWorkload) { EXPECT_NE(run_genzoo("bench --workload W9 --models 2 --steps 2").exit_code, 0); }

}  // namespace
}  // namespace genzoo::test
