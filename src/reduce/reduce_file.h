// reduce.h5: the reduction stage's product (DESIGN.md section 6), written through store/h5.h under a
// temporary name and renamed into place. Root attributes: kind = "reduce", schema_version, the zoo it
// came from. Layout (every group readable with plain h5py):
//   /features/<name>/{data [N, F_max] float32, model_id [N], family [N], dim [N]}  rows of all families;
//       a family's features occupy the first dim columns of its rows, the rest is zero (attrs padded,
//       description)
//   /probe/<family>/<feature>                    attrs precision, recall, accuracy (best classifier), best_classifier
//   /probe/<family>/<feature>/<classifier>       attrs precision, recall, accuracy, folds, models_a, models_b;
//       datasets gap [G], gap_precision [G], gap_recall [G] (A versus each B of the gap sweep)
//   /embedding/<family>                          attr selected_feature (lowest validation angular error),
//                                                or attr not_embedded (why: too few models for the split)
//   /embedding/<family>/<feature>/{model_id [N], z [N, K], u [N, K], split [N]}  metric attrs (test models)
//   /hierarchy/<family>/{linkage [N-1, 4], model_id [N], member_offsets [N], members}  average linkage on
//       the selected feature's predicted shapes; members of merged cluster i: members[member_offsets[i]..[i+1]]
//   /information/<family>/<feature>              attrs mi_nats (KSG on the first `components` principal
//       components), k, models, components, estimators ("; "-separated), mi_<estimator>_nats per estimator
//       run (ksg, ksg_pca, ksg_autoencoder, flow; information/estimators.h), mi_flow_heldout_nats, autoencoder_mse
//   /theorem/<family>/{model_id [N], m [N], weight_closed [N], weight_residual [N], singular_closed [N]}
//       seed 000's closed forms per model of a gaussian-source zoo (information/theorem.h); attrs subset_closed,
//       s_ksg, s_flow, p_ksg, p_flow (I(X1; s) and I(X1; W2 W1) over the zoo, nats), pool, inclusion, dimension, code
//   /priors/<family>/<name>/{mean [P], diag [P], factor [P, r] float32, member_ids [n], proportions [K],
//       shape [K] = sqrt(proportions), layout/...}  N(mean, diag(diag) + factor factorᵀ) over zoo.h5's
//       flattened weights; attrs kind (node | swag | laplace), cluster, init_group, model_id, rank,
//       shrinkage, diag_floor, layout_json. name: root-g<G>, c<cluster>-g<G>, swag-m<id>, laplace-m<id>
//   /priors/<family>/<name>/aligned/<student>/{mean, diag, factor, layout/...}  attrs order, steps
//       (the φ/ψ sequence, "; "-separated), student (e.g. "latent=8"): the prior in the student's own layout
//   /priors/<family>/check/{model_id, node, log_node, log_root, log_isotropic}  held-out models'
//       log densities; attrs held_out, beats_root, beats_isotropic
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "information/theorem.h"

#include "priors/node_priors.h"
#include "reduce/embedding.h"
#include "reduce/hierarchy.h"
#include "reduce/probe.h"
#include "reduce/vectorize.h"

namespace genzoo {

constexpr int kReduceSchemaVersion = 1;

struct ProbeRecord {
  std::string family, feature, classifier;
  ProbeScores scores;
  std::vector<double> gaps, gap_precision, gap_recall;  // the harder variant; empty without a sweep
};

struct EmbeddingRecord {
  std::string family, feature;
  EmbeddingResult result;
};

struct HierarchyRecord {
  std::string family, feature;
  std::vector<int64_t> model_ids;  // leaf i is model model_ids[i]
  Dendrogram dendrogram;
};

struct InformationRecord {
  std::string family, feature;
  double mi_nats = 0.0;  // KSG on the principal components (reduce's estimate before the others existed)
  int64_t k = 0, models = 0, components = 0;
  std::map<std::string, double> estimates{};  // nats per estimator run
  double flow_heldout_nats = 0.0, autoencoder_mse = 0.0;  // when flow / ksg_autoencoder ran
};

// Seed 000's theorem on one family of a gaussian-source zoo.
struct TheoremRecord {
  std::string family;
  std::vector<int64_t> model_ids, m;
  TheoremCheck check;
  int64_t pool = 0, dimension = 0, code = 0;
  double inclusion = 0.0;
};

struct ReduceAttributes {
  int schema_version = kReduceSchemaVersion;
  std::string genzoo_version, created_utc;
  std::string zoo_path, job_name, job_fingerprint;
  std::vector<int64_t> classes;
  std::string reduce_config;  // the [reduce] settings the stage ran with (TOML); "" in files before it
};

struct ReduceData {
  ReduceAttributes attrs;
  std::map<std::string, std::map<std::string, FeatureMatrix>> features;  // [name][family]
  std::map<std::string, std::string> feature_descriptions;               // [name]
  std::vector<ProbeRecord> probes;
  std::vector<EmbeddingRecord> embeddings;
  std::map<std::string, std::string> selected_features;                  // [family] -> feature
  std::map<std::string, std::string> not_embedded;                       // [family] -> why not
  std::vector<HierarchyRecord> hierarchies;
  std::vector<InformationRecord> information;
  std::vector<TheoremRecord> theorem;  // gaussian-source zoos only
  std::vector<priors::PriorRecord> priors;
  std::vector<priors::PriorCheckRecord> prior_checks;
  std::string prior_settings;  // the prior_* keys the priors were computed with (/priors attr settings)
};

// Writes via "<path>.tmp-<pid>" and a rename; nothing is left behind on failure (StorageError).
void write_reduce(const std::string& path, const ReduceData& data);
// Throws StorageError for a missing file, a file of another kind or schema version, or a bad shape.
ReduceData read_reduce(const std::string& path);
// Whether an HDF5 file's root says kind = "reduce" (false for zoo files; throws for unreadable files).
bool is_reduce_file(const std::string& path);

// The metric tables `genzoo reduce` and `genzoo inspect` print.
std::string format_reduce_tables(const ReduceData& data);

}  // namespace genzoo
