// distill.h5: `genzoo distill`'s product (and the shard format of its units), written through store/h5.h
// under a temporary name and renamed into place. Root attributes: kind = "distill", schema_version,
// genzoo_version, created_utc, zoo_path, reduce_path, job_name, job_fingerprint, distill_config (the
// [distill] settings, TOML), classes. Every group reads with plain h5py:
//   /mixtures/proportions [X, K]                the target mixtures (held out from the zoo)
//   /results/{unit, mixture, n, seed [R] int64; family, student, method, status, prior, prior_steps [R]
//       strings; test_loss, test_loss_sampled, train_loss, pixel_variance, prior_variance, prior_scale,
//       train_seconds [R] float64; curve [R, C] float64; curve_steps [C] int64}
//       one row per (mixture, n, student, method, seed): test_loss at the weights (vi: q's mean),
//       test_loss_sampled (vi: the mean over weight samples from q; else = test_loss), the prior used
//       (its reduce.h5 name, "" for none) and its alignment sequence, the likelihood's per-pixel variance
//       τ², isotropic's chosen σ² and the chosen scale κ of a zoo prior N(m, κ Σ) (NaN where they do not
//       apply); curve[:, 0] is the test loss at the start
//   /students/<student>/{weights [R_s, P_s] float32, std [R_s, P_s] float32 (vi: q's σ, else 0), row [R_s]
//       (into /results), layout/...}  the students' weights in the layout zoo.h5 would store for them
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/layout.h"

namespace genzoo::distill {

constexpr int kDistillSchemaVersion = 1;

struct DistillAttributes {
  std::string genzoo_version, created_utc;
  std::string zoo_path, reduce_path, job_name, job_fingerprint;
  std::string distill_config;  // [distill] as TOML: shards of another configuration are refused
  std::vector<int64_t> classes;
};

struct DistillResult {
  int64_t unit = 0, mixture = 0, n = 0, seed = 0;
  std::string family, student, method, status = "ok";
  std::string prior, prior_steps;
  double test_loss = 0.0, test_loss_sampled = 0.0, train_loss = 0.0;
  double pixel_variance = 0.0, prior_variance = 0.0, prior_scale = 0.0, train_seconds = 0.0;
  std::vector<double> curve;   // [C]
  std::vector<float> weights;  // [P_s]
  std::vector<float> std;      // [P_s] or empty
};

struct DistillData {
  DistillAttributes attrs;
  std::vector<std::vector<double>> mixtures;  // [X][K]
  std::vector<int64_t> curve_steps;
  std::map<std::string, Layout> student_layouts;  // by student name ("linear_ae", "linear_ae:latent=8")
  std::vector<DistillResult> results;
};

// Throws StorageError naming the file; nothing is left behind on failure.
void write_distill(const std::string& path, const DistillData& data);
// Throws StorageError for a missing file, another kind or schema version, or a bad shape.
DistillData read_distill(const std::string& path);

// Mean ± standard deviation of test_loss per (student, method, n) over mixtures and seeds, and the
// ratio of each mean to scratch's: the table `genzoo distill` prints.
std::string format_distill_table(const DistillData& data);

}  // namespace genzoo::distill
