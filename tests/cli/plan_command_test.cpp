// Integration tests for src/cli/plan_command.cpp and the command line itself (--help, job-reference):
// the real binary on the shipped jobs.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "helpers.h"
#include "store/zoo.h"

namespace genzoo::test {
namespace {

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, separator)) fields.push_back(field);
  return fields;
}

// The row of the family table that starts with name, as whitespace-separated fields.
std::vector<std::string> table_row(const std::string& output, const std::string& name) {
  for (const auto& line : output_lines(output)) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    for (std::string field; in >> field;) fields.push_back(field);
    if (!fields.empty() && fields[0] == name) return fields;
  }
  return {};
}

TEST(PlanCommand, QuickstartSummaryCountsEveryFamily) {
  const CommandResult result = run_genzoo("plan " + shell_quote(source_dir() + "/jobs/quickstart.toml"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // family models random triplet chain probe chunks ...: 24 + 4*3 + 4*3 + 8*2 = 64; 16 + 8*2 = 32.
  const auto linear = table_row(result.output, "linear_ae");
  ASSERT_GE(linear.size(), 7u) << result.output;
  EXPECT_EQ(std::vector<std::string>(linear.begin() + 1, linear.begin() + 7),
            (std::vector<std::string>{"64", "24", "12", "12", "16", "2"}));
  const auto conv = table_row(result.output, "conv_ae");
  ASSERT_GE(conv.size(), 7u) << result.output;
  EXPECT_EQ(std::vector<std::string>(conv.begin() + 1, conv.begin() + 7),
            (std::vector<std::string>{"32", "16", "0", "0", "16", "1"}));
  for (const char* generative : {"vae", "gan"}) {  // 8 random models each, one chunk
    const auto row = table_row(result.output, generative);
    ASSERT_GE(row.size(), 7u) << result.output;
    EXPECT_EQ(std::vector<std::string>(row.begin() + 1, row.begin() + 7),
              (std::vector<std::string>{"8", "8", "0", "0", "0", "1"}));
  }
  const auto total = table_row(result.output, "total");
  ASSERT_GE(total.size(), 3u) << result.output;
  EXPECT_EQ(total[1], "112");
  EXPECT_EQ(total[2], "5");  // chunks
  EXPECT_NE(result.output.find("job quickstart (seed 0)"), std::string::npos) << result.output;
}

TEST(PlanCommand, CsvHasOneRowPerModelAndIsDeterministic) {
  TempDir dir;
  const std::string job = shell_quote(source_dir() + "/jobs/quickstart.toml");
  const CommandResult first = run_genzoo("plan " + job + " --csv " + shell_quote(dir.file("a.csv")));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("wrote 112 rows to " + dir.file("a.csv")), std::string::npos) << first.output;
  const CommandResult second = run_genzoo("plan " + job + " --csv " + shell_quote(dir.file("b.csv")));
  ASSERT_EQ(second.exit_code, 0) << second.output;

  const std::string csv = read_text(dir.file("a.csv"));
  EXPECT_EQ(csv, read_text(dir.file("b.csv")));
  const std::vector<std::string> lines = output_lines(csv);
  ASSERT_EQ(lines.size(), 113u);
  const std::vector<std::string> header = split(lines[0], ',');
  ASSERT_GE(header.size(), 16u);
  EXPECT_EQ(std::vector<std::string>(header.begin(), header.begin() + 3), (std::vector<std::string>{"id", "family", "design"}));
  EXPECT_EQ(header.back(), "p_2");  // K = 3 counts and 3 proportions

  std::map<std::string, int> families, designs;
  for (size_t row = 1; row < lines.size(); ++row) {
    const std::vector<std::string> fields = split(lines[row], ',');
    ASSERT_EQ(fields.size(), header.size()) << lines[row];
    EXPECT_EQ(fields[0], std::to_string(row - 1));
    ++families[fields[1]];
    ++designs[fields[1] + ":" + fields[2]];
    // counts (columns 10..12) add up to n_samples (column 9), within samples_min..samples_max for random models.
    const long n = std::stol(fields[9]);
    EXPECT_EQ(std::stol(fields[10]) + std::stol(fields[11]) + std::stol(fields[12]), n) << lines[row];
    if (fields[2] == "random") {
      EXPECT_GE(n, 1000) << lines[row];
      EXPECT_LE(n, 2000) << lines[row];
    }
  }
  EXPECT_EQ(families, (std::map<std::string, int>{{"conv_ae", 32}, {"gan", 8}, {"linear_ae", 64}, {"vae", 8}}));
  EXPECT_EQ(designs, (std::map<std::string, int>{{"conv_ae:probe", 16},
                                                  {"conv_ae:random", 16},
                                                  {"gan:random", 8},
                                                  {"vae:random", 8},
                                                  {"linear_ae:chain", 12},
                                                  {"linear_ae:probe", 16},
                                                  {"linear_ae:random", 24},
                                                  {"linear_ae:triplet", 12}}));
}

// With the classes given by the job, the plan's CSV is exactly what train trained.
TEST(PlanCommand, CsvMatchesTheTrainedZoo) {
  TempDir dir;
  const CommandResult result = run_genzoo("plan " + shell_quote(tiny_job_path()) + " --csv " + shell_quote(dir.file("p.csv")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::vector<std::string> lines = output_lines(read_text(dir.file("p.csv")));
  const ZooData zoo = read_zoo(tiny_reference_run() + "/zoo.h5");
  ASSERT_EQ(lines.size(), zoo.models.size() + 1);
  for (size_t i = 0; i < zoo.models.size(); ++i) {
    const ModelRecord& m = zoo.models[i];
    const std::vector<std::string> f = split(lines[i + 1], ',');
    ASSERT_EQ(f.size(), 16u) << lines[i + 1];
    EXPECT_EQ(f[0], std::to_string(m.id));
    EXPECT_EQ(f[1], m.family);
    EXPECT_EQ(f[2], m.design);
    EXPECT_EQ(f[3], std::to_string(m.design_group));
    EXPECT_EQ(f[4], std::to_string(m.design_role));
    EXPECT_EQ(f[6], std::to_string(m.init_group));
    EXPECT_EQ(f[7], std::to_string(m.seed));
    EXPECT_EQ(f[9], std::to_string(m.sample_indices.size()));
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(f[10 + k], std::to_string(m.counts[k])) << "model " << m.id;
  }
}

TEST(PlanCommand, JobReferenceListsEveryKeyTheShippedJobsUse) {
  const CommandResult result = run_genzoo("job-reference");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // Every `key = value` line of the shipped jobs is documented.
  std::set<std::string> keys;
  for (const char* job : {"quickstart.toml", "zoo-1k.toml", "paper-probe.toml"}) {
    for (const auto& line : output_lines(read_text(source_dir() + "/jobs/" + job))) {
      std::smatch match;
      if (std::regex_search(line, match, std::regex(R"(^\s*([a-z_]+)\s*=)"))) keys.insert(match[1]);
    }
  }
  ASSERT_GT(keys.size(), 15u);
  for (const auto& key : keys) EXPECT_NE(result.output.find(key), std::string::npos) << "job-reference lacks " << key;
  for (const char* key : {"samples_min", "chunk_models", "checkpoint_steps", "proportions_b", "regularizer", "init_groups"}) {
    EXPECT_NE(result.output.find(key), std::string::npos) << "job-reference lacks " << key;
  }
}

TEST(PlanCommand, HelpNamesSubcommandsAndOptions) {
  const CommandResult help = run_genzoo("--help");
  ASSERT_EQ(help.exit_code, 0) << help.output;
  for (const char* command : {"train", "merge", "plan", "inspect", "bench", "job-reference"}) {
    EXPECT_NE(help.output.find(command), std::string::npos) << "--help lacks " << command;
  }
  const CommandResult train = run_genzoo("train --help");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  for (const char* option : {"--run", "--data", "--device", "--kernels", "--schedule", "--quiet"}) {
    EXPECT_NE(train.output.find(option), std::string::npos) << "train --help lacks " << option;
  }
  // No subcommand, or an unknown option: a usage error, not a run.
  EXPECT_NE(run_genzoo("").exit_code, 0);
  EXPECT_NE(run_genzoo("plan " + shell_quote(tiny_job_path()) + " --no-such-option").exit_code, 0);
}

}  // namespace
}  // namespace genzoo::test
