// In-memory image of a zoo file (DESIGN.md section 5). A shard is a zoo file holding a subset of the
// models; merge reads shards and writes their union. Reading and writing live in zoo_file.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/layout.h"
#include "data/image.h"

namespace genzoo {

namespace h5 {
class Group;
}

// A layout as zoo.h5 stores it: group "layout" of owner (name, role, offset, numel, shape CSR) and
// attribute layout_json; readers check every numel against its shape.
void write_layout(const h5::Group& owner, const Layout& layout);
Layout read_layout(const h5::Group& owner);

constexpr int kSchemaVersion = 1;
constexpr int64_t kSampleImagePixels = kImagePixels;
constexpr int64_t kInterpolationImages = 8;

struct ZooAttributes {
  int schema_version = kSchemaVersion;
  std::string genzoo_version;
  std::string created_utc;
  std::string job_name;
  std::string job_toml;         // the job file's text
  std::string job_fingerprint;  // hash of job_toml: a run directory belongs to one job
  std::string dataset;          // "fashion-mnist" or "gaussian" (the job's data.source)
  std::vector<int64_t> classes; // selected class labels
};

// One row of /models.
struct ModelRecord {
  int64_t id = 0;
  std::string family;
  uint64_t seed = 0;
  int64_t init_group = 0;
  double lr = 0.0;
  std::vector<int64_t> counts;        // [K]
  std::vector<double> proportions;    // [K]
  std::vector<int64_t> sample_indices;
  std::string design;                 // random | triplet | chain | probe
  int64_t design_group = -1;
  int32_t design_role = -1;
  double probe_gap = 0.0;
  std::string status;                 // ok | collapsed (gan, vae) | garbage (worse than the trivial predictor) | diverged
  double final_loss = 0.0;            // training loss over the model's own samples at the end
  double test_loss = 0.0;             // on test images of the model's classes
  double train_seconds = 0.0;
  int32_t rank = 0;
  std::string kernel_isa;             // what trained it: "AVX3", "AVX2", ..., "torch", "cuda:0" (TrainedModel)
  std::map<std::string, double> metrics;  // family-specific extra columns (NaN where absent)
};

// /weights/<family>: stacked flat parameters, rows aligned with model_ids.
struct FamilyWeights {
  std::string family;
  Layout layout;
  std::vector<int64_t> model_ids;
  std::vector<float> data;                 // [N_f, P_f]
  std::vector<int64_t> checkpoint_steps;   // [T], empty when no checkpoints
  std::vector<float> checkpoints;          // [N_f, T, P_f]
  // Generative families: images generated from fixed latent seeds, the last kInterpolationImages
  // interpolating between the first two codes; /samples/<family>/images [N_f, S, 784].
  int64_t samples_per_model = 0;           // S, 0 when none
  std::vector<float> samples;              // [N_f, S, 784]
  int64_t param_count() const { return layout_size(layout); }
};

struct FeatureNetRecord {
  Layout layout;
  std::vector<float> weights;
  double test_accuracy = 0.0;
  int64_t embedding_dim = 0;
  std::vector<float> centroids;            // [10, embedding_dim], class centroids
  std::vector<double> centroid_distances;  // [10, 10]
  std::vector<int64_t> selected_classes;
};

struct ZooData {
  ZooAttributes attrs;
  std::vector<ModelRecord> models;                 // ascending id
  std::map<std::string, FamilyWeights> weights;    // by family
  std::optional<FeatureNetRecord> featurenet;
};

// Writes path via "<path>.tmp-<pid>" and an atomic rename. Throws StorageError naming the file; the
// image is checked first (ids ascending and unique, one K, sizes matching layouts, weights only of known
// models of their family) and nothing is left behind on failure.
// Weights, checkpoints and samples are deflate-compressed, except in shards written with kFast: those
// live only until the merge (which compresses), and compressing them would cost the training ranks time.
enum class WeightStorage { kCompressed, kFast };
void write_zoo(const std::string& path, const ZooData& zoo, WeightStorage weights = WeightStorage::kCompressed);
// Reads a whole zoo (or shard). Throws StorageError for a missing file, another schema version or a
// missing/ill-shaped dataset, naming the file and the object.
ZooData read_zoo(const std::string& path);
// Only the ids in /models (cheap; used to find what a run already holds).
std::vector<int64_t> read_model_ids(const std::string& path);
// The /models status column (ok, collapsed, garbage, diverged), in file order.
std::vector<std::string> read_model_statuses(const std::string& path);
ZooAttributes read_attributes(const std::string& path);

}  // namespace genzoo
