// Tests for src/distill/methods.cpp: the registry, and the job's [distill] methods key accepting
// exactly the registered names.
#include "distill/methods.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "job/job.h"

namespace genzoo::test {
namespace {

const char* kJob = "name = \"m\"\n[[family]]\nname = \"linear_ae\"\nmodels = 4\n[distill]\n";

TEST(DistillMethods, EveryRegisteredMethodIsAValidJobValueAndNothingElse) {
  for (const std::string& name : distill::method_names()) {
    EXPECT_NO_THROW(parse_job(std::string(kJob) + "methods = [\"" + name + "\"]\n", "job.toml")) << name;
    EXPECT_EQ(distill::find_method(name).name, name);
  }
  try {
    parse_job(std::string(kJob) + "methods = [\"bogus\"]\n", "job.toml");
    FAIL() << "accepted";
  } catch (const JobError& e) {
    EXPECT_NE(std::string(e.what()).find("distill.methods"), std::string::npos) << e.what();
  }
  try {
    distill::find_method("bogus");
    FAIL() << "found";
  } catch (const DistillError& e) {
    EXPECT_NE(std::string(e.what()).find("vi_root"), std::string::npos) << e.what();
  }
}

TEST(DistillMethods, WhatEachMethodUses) {
  EXPECT_FALSE(distill::find_method("scratch").bayesian());
  EXPECT_FALSE(distill::find_method("scratch").uses_node());
  EXPECT_TRUE(distill::find_method("warm_start").uses_node());
  EXPECT_FALSE(distill::find_method("warm_start").bayesian());
  EXPECT_TRUE(distill::find_method("isotropic").bayesian());
  EXPECT_TRUE(distill::find_method("vi").variational);
  EXPECT_EQ(distill::find_method("vi_root").prior, distill::PriorSource::kRoot);
  EXPECT_TRUE(distill::find_method("hinton").teacher_outputs);
  // Seed 004's priors under one variational student: N(0, I) from the init, N(node mean, I) from that mean.
  const distill::Method& standard = distill::find_method("vi_standard");
  EXPECT_TRUE(standard.variational && standard.bayesian() && !standard.uses_node() && !standard.starts_at_prior_mean);
  const distill::Method& node_mean = distill::find_method("vi_node_mean");
  EXPECT_TRUE(node_mean.variational && node_mean.uses_node() && node_mean.starts_at_prior_mean);
  EXPECT_EQ(node_mean.prior, distill::PriorSource::kNodeMean);
  // An empty methods key runs the methods, not these two comparisons.
  const auto defaults = distill::default_method_names();
  EXPECT_EQ(defaults, (std::vector<std::string>{"scratch", "isotropic", "warm_start", "hinton", "map", "vi", "vi_root"}));
  EXPECT_EQ(distill::method_names().size(), defaults.size() + 2);
}

TEST(DistillJob, BadSettingsAreOneLineErrorsNamingTheKey) {
  const auto error_of = [](const std::string& distill) -> std::string {
    try {
      parse_job(std::string(kJob) + distill, "job.toml");
    } catch (const JobError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("students = [\"vae\"]\n").find("distill.students[0]"), std::string::npos);
  EXPECT_NE(error_of("students = [\"conv_ae\"]\n").find("no family conv_ae"), std::string::npos);
  EXPECT_NE(error_of("students = [\"linear_ae:latent=32\"]\n").find("wider than its teacher"), std::string::npos);
  EXPECT_NE(error_of("proportions = [0.5, 0.5]\n").find("distill.proportions"), std::string::npos);
  EXPECT_NE(error_of("proportions = [0.5, 0.4, 0.3]\n").find("summing to 1"), std::string::npos);
  EXPECT_NE(error_of("sizes = [3]\n").find("distill.sizes"), std::string::npos);
  EXPECT_NE(error_of("order = \"gradient_covariance\"\n").find("distill.order"), std::string::npos);
  EXPECT_EQ(error_of("students = [\"linear_ae\", \"linear_ae:latent=8\"]\nsizes = [25, 100]\n"), "");
}

}  // namespace
}  // namespace genzoo::test
