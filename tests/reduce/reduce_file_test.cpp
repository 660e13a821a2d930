// Tests for src/reduce/reduce_file.{h,cpp}: a ReduceData round trip through reduce.h5, what plain
// h5py sees, and clear errors for files of another kind or schema version.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "helpers.h"
#include "reduce/reduce_file.h"

namespace genzoo {
namespace {

ReduceData sample_data() {
  ReduceData data;
  data.attrs.genzoo_version = "test";
  data.attrs.created_utc = "2026-01-01T00:00:00Z";
  data.attrs.zoo_path = "run/zoo.h5";
  data.attrs.job_name = "tiny";
  data.attrs.job_fingerprint = "0123456789abcdef";
  data.attrs.classes = {0, 1, 7};
  data.features["svd"]["linear_ae"] = {"svd", "linear_ae", {0, 1, 2}, 2, {1, 2, 3, 4, 5, 6}};
  data.features["svd"]["conv_ae"] = {"svd", "conv_ae", {3, 4}, 3, {7, 8, 9, 10, 11, 12}};
  data.feature_descriptions["svd"] = "singular values";
  ProbeScores scores;
  scores.precision = 0.8;
  scores.recall = 1.0;
  scores.accuracy = 0.9;
  scores.folds = 5;
  scores.negatives = 10;
  scores.positives = 12;
  data.probes.push_back({"linear_ae", "svd", "logistic", scores, {0.1, 0.2}, {0.6, 0.8}, {0.7, 0.9}});
  scores.precision = 0.5;
  data.probes.push_back({"linear_ae", "svd", "mlp", scores, {}, {}, {}});
  EmbeddingRecord e{"linear_ae", "svd", {}};
  e.result.model_ids = {0, 1, 2};
  e.result.classes = 3;
  e.result.z = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  e.result.u = shapes_of(e.result.z, 3);
  e.result.split = {0, 1, 2};
  e.result.metrics.angular_error_deg = 4.5;
  e.result.metrics.additivity_rel_error = std::nan("");
  e.result.metrics.test_models = 1;
  data.embeddings.push_back(e);
  data.selected_features["linear_ae"] = "svd";
  data.hierarchies.push_back({"linear_ae", "svd", {0, 1, 2}, average_linkage(euclidean_distances(e.result.u, 3, 3), 3)});
  data.information.push_back({"linear_ae", "svd", 0.42, 3, 3, 2, {{"ksg_pca", 0.42}, {"flow", 0.61}, {"ksg_autoencoder", 0.3}}, 0.55, 0.2});
  return data;
}

TEST(ReduceFile, RoundTripKeepsEverything) {
  test::TempDir dir;
  const std::string path = dir.file("reduce.h5");
  const ReduceData data = sample_data();
  write_reduce(path, data);
  EXPECT_EQ(test::count_files(dir.path(), "reduce.h5.tmp", ""), 0);
  EXPECT_TRUE(is_reduce_file(path));
  const ReduceData back = read_reduce(path);
  EXPECT_EQ(back.attrs.job_name, "tiny");
  EXPECT_EQ(back.attrs.classes, (std::vector<int64_t>{0, 1, 7}));
  ASSERT_EQ(back.features.at("svd").size(), 2u);
  EXPECT_EQ(back.features.at("svd").at("conv_ae").data, (std::vector<float>{7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(back.features.at("svd").at("linear_ae").dim, 2);
  EXPECT_EQ(back.features.at("svd").at("linear_ae").data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  ASSERT_EQ(back.probes.size(), 2u);
  EXPECT_EQ(back.probes[0].classifier, "logistic");
  EXPECT_EQ(back.probes[0].gap_recall, (std::vector<double>{0.7, 0.9}));
  EXPECT_EQ(back.probes[0].scores.positives, 12);
  ASSERT_EQ(back.embeddings.size(), 1u);
  EXPECT_EQ(back.embeddings[0].result.z, data.embeddings[0].result.z);
  EXPECT_EQ(back.embeddings[0].result.split, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_DOUBLE_EQ(back.embeddings[0].result.metrics.angular_error_deg, 4.5);
  EXPECT_TRUE(std::isnan(back.embeddings[0].result.metrics.additivity_rel_error));
  EXPECT_EQ(back.selected_features.at("linear_ae"), "svd");
  ASSERT_EQ(back.hierarchies.size(), 1u);
  EXPECT_EQ(back.hierarchies[0].dendrogram.linkage, data.hierarchies[0].dendrogram.linkage);
  EXPECT_EQ(back.hierarchies[0].dendrogram.members, data.hierarchies[0].dendrogram.members);
  ASSERT_EQ(back.information.size(), 1u);
  EXPECT_DOUBLE_EQ(back.information[0].mi_nats, 0.42);
  EXPECT_EQ(back.information[0].estimates, data.information[0].estimates);
  EXPECT_DOUBLE_EQ(back.information[0].flow_heldout_nats, 0.55);
  EXPECT_DOUBLE_EQ(back.information[0].autoencoder_mse, 0.2);
  // The tables name what is there; NaN metrics print as n/a.
  const std::string tables = format_reduce_tables(back);
  EXPECT_NE(tables.find("linear_ae  svd          logistic      0.800     1.000"), std::string::npos) << tables;
  EXPECT_NE(tables.find("n/a"), std::string::npos) << tables;
  EXPECT_NE(tables.find("ksg_pca    0.420  flow 0.610  ksg_autoencoder 0.300"), std::string::npos) << tables;
}

TEST(ReduceFile, PlainH5pyReadsTheSchema) {
  test::TempDir dir;
  const std::string path = dir.file("reduce.h5");
  write_reduce(path, sample_data());
  const std::string script =
      "import h5py\n"
      "f = h5py.File('" + path + "', 'r')\n"
      "assert f.attrs['kind'] == 'reduce' and f.attrs['schema_version'] == 1\n"
      "d = f['features/svd']\n"
      "assert d['data'].shape == (5, 3), d['data'].shape\n"
      "assert list(d['model_id'][()]) == [3, 4, 0, 1, 2]\n"
      "assert list(d['dim'][()]) == [3, 3, 2, 2, 2]\n"
      "assert d['data'][2, 2] == 0\n"
      "p = f['probe/linear_ae/svd']\n"
      "assert p.attrs['best_classifier'] == 'logistic' and abs(p.attrs['precision'] - 0.8) < 1e-12\n"
      "assert abs(p['logistic'].attrs['recall'] - 1.0) < 1e-12\n"
      "e = f['embedding/linear_ae/svd']\n"
      "assert e['z'].shape == (3, 3) and e['u'].shape == (3, 3) and list(e['split'][()]) == [0, 1, 2]\n"
      "assert f['embedding/linear_ae'].attrs['selected_feature'] == 'svd'\n"
      "assert f['hierarchy/linear_ae/linkage'].shape == (2, 4)\n"
      "print('ok')\n";
  test::write_text(dir.file("check.py"), script);
  const test::CommandResult result = test::run_command("/usr/bin/python3 " + test::shell_quote(dir.file("check.py")));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(ReduceFile, OtherFilesAreClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(read_reduce(dir.file("missing.h5")), StorageError);
  const std::string other = dir.file("other.h5");
  ASSERT_EQ(test::run_command("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + other + "', 'w'); f.attrs['schema_version'] = 1\"").exit_code, 0);
  EXPECT_FALSE(is_reduce_file(other));
  try {
    read_reduce(other);
    FAIL() << "no error";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a genzoo reduce file"), std::string::npos) << e.what();
  }
  const std::string future = dir.file("future.h5");
  write_reduce(future, sample_data());
  ASSERT_EQ(test::run_command("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + future + "', 'a'); f.attrs['schema_version'] = 9\"").exit_code, 0);
  try {
    read_reduce(future);
    FAIL() << "no error";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("reduce schema_version 9"), std::string::npos) << e.what();
  }
}

TEST(ReduceFile, FailedWriteLeavesNothingBehind) {
  test::TempDir dir;
  ReduceData data = sample_data();
  data.features["svd"]["linear_ae"].data.pop_back();  // 5 values for [3, 2]: the write fails
  EXPECT_THROW(write_reduce(dir.file("reduce.h5"), data), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.file("reduce.h5")));
  EXPECT_EQ(test::count_files(dir.path(), "reduce.h5", ""), 0);
}

}  // namespace
}  // namespace genzoo
