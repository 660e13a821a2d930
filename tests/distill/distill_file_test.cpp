// Tests for src/distill/distill_file.cpp: distill.h5 round-trips (NaN where a figure does not apply,
// variational σ only where present), refuses other files, and formats the summary table.
#include "distill/distill_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "helpers.h"
#include "store/h5.h"

namespace genzoo::test {
namespace {

distill::DistillData sample_data() {
  distill::DistillData data;
  data.attrs.genzoo_version = "0.1.0";
  data.attrs.created_utc = "2026-12-06T00:00:00Z";
  data.attrs.zoo_path = "run/zoo.h5";
  data.attrs.reduce_path = "run/reduce.h5";
  data.attrs.job_name = "t";
  data.attrs.job_fingerprint = "abc";
  data.attrs.distill_config = "[distill]\nseeds = 1\n";
  data.attrs.classes = {0, 1, 7};
  data.mixtures = {{0.2, 0.3, 0.5}, {0.6, 0.2, 0.2}};
  data.curve_steps = {0, 5, 10};
  Layout small, smaller;
  add_param(small, "w", "encoder", {2, 3});
  add_param(smaller, "w", "encoder", {1, 3});
  data.student_layouts = {{"linear_ae", small}, {"linear_ae:latent=1", smaller}};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int i = 0; i < 4; ++i) {
    distill::DistillResult r;
    r.unit = i / 2;
    r.mixture = i % 2;
    r.n = 25;
    r.family = "linear_ae";
    r.student = i < 2 ? "linear_ae" : "linear_ae:latent=1";
    r.method = i % 2 ? "vi" : "scratch";
    r.prior = i % 2 ? "c12-g0" : "";
    r.prior_steps = i == 3 ? "phi(code, 1)" : "";
    r.test_loss = 0.1 + i;
    r.test_loss_sampled = r.test_loss + 0.01;
    r.pixel_variance = i % 2 ? 0.02 : nan;
    r.prior_variance = nan;
    r.curve = {1.0, 0.5, 0.1 + i};
    r.weights.assign(i < 2 ? 6 : 3, 0.5f * static_cast<float>(i));
    if (i % 2) r.std.assign(r.weights.size(), 0.01f);
    data.results.push_back(r);
  }
  return data;
}

TEST(DistillFile, RoundTripsEveryColumn) {
  TempDir dir;
  const distill::DistillData data = sample_data();
  distill::write_distill(dir.file("distill.h5"), data);
  const distill::DistillData back = distill::read_distill(dir.file("distill.h5"));
  EXPECT_EQ(back.attrs.distill_config, data.attrs.distill_config);
  EXPECT_EQ(back.attrs.classes, data.attrs.classes);
  EXPECT_EQ(back.mixtures, data.mixtures);
  EXPECT_EQ(back.curve_steps, data.curve_steps);
  ASSERT_EQ(back.results.size(), data.results.size());
  for (size_t i = 0; i < data.results.size(); ++i) {
    const auto &a = data.results[i], &b = back.results[i];
    EXPECT_EQ(b.student, a.student);
    EXPECT_EQ(b.method, a.method);
    EXPECT_EQ(b.prior, a.prior);
    EXPECT_EQ(b.prior_steps, a.prior_steps);
    EXPECT_EQ(b.test_loss, a.test_loss);
    EXPECT_EQ(std::isnan(b.pixel_variance), std::isnan(a.pixel_variance));
    EXPECT_EQ(b.curve, a.curve);
    EXPECT_EQ(b.weights, a.weights);
    EXPECT_EQ(b.std, a.std);
  }
  EXPECT_EQ(back.student_layouts.at("linear_ae:latent=1")[0].shape, (std::vector<int64_t>{1, 3}));
  const std::string table = distill::format_distill_table(back);
  EXPECT_NE(table.find("linear_ae:latent=1"), std::string::npos) << table;
  EXPECT_NE(table.find("vs scratch"), std::string::npos) << table;
}

TEST(DistillFile, OtherFilesAndBadRowsAreStorageErrors) {
  TempDir dir;
  h5::write_file_atomically(dir.file("other.h5"), [](const h5::Group& root) { root.write_attribute("kind", std::string("reduce")); });
  EXPECT_THROW(distill::read_distill(dir.file("other.h5")), StorageError);
  EXPECT_THROW(distill::read_distill(dir.file("missing.h5")), StorageError);
  distill::DistillData bad = sample_data();
  bad.results[0].weights.pop_back();  // not its layout's size
  EXPECT_THROW(distill::write_distill(dir.file("bad.h5"), bad), StorageError);
  EXPECT_EQ(count_files(dir.path(), "bad.h5", ""), 0);
}

}  // namespace
}  // namespace genzoo::test
