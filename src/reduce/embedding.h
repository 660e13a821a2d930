// The hierarchical embedding space (seed 000, algorithm steps 1-4; DESIGN.md section 6). An MLP encoder
// maps a model's features to a mass vector z in R^K_+ whose target is the model's class-count vector;
// its shape u = sqrt(z / sum z) lies on the positive part of the unit sphere. Trained on a model-level
// split (test models never seen in training or model selection); metrics on test models only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace genzoo {

struct FeatureMatrix;

enum SplitRole : int32_t { kSplitTrain = 0, kSplitValidation = 1, kSplitTest = 2 };

// What the embedding needs to know of one model (a row of /models).
struct EmbeddingModel {
  int64_t id = 0;
  std::vector<int64_t> counts;  // [K] class counts of its training set
  std::string design;           // random | triplet | chain | probe
  int64_t design_group = -1;
  int32_t design_role = -1;
};

struct ReduceConfig;

// Built from a job's [reduce] section, the one place that holds the defaults (ReduceConfig{}).
struct SplitOptions {
  explicit SplitOptions(const ReduceConfig& config, uint64_t seed = 0);
  double validation;
  double test;
  uint64_t seed;
  int64_t min_models;       // fewer models in a family: ReduceError
};

// Split role of every model. Units are models, except that a triplet or chain stays whole (its
// additivity / order can only be checked when all its models are in one split); units are shuffled
// within each design and every design with at least 3 units puts at least one unit in validation and
// in test. Throws ReduceError naming the family when it has fewer than min_models models.
std::vector<int32_t> split_models(const std::vector<EmbeddingModel>& models, const SplitOptions& options,
                                  const std::string& family);

struct EmbeddingOptions {
  explicit EmbeddingOptions(const ReduceConfig& config, uint64_t seed = 0);
  SplitOptions split;
  int64_t epochs;            // at most this many full-batch Adam steps (the best validation state is kept)
  int64_t patience;          // stop when the validation loss has not improved for this many steps
  int64_t hidden;
  double lr;
  double weight_decay;
  double order_tolerance;    // of order_violation_rate
};

struct EmbeddingMetrics {
  double angular_error_deg = 0.0;     // mean angle between predicted u and sqrt(true proportions)
  double hellinger_spearman = 0.0;    // over test pairs
  double additivity_rel_error = 0.0;  // over test triplets (NaN when none)
  double order_violation_rate = 0.0;  // over nested pairs of test chains (NaN when none)
  double cophenetic_corr = 0.0;       // test dendrogram of predicted vs of true shapes
  double validation_angular_error_deg = 0.0;  // for model selection (which feature to keep)
  int64_t test_models = 0, test_triplets = 0, test_chains = 0;
};

struct EmbeddingResult {
  std::vector<int64_t> model_ids;
  int64_t classes = 0;
  std::vector<double> z;         // [N, K], in class-count units
  std::vector<double> u;         // [N, K]
  std::vector<int32_t> split;    // [N] SplitRole
  EmbeddingMetrics metrics;
};

// Trains the encoder on features (rows aligned with models) and evaluates it on the test split.
EmbeddingResult train_embedding(const FeatureMatrix& features, const std::vector<EmbeddingModel>& models,
                                const EmbeddingOptions& options);

// ---- metrics, on row-major [n, k] matrices

// u = sqrt(z / sum z) row by row (z clamped at 0; a zero row gives the uniform shape).
std::vector<double> shapes_of(const std::vector<double>& mass, int64_t k);
// Mean angle in degrees between corresponding rows of two shape matrices.
double angular_error_deg(const std::vector<double>& u_pred, const std::vector<double>& u_true, int64_t k);
// Spearman rank correlation (average ranks for ties; NaN when either side is constant).
double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b);
// Hellinger distances ||u_i - u_j|| / sqrt(2) of all pairs i < j (pdist order).
std::vector<double> hellinger_distances(const std::vector<double>& u, int64_t k);
double hellinger_spearman(const std::vector<double>& u_pred, const std::vector<double>& u_true, int64_t k);
// Mean over triplets (row of D1, row of D2, row of the union) of |z_u - z_1 - z_2| / |z_u| (L2 norms).
double additivity_rel_error(const std::vector<double>& z, int64_t k, const std::vector<std::vector<int64_t>>& triplets);
// Fraction of pairs (row of the smaller set, row of the larger) with z_small[j] > z_large[j] +
// tolerance * sum(z_large) in some component j.
double order_violation_rate(const std::vector<double>& z, int64_t k,
                            const std::vector<std::pair<int64_t, int64_t>>& nested, double tolerance);

}  // namespace genzoo
