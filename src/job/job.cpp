#include "job/job.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <variant>

#include "common/error.h"
#include "common/text.h"
#include "data/image.h"
#include "information/estimators.h"

namespace genzoo {

namespace {

// ---------------------------------------------------------------------------------------------
// Schema vocabulary: value kinds, constraints and bindings to the config structs.

using Value = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, std::vector<std::string>>;

enum class Kind { kInteger, kFloat, kString, kIntegers, kFloats, kStrings };

// The kind of a key follows from the type of the struct member it is bound to.
template <class M>
constexpr Kind kind_of();
template <>
constexpr Kind kind_of<int64_t>() { return Kind::kInteger; }
template <>
constexpr Kind kind_of<uint64_t>() { return Kind::kInteger; }
template <>
constexpr Kind kind_of<double>() { return Kind::kFloat; }
template <>
constexpr Kind kind_of<std::string>() { return Kind::kString; }
template <>
constexpr Kind kind_of<std::vector<int64_t>>() { return Kind::kIntegers; }
template <>
constexpr Kind kind_of<std::vector<double>>() { return Kind::kFloats; }
template <>
constexpr Kind kind_of<std::vector<std::string>>() { return Kind::kStrings; }

void assign(int64_t& target, const Value& v) { target = std::get<int64_t>(v); }
void assign(uint64_t& target, const Value& v) { target = static_cast<uint64_t>(std::get<int64_t>(v)); }
void assign(double& target, const Value& v) { target = std::get<double>(v); }
void assign(std::string& target, const Value& v) { target = std::get<std::string>(v); }
void assign(std::vector<int64_t>& target, const Value& v) { target = std::get<std::vector<int64_t>>(v); }
void assign(std::vector<double>& target, const Value& v) { target = std::get<std::vector<double>>(v); }
void assign(std::vector<std::string>& target, const Value& v) { target = std::get<std::vector<std::string>>(v); }

Value to_value(uint64_t v) { return static_cast<int64_t>(v); }
template <class M>
Value to_value(const M& v) { return v; }

// What a key accepts. Numeric bounds apply to numbers and to each element of number arrays.
struct Constraint {
  std::optional<double> min, max;
  bool min_open = false, max_open = false;
  std::vector<std::string> choices;  // strings: allowed values (empty = any)
  bool identifier = false;           // strings: [A-Za-z0-9_-]+
  bool required = false;
};

Constraint bounded(std::optional<double> lo, std::optional<double> hi, bool lo_open, bool hi_open) {
  Constraint c;
  c.min = lo;
  c.max = hi;
  c.min_open = lo_open;
  c.max_open = hi_open;
  return c;
}
Constraint between(double lo, double hi) { return bounded(lo, hi, false, false); }           // [lo, hi]
Constraint above_upto(double lo, double hi) { return bounded(lo, hi, true, false); }         // (lo, hi]
Constraint strictly_between(double lo, double hi) { return bounded(lo, hi, true, true); }    // (lo, hi)
Constraint at_least(double lo) { return bounded(lo, std::nullopt, false, false); }          // >= lo
Constraint any_string() { return {}; }
Constraint one_of(std::vector<std::string> choices) {
  Constraint c;
  c.choices = std::move(choices);
  return c;
}
Constraint identifier() {
  Constraint c;
  c.identifier = true;
  return c;
}
Constraint required(Constraint c) {
  c.required = true;
  return c;
}

// One key of the job file: everything parsing, validation, defaults and the reference need.
struct Field {
  std::string section;  // "" = top level; "family" = every [[family]] table
  std::string key;
  Kind kind;
  Constraint constraint;
  std::string description;
  // The binding: where the value lives (family keys: in the family table being read).
  std::function<void(Job&, FamilyConfig&, const Value&)> set;
  std::function<Value(const Job&, const FamilyConfig&)> get;
};

template <class M>
Field top_key(const char* key, M Job::*member, Constraint c, const char* description) {
  return {"", key, kind_of<M>(), std::move(c), description,
          [member](Job& job, FamilyConfig&, const Value& v) { assign(job.*member, v); },
          [member](const Job& job, const FamilyConfig&) { return to_value(job.*member); }};
}

template <class S, class M>
Field section_key(const char* section, S Job::*part, const char* key, M S::*member, Constraint c,
                  const char* description) {
  return {section, key, kind_of<M>(), std::move(c), description,
          [part, member](Job& job, FamilyConfig&, const Value& v) { assign(job.*part.*member, v); },
          [part, member](const Job& job, const FamilyConfig&) { return to_value(job.*part.*member); }};
}

template <class M>
Field data_key(const char* key, M DataConfig::*member, Constraint c, const char* description) {
  return section_key("data", &Job::data, key, member, std::move(c), description);
}
template <class M>
Field featurenet_key(const char* key, M FeatureNetConfig::*member, Constraint c, const char* description) {
  return section_key("featurenet", &Job::featurenet, key, member, std::move(c), description);
}
template <class M>
Field probe_key(const char* key, M ProbeConfig::*member, Constraint c, const char* description) {
  return section_key("probe", &Job::probe, key, member, std::move(c), description);
}
template <class M>
Field reduce_key(const char* key, M ReduceConfig::*member, Constraint c, const char* description) {
  return section_key("reduce", &Job::reduce, key, member, std::move(c), description);
}
template <class M>
Field distill_key(const char* key, M DistillConfig::*member, Constraint c, const char* description) {
  return section_key("distill", &Job::distill, key, member, std::move(c), description);
}
template <class M>
Field family_key(const char* key, M FamilyConfig::*member, Constraint c, const char* description) {
  return {"family", key, kind_of<M>(), std::move(c), description,
          [member](Job&, FamilyConfig& family, const Value& v) { assign(family.*member, v); },
          [member](const Job&, const FamilyConfig& family) { return to_value(family.*member); }};
}

struct Section {
  std::string name;  // "" = top level
  bool array;        // an array of tables ([[family]])
  std::string title;
  std::string description;
};

// A constraint between keys, checked after every key passed its own constraint.
struct RuleContext {
  const Job& job;
  const FamilyConfig& family;
  std::string prefix;  // "data.", "family[2].", ...
  std::string key(const std::string& name) const { return prefix + name; }
};
struct Rule {
  std::string section;
  std::string text;  // for the reference
  // Returns the error (naming the key) or "" when the job satisfies the rule.
  std::function<std::string(const RuleContext&)> check;
};

// ---------------------------------------------------------------------------------------------
// The schema: every key, declared once.

constexpr double kMaxModels = 1e6;
constexpr double kMaxSteps = 1e7;
constexpr double kProportionTolerance = 1e-6;

const std::vector<Section>& sections() {
  static const std::vector<Section> list = {
      {"", false, "Top level", "Identity and seed of the job."},
      {"data", false, "[data]", "Which Fashion-MNIST classes the zoo uses and how each model's training mixture is drawn."},
      {"featurenet", false, "[featurenet]",
       "The small CNN trained on the full training split: selects the most distant classes, later computes FID."},
      {"probe", false, "[probe]",
       "Datasets of the dataset-identification probe (seed 000): a model trained on a random subset of A or of B. "
       "A and every B are disjoint draws from the training split; every family sees the same datasets."},
      {"reduce", false, "[reduce]",
       "Settings of the reduction stage (`genzoo reduce`, DESIGN.md section 6): vectorizations, the "
       "dataset-identification probe, the embedding encoder and the information estimate. `genzoo reduce` reads "
       "them from the job stored in zoo.h5 (or from `--config JOB`); its command-line options override them. "
       "Editing this section after training changes the job's fingerprint: pass the edited file with `--config`."},
      {"distill", false, "[distill]",
       "Settings of `genzoo distill` (DESIGN.md section 6, seed 004): students trained on few images of held-out class "
       "mixtures with the zoo's priors (the node nearest the mixture, aligned to the student's structure), against "
       "baselines. The unit of work is (mixture, n, seed); every student structure and method of a unit trains in "
       "one model batch. `genzoo distill` reads this section from the job stored in zoo.h5 (or `--config JOB`)."},
      {"family", true, "[[family]]",
       "One table per model family configuration (at least one; a name may repeat with other settings). "
       "Plan order within a family: random mixtures, triplets, chains, probe models."},
  };
  return list;
}

const std::vector<Field>& schema() {
  static const std::vector<Field> fields = {
      top_key("name", &Job::name, required(identifier()), "Job name; stored in every output file."),
      top_key("seed", &Job::seed, at_least(0),
              "Seed of the whole plan: proportions, samples, initializations, per-model seeds."),

      data_key("source", &DataConfig::source, one_of({"images", "gaussian"}),
               "images: Fashion-MNIST class mixtures. gaussian: seed 000's setting, linear_ae models on Bernoulli(inclusion) "
               "subsets of a pool of N(mean, diag(spectrum)) vectors (one class; the keys below)."),
      data_key("dir", &DataConfig::dir, any_string(),
               "Fashion-MNIST directory (IDX files); empty: $GENZOO_DATA, else the Debian package."),
      data_key("num_classes", &DataConfig::num_classes, between(2, 10),
               "K: classes every model mixes (the K most distant ones unless `classes` is given)."),
      data_key("classes", &DataConfig::classes, between(0, 9),
               "Explicit class labels; skips the feature-net selection. Empty: select by the feature net."),
      data_key("alpha", &DataConfig::alpha, above_upto(0, 100),
               "Dirichlet concentration of each model's class proportions p ~ Dir(alpha 1_K)."),
      data_key("samples_min", &DataConfig::samples_min, between(1, kTrainImagesPerClass),
               "Smallest per-model sample size n (n ~ U{samples_min..samples_max})."),
      data_key("samples_max", &DataConfig::samples_max, between(1, kTrainImagesPerClass),
               "Largest per-model sample size n."),
      data_key("dimension", &DataConfig::dimension, between(2, 4096), "gaussian: d, the dimension of x."),
      data_key("mean", &DataConfig::mean, between(-1e6, 1e6), "gaussian: every coordinate of the mean μ."),
      data_key("spectrum", &DataConfig::spectrum, above_upto(0, 1e6),
               "gaussian: the diagonal of Σ, `dimension` entries; empty: 2 * 0.6^i."),
      data_key("pool", &DataConfig::pool, between(2, 10000000), "gaussian: n, the pool X of training vectors."),
      data_key("inclusion", &DataConfig::inclusion, above_upto(0, 1),
               "gaussian: p, each pool vector joins a model's subset X1 independently with this probability."),
      data_key("test_pool", &DataConfig::test_pool, between(1, 10000000), "gaussian: held-out vectors for test_loss."),
      data_key("target", &DataConfig::target, one_of({"none", "linear"}),
               "gaussian: linear appends a regression target y = x'w + target_noise * eps (w ~ N(0, I) from the job seed) "
               "to every vector, for regressor families (seed 004's synthetic regression); none: x alone, for linear_ae."),
      data_key("target_noise", &DataConfig::target_noise, between(0, 1e6), "gaussian: the standard deviation of y's noise."),

      featurenet_key("epochs", &FeatureNetConfig::epochs, between(1, 50), "Training epochs of the feature net."),
      featurenet_key("batch_size", &FeatureNetConfig::batch_size, between(8, 4096), "Minibatch size."),
      featurenet_key("lr", &FeatureNetConfig::lr, above_upto(0, 1), "Adam learning rate."),
      featurenet_key("embedding", &FeatureNetConfig::embedding, between(8, 512),
                     "Width of the penultimate layer (class centroids, FID features)."),

      probe_key("proportions_a", &ProbeConfig::proportions_a, between(0, 1),
                "Class proportions of dataset A (K floats summing to 1). Empty: uniform."),
      probe_key("proportions_b", &ProbeConfig::proportions_b, between(0, 1),
                "Class proportions of dataset B. With `gaps`: only the direction in which each B moves away from A."),
      probe_key("gaps", &ProbeConfig::gaps, strictly_between(0, 1),
                "Total-variation gaps for the sweep: one dataset B per gap, B = A moved by the gap towards "
                "`proportions_b` (or from the last class slot to the first; clipped at 0 and renormalized)."),
      probe_key("pool", &ProbeConfig::pool, between(10, kTrainImagesPerClass),
                "Samples in each probe dataset (class counts apportioned by its proportions)."),
      probe_key("keep", &ProbeConfig::keep, above_upto(0, 1),
                "q: a probe model keeps every sample of its dataset independently with this probability."),

      reduce_key("features", &ReduceConfig::features, identifier(),
                 "Vectorizations to compute (svd, hist, layer_stats, latent_mean, probe_error); empty: every registered one."),
      reduce_key("folds", &ReduceConfig::folds, between(2, 100), "Probe: cross-validation folds (capped by the smaller dataset)."),
      reduce_key("probe_epochs", &ReduceConfig::probe_epochs, between(1, 1000000), "Probe: full-batch Adam steps per classifier."),
      reduce_key("probe_lr", &ReduceConfig::probe_lr, above_upto(0, 1), "Probe: Adam learning rate."),
      reduce_key("probe_weight_decay", &ReduceConfig::probe_weight_decay, between(0, 1), "Probe: L2 weight decay."),
      reduce_key("probe_hidden", &ReduceConfig::probe_hidden, between(1, 4096), "Probe: hidden width of the MLP classifier."),
      reduce_key("epochs", &ReduceConfig::epochs, between(1, 1000000),
                 "Embedding: at most this many full-batch Adam steps (the best validation state is kept)."),
      reduce_key("patience", &ReduceConfig::patience, between(1, 1000000),
                 "Embedding: stop when the validation loss has not improved for this many steps."),
      reduce_key("hidden", &ReduceConfig::hidden, between(1, 4096), "Embedding: hidden width of the encoder MLP."),
      reduce_key("lr", &ReduceConfig::lr, above_upto(0, 1), "Embedding: Adam learning rate."),
      reduce_key("weight_decay", &ReduceConfig::weight_decay, between(0, 1), "Embedding: L2 weight decay."),
      reduce_key("validation", &ReduceConfig::validation, strictly_between(0, 1),
                 "Embedding: share of a family's models (triplets and chains whole) in the validation split."),
      reduce_key("test", &ReduceConfig::test, strictly_between(0, 1), "Embedding: share in the test split (never seen in training)."),
      reduce_key("min_models", &ReduceConfig::min_models, between(3, 1000000),
                 "Embedding: a family with fewer usable models is not embedded (an error when named with --families)."),
      reduce_key("order_tolerance", &ReduceConfig::order_tolerance, between(0, 1),
                 "Embedding: tolerance of order_violation_rate, relative to the larger model's total mass."),
      reduce_key("probe_images_per_class", &ReduceConfig::probe_images_per_class, between(1, 1000),
                 "latent_mean: fixed probe images taken from the test split per selected class."),
      reduce_key("mi_neighbours", &ReduceConfig::mi_neighbours, between(1, 100), "Information: k of the KSG estimator."),
      reduce_key("mi_components", &ReduceConfig::mi_components, between(1, 64),
                 "Information: principal components (and autoencoder code width) of the features the compressed and flow estimators see."),
      reduce_key("mi_estimators", &ReduceConfig::mi_estimators, one_of(information_estimators()),
                 "Information: estimators of I(proportions; features): ksg (full dimension), ksg_pca (always run: mi_nats), "
                 "ksg_autoencoder (KSG on autoencoder codes), flow (normalizing flows on the principal components, seed 002; run with "
                 "at least 10 models per coordinate)."),
      reduce_key("mi_steps", &ReduceConfig::mi_steps, between(0, 1000000),
                 "Information: Adam steps of the ksg_autoencoder's autoencoder and of the flow estimator."),
      reduce_key("prior_rank", &ReduceConfig::prior_rank, between(0, 256),
                 "Priors: rank r of the covariance D + F F^T (the members' top r principal deviations); below prior_min_members."),
      reduce_key("prior_shrinkage", &ReduceConfig::prior_shrinkage, between(0, 1),
                 "Priors: weight of the pooled variance in the diagonal D (0: the members' own residual variances)."),
      reduce_key("prior_shrinkage_target", &ReduceConfig::prior_shrinkage_target, one_of({"parent", "pooled"}),
                 "Priors: what a node's D shrinks toward: its root's per-weight sample variances (parent) or its own mean variance (pooled); the root always pools."),
      reduce_key("prior_floor", &ReduceConfig::prior_floor, above_upto(0, 1), "Priors: lower bound of every entry of D."),
      reduce_key("prior_min_members", &ReduceConfig::prior_min_members, between(2, 1000000),
                 "Priors: models of one init group (outside the embedding's test split) a dendrogram node needs for a prior."),
      reduce_key("prior_order", &ReduceConfig::prior_order,
                 one_of({"last", "random", "density_ratio", "obd", "belsley", "gradient_covariance"}),
                 "Priors: which unit structure alignment removes first (seed 004's orders; gradient_covariance computes every "
                 "model's per-sample gradients on its training samples, not for gan)."),
      reduce_key("prior_students", &ReduceConfig::prior_students, any_string(),
                 "Priors: student structures every prior is aligned to, \"family:key=value[,key=value]\" with keys latent, hidden, "
                 "hidden2, channels (e.g. \"linear_ae:latent=8\", \"vae:hidden=64\")."),
      reduce_key("prior_teachers", &ReduceConfig::prior_teachers, at_least(0),
                 "Priors: model ids that also get single-teacher posteriors (diagonal Laplace; SWAG when checkpoints are stored)."),
      reduce_key("prior_laplace_precision", &ReduceConfig::prior_laplace_precision, above_upto(0, 1e12),
                 "Priors: Laplace's prior precision (N(0, 1/precision I)) added to the empirical Fisher."),

      distill_key("students", &DistillConfig::students, any_string(),
                  "Student structures: \"family\" (the teacher's own) or \"family:key=value[,key=value]\" narrowed like "
                  "prior_students (linear_ae, conv_ae, mlp); empty: every such family of the job at its own structure and at half "
                  "its code width (mlp: its first hidden layer)."),
      distill_key("mixtures", &DistillConfig::mixtures, between(1, 10000),
                  "Held-out target mixtures, proportions drawn from Dirichlet(data.alpha) with the job seed (unless given). A "
                  "regression zoo has one class: each mixture is then another draw of the training vectors, like seeds."),
      distill_key("proportions", &DistillConfig::proportions, between(0, 1),
                  "Given target mixtures instead: num_classes proportions per mixture, one after another (each summing to 1)."),
      distill_key("sizes", &DistillConfig::sizes, between(2, 3 * kTrainImagesPerClass),
                  "Training-set sizes n of the students (nested: a smaller set is the start of a larger one)."),
      distill_key("methods", &DistillConfig::methods,
                  one_of({"scratch", "isotropic", "warm_start", "hinton", "map", "vi", "vi_root", "vi_standard", "vi_node_mean"}),
                  "Methods (empty: all but the last two): scratch, isotropic, warm_start, hinton (baselines); map, vi (the nearest "
                  "node's aligned prior), vi_root (the root's); seed 004's vi_standard (N(0, I)) and vi_node_mean (the node's "
                  "aligned mean, identity covariance)."),
      distill_key("seeds", &DistillConfig::seeds, between(1, 1000), "Restarts per (mixture, n, student, method): own data draw, init and noise."),
      distill_key("steps", &DistillConfig::steps, between(1, kMaxSteps), "Adam steps per student."),
      distill_key("batch_size", &DistillConfig::batch_size, between(1, 4096), "Minibatch size (capped by the training set)."),
      distill_key("lr", &DistillConfig::lr, above_upto(0, 1), "Adam learning rate (vi: of the mean; log sigma takes 10x)."),
      distill_key("prior_lr", &DistillConfig::prior_lr, between(0, 10),
                  "map, vi, vi_root train prior-preconditioned: w = start + s * z with s the prior's marginal standard "
                  "deviations and Adam on z at this rate (a step moves each weight in units of its prior spread); 0: plain "
                  "Adam on w at lr."),
      distill_key("noise_variance", &DistillConfig::noise_variance, between(0, 1),
                  "Variance s^2 of the Gaussian likelihood that map and vi weigh against the prior, per output: per pixel for "
                  "autoencoders (p(x | w) = N(x | decoder(encoder(x)), s^2 I)), of the target for regressors (p(y | x, w) = "
                  "N(y | f(x; w), s^2)); 0: the mean final loss of the prior node's members (the noise the zoo's own models leave)."),
      distill_key("vi_samples", &DistillConfig::vi_samples, between(1, 1000),
                  "vi: weight samples from q behind the sampled test loss (the other is at q's mean)."),
      distill_key("vi_gradient_samples", &DistillConfig::vi_gradient_samples, between(1, 64),
                  "vi: weight samples from q per step, on the same minibatch, averaged into the gradients (fewer "
                  "noisy steps at that many times the data term's cost)."),
      distill_key("isotropic_variances", &DistillConfig::isotropic_variances, above_upto(0, 1e6),
                  "isotropic: candidates for sigma^2 of N(init, sigma^2 I), chosen on a validation split of the training set."),
      distill_key("prior_scales", &DistillConfig::prior_scales, above_upto(0, 1e6),
                  "map, vi, vi_root: candidates for the scale kappa of the zoo prior N(m, kappa Sigma) (1: the members' own "
                  "spread), chosen on a validation split of the training set like isotropic's sigma^2."),
      distill_key("validation", &DistillConfig::validation, strictly_between(0, 1),
                  "Share of the training set that chooses isotropic's sigma^2 and a zoo prior's kappa (the chosen prior then "
                  "trains on all of it)."),
      distill_key("hinton_weight", &DistillConfig::hinton_weight, between(0, 1),
                  "hinton: lambda, the weight of the teacher's outputs (autoencoders: the nearest zoo model's reconstructions; "
                  "mlp: its softened class probabilities)."),
      distill_key("hinton_temperature", &DistillConfig::hinton_temperature, above_upto(0, 100),
                  "hinton, mlp students: temperature T of the seed's loss (1 - lambda) CE(y, g(x)) + lambda CE(softmax(f(x)/T), "
                  "softmax(g(x)/T))."),
      distill_key("order", &DistillConfig::order, one_of({"last", "random", "density_ratio", "obd", "belsley"}),
                  "Which units structure alignment removes first (seed 004's orders; see reduce.prior_order)."),
      distill_key("code_basis", &DistillConfig::code_basis, one_of({"principal", "trained"}),
                  "How a narrower code (linear_ae, conv_ae latent) is aligned: principal = the prior is first "
                  "re-expressed in the principal components of the node mean's codes on 100 training images per class "
                  "(centred), and phi drops the weakest components; trained = phi removes code units as the teacher "
                  "trained them, in `order`."),
      distill_key("test_images", &DistillConfig::test_images, between(1, 1000), "Test images per class of the test losses."),
      distill_key("curve_points", &DistillConfig::curve_points, between(1, 1000), "Learning-curve evaluations per student (evenly spaced steps)."),

      family_key("name", &FamilyConfig::name, required(one_of({"linear_ae", "conv_ae", "vae", "gan", "mlp", "regressor"})),
                 "Model family."),
      family_key("models", &FamilyConfig::models, between(0, kMaxModels), "Random-mixture models."),
      family_key("triplets", &FamilyConfig::triplets, between(0, kMaxModels),
                 "Additivity triplets: disjoint D1, D2 and D1 u D2 (3 models each; n of D1, D2 in half the range)."),
      family_key("chains", &FamilyConfig::chains, between(0, kMaxModels),
                 "Nested chains Da < Db < Dc (3 models each; every class keeps a U(0.4, 0.8) fraction per step)."),
      family_key("probe_models", &FamilyConfig::probe_models, between(0, kMaxModels),
                 "Probe models per probe dataset (A, and B or every B of the gap sweep)."),
      family_key("latent", &FamilyConfig::latent, between(1, 512), "Code width k."),
      family_key("channels", &FamilyConfig::channels, between(1, 256), "conv_ae, gan, and vae with decoder = \"conv\": base channel count c (layers of c and 2c channels)."),
      family_key("steps", &FamilyConfig::steps, between(1, kMaxSteps), "Optimizer steps per model."),
      family_key("batch_size", &FamilyConfig::batch_size, between(1, 4096), "Minibatch size per model."),
      family_key("lr", &FamilyConfig::lr, above_upto(0, 1), "Adam learning rate."),
      family_key("adam_beta1", &FamilyConfig::adam_beta1, between(0, 0.999),
                 "Adam's first-moment decay beta1 (0.9: torch.optim.Adam's default; DCGAN's GANs use 0.5, a shorter memory "
                 "of the gradient that the adversarial game's moving target favours)."),
      family_key("adam_beta2", &FamilyConfig::adam_beta2, strictly_between(0, 1),
                 "Adam's second-moment decay beta2 (0.999: torch.optim.Adam's default)."),
      family_key("lr_decay", &FamilyConfig::lr_decay, between(0, 1),
                 "The last fraction of `steps` over which the learning rate falls linearly, from lr to lr / (n + 1) at "
                 "the last of those n steps (0: constant). A gan's generator and discriminator both follow it."),
      family_key("lr_spread", &FamilyConfig::lr_spread, between(0, 5),
                 "Per-model learning rate lr * exp(U(-lr_spread, lr_spread))."),
      family_key("chunk_models", &FamilyConfig::chunk_models, between(1, 4096),
                 "Models trained together as one batch (one chunk, one shard)."),
      family_key("init", &FamilyConfig::init, one_of({"group", "model"}),
                 "\"group\": models of one init group start from the same weights; \"model\": every model its own."),
      family_key("init_groups", &FamilyConfig::init_groups, between(1, kMaxModels),
                 "Init groups (init = \"group\"): model i of the family is in group i mod init_groups."),
      family_key("regularizer", &FamilyConfig::regularizer, one_of({"none", "sparse", "denoising", "contractive"}),
                 "Autoencoder regularizer (seed 003)."),
      family_key("reg_weight", &FamilyConfig::reg_weight, between(0, 1e6),
                 "Sparse: L1 weight on the code; contractive: lambda."),
      family_key("noise", &FamilyConfig::noise, one_of({"gaussian", "mask"}), "Denoising corruption."),
      family_key("noise_level", &FamilyConfig::noise_level, between(0, 10),
                 "Gaussian: noise std; mask: masking probability p0 (at most 1)."),
      family_key("checkpoint_steps", &FamilyConfig::checkpoint_steps, between(1, kMaxSteps),
                 "Steps at which the weights are also stored (training trajectories)."),
      family_key("ema_decay", &FamilyConfig::ema_decay, between(0, 0.9999),
                 "The final stored weights are the exponential moving average of the training iterates (checkpoints stay "
                 "iterates: the trajectory, and what reduce's SWAG needs), "
                 "a_t = d a_(t-1) + (1 - d) w_t, bias-corrected as Adam's moments are (a_t / (1 - d^t): no weight on the "
                 "initialization), with d this decay (0: the last iterate). A gan averages its generator only (Yazici et al. "
                 "2019) and stores its discriminator as trained. Training itself is unchanged."),
      family_key("hidden", &FamilyConfig::hidden, between(8, 4096),
                 "vae: width of the encoder's hidden layer and of an MLP decoder's; mlp: width of the first hidden layer."),
      family_key("hidden2", &FamilyConfig::hidden2, between(0, 4096),
                 "mlp: width of a second hidden layer (0: none; seed 004's teacher [784, 800, 50, 10] is hidden = 800, hidden2 = 50)."),
      family_key("decoder_layers", &FamilyConfig::decoder_layers, between(1, 2),
                 "vae, decoder = \"mlp\": hidden layers of the decoder, each `hidden` wide, with ReLU (2: a deeper decoder than the encoder)."),
      family_key("decoder", &FamilyConfig::decoder, one_of({"mlp", "conv"}),
                 "vae: the decoder's architecture. mlp: decoder_layers hidden layers, each `hidden` wide (the encoder is always "
                 "one such layer). conv: conv_ae's and gan's generator's, fc to 2c x 7 x 7, then two stride-2 transposed 4 x 4 "
                 "convolutions (c = `channels`) to the 28 x 28 logits: local, shared filters, which draw thin structure "
                 "(straps, edges) an MLP decoder smooths away."),
      family_key("beta", &FamilyConfig::beta, between(0, 100), "vae: weight of the KL term in the ELBO (beta-VAE)."),
      family_key("likelihood", &FamilyConfig::likelihood, one_of({"bernoulli", "gaussian", "gaussian_learned"}),
                 "vae: decoder distribution p(x|z): bernoulli; gaussian (unit variance); gaussian_learned (a learned "
                 "variance per pixel, the parameter decoder.out.logvar)."),
      family_key("latent_density", &FamilyConfig::latent_density, one_of({"standard", "mixture"}),
                 "vae: where generated images' codes come from. standard: the prior N(0, I). mixture: a Gaussian mixture "
                 "(latent_components full-covariance components) fitted by EM to the posterior means mu(x) of the model's "
                 "training images after training (ex-post density estimation, Ghosh et al. 2020): the aggregate posterior "
                 "the decoder learned, without N(0, I)'s empty regions between classes. Stored with the weights as "
                 "latent_density.logits [K], .means [K, k] and .scale_tril [K, k, k] (Cholesky factors), which hold N(0, I) "
                 "until fitted; a code is means[c] + scale_tril[c] e with e ~ N(0, I_k) and c drawn by the softmax of logits "
                 "(genzoo's own samples pick c by Phi(e_(k+1)), one more standard normal)."),
      family_key("latent_components", &FamilyConfig::latent_components, between(1, 64),
                 "vae, latent_density = \"mixture\": the mixture's components K (K (1 + k + k^2) stored floats). More, "
                 "smaller components fill a wide code better, the more so on small datasets: zoo-1k's 192 VAEs (k = 32) "
                 "from 10 to 64 components: median mode_tv 0.104 -> 0.099, FID 29.8 -> 25.4, at 1.34x the filing VAE's "
                 "time against 1.16x (bench/RESULTS.md \"64 components\")."),
      family_key("latent_shrinkage", &FamilyConfig::latent_shrinkage, between(0, 1),
                 "vae, latent_density = \"mixture\": every EM M-step shrinks each component's covariance towards its own "
                 "diagonal, Sigma_c <- (1 - lambda) Sigma_c + lambda diag(Sigma_c) with lambda this (0: the sample "
                 "covariance; 1: diagonal components). A component fitted to ~100 codes in 32 dimensions overstates its "
                 "largest directions (a sample covariance's eigenvalues spread), and its samples leave the codes the "
                 "decoder learned; the shrinkage estimator of Ledoit & Wolf 2004 with a fixed weight. zoo-1k's 192 VAEs "
                 "(latent 32): median mode_tv 0.116 -> 0.104 at 0.15 (bench/RESULTS.md \"The VAEs' decoder floor\")."),
      family_key("latent_temperature", &FamilyConfig::latent_temperature, between(0.05, 2),
                 "vae, gan: the generated images' codes draw their noise scaled by this temperature T: a vae's code is "
                 "means[c] + T scale_tril[c] e (mixture; the component c keeps its weight) or T e (standard), a gan's "
                 "noise is T z. Below 1 each sample sits nearer its component's centre (less varied images, which large "
                 "models render sharper: the temperature of Kingma & Dhariwal 2018, the truncation trick's idea, Brock et "
                 "al. 2019); FID measures what that costs in variety. Training is unchanged. On the quickstart's small "
                 "models neither direction helped: bench/RESULTS.md, \"Sampling temperature\"."),
      family_key("d_steps", &FamilyConfig::d_steps, between(1, 20), "gan: discriminator steps per generator step (k)."),
      family_key("label_smoothing", &FamilyConfig::label_smoothing, between(0, 0.45),
                 "gan: one-sided label smoothing (Salimans et al. 2016; seed 001's stabilizers): the discriminator's target "
                 "for real images is 1 - this; fakes and the generator's target stay 0 and 1."),
      family_key("d_lr_scale", &FamilyConfig::d_lr_scale, between(0.1, 10),
                 "gan: the discriminator's Adam learning rate is lr * this, the generator's lr (two time-scale update rule, "
                 "Heusel et al. 2017: a faster D, e.g. 4)."),
      family_key("d_channels", &FamilyConfig::d_channels, between(0, 256),
                 "gan: the discriminator's base channel count (its layers have d_channels and 2 d_channels; 0: `channels`, "
                 "as the generator)."),
      family_key("d_norm", &FamilyConfig::d_norm, one_of({"none", "spectral"}),
                 "gan: spectral = every discriminator weight matrix divided by its largest singular value (Miyato et al. "
                 "2018; seed 001's stabilizers), estimated by power iteration at every step."),
      family_key("d_minibatch", &FamilyConfig::d_minibatch, one_of({"none", "stddev"}),
                 "gan: stddev = the discriminator also sees its batch's spread: the standard deviation over the batch of each "
                 "of its features, averaged into one more input of its last layer (minibatch standard deviation, Karras et al. "
                 "2018; seed 001's stabilizers against mode collapse)."),
      family_key("d_augment", &FamilyConfig::d_augment, one_of({"none", "translation", "cutout", "translation,cutout"}),
                 "gan: differentiable augmentation of every image the discriminator sees, real and generated, in both "
                 "steps (DiffAugment, Zhao et al. 2020): translation by up to 4 pixels per axis with black fill and/or a "
                 "black 14 x 14 cutout, drawn per image. The generator learns through it, so its images stay "
                 "unaugmented; D overfits a small training set less."),
      family_key("condition", &FamilyConfig::condition, one_of({"none", "label"}),
                 "gan: label = class-conditional (one-hot class concatenated to z and to D's features)."),
      family_key("fid_samples", &FamilyConfig::fid_samples, between(16, 2048),
                 "vae, gan: generated images per model that FID, mode coverage (mode_tv, generated_share_*) and the "
                 "real-image floor (real_fid, real_mode_tv: up to this many of the model's training images; "
                 "reconstruction_fid, reconstruction_mode_tv: a vae's reconstructions of them) are computed on. All are "
                 "biased upwards by sampling: mode_tv by about 0.4 sqrt(K / n) for K classes (0.04-0.05 at "
                 "K = 4, n = 256), FID by the covariances' noise; a larger n costs evaluation time (feature net passes) "
                 "and memory (n images of every model of a chunk)."),
      family_key("sample_grid", &FamilyConfig::sample_grid, between(0, 64),
                 "vae, gan: generated samples stored per model under /samples/<family> (fixed latent seeds)."),
  };
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Formatting.

std::string format_number(double x) {
  char buffer[64];
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(x));
  } else {
    std::snprintf(buffer, sizeof buffer, "%g", x);
  }
  return buffer;
}

// Spells a value as TOML would (defaults in the reference, values in messages).
struct ValueFormatter {
  std::string operator()(int64_t v) const { return std::to_string(v); }
  std::string operator()(double v) const { return format_number(v); }
  std::string operator()(const std::string& v) const { return "\"" + v + "\""; }
  template <class T>
  std::string operator()(const std::vector<T>& v) const {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + (*this)(v[i]);
    return out + "]";
  }
};

std::string format_value(const Value& value) { return std::visit(ValueFormatter{}, value); }

const char* kind_noun(Kind kind) {
  switch (kind) {
    case Kind::kInteger: return "an integer";
    case Kind::kFloat: return "a float";
    case Kind::kString: return "a string";
    case Kind::kIntegers: return "an array of integers";
    case Kind::kFloats: return "an array of floats";
    case Kind::kStrings: return "an array of strings";
  }
  return "?";
}

const char* kind_type(Kind kind) {
  switch (kind) {
    case Kind::kInteger: return "integer";
    case Kind::kFloat: return "float";
    case Kind::kString: return "string";
    case Kind::kIntegers: return "array of integers";
    case Kind::kFloats: return "array of floats";
    case Kind::kStrings: return "array of strings";
  }
  return "?";
}

Kind element_kind(Kind kind) {
  if (kind == Kind::kIntegers) return Kind::kInteger;
  return kind == Kind::kStrings ? Kind::kString : Kind::kFloat;
}
bool is_array(Kind kind) { return kind == Kind::kIntegers || kind == Kind::kFloats || kind == Kind::kStrings; }

// "[1, 50]", "(0, 1]", ">= 0"; empty when unbounded.
std::string range_text(const Constraint& c) {
  if (c.min && c.max) {
    return std::string(c.min_open ? "(" : "[") + format_number(*c.min) + ", " + format_number(*c.max) +
           (c.max_open ? ")" : "]");
  }
  if (c.min) return std::string(c.min_open ? "> " : ">= ") + format_number(*c.min);
  if (c.max) return std::string(c.max_open ? "< " : "<= ") + format_number(*c.max);
  return "";
}

// The "expected ..." part of a refusal, for a scalar of the given kind.
std::string expectation(Kind kind, const Constraint& c) {
  std::string text = kind_noun(kind);
  if (c.identifier) return text + " matching [A-Za-z0-9_-]+";
  if (!c.choices.empty()) {
    std::vector<std::string> quoted;
    for (const auto& choice : c.choices) quoted.push_back("\"" + choice + "\"");
    return "one of " + join(quoted, ", ");
  }
  const std::string range = range_text(c);
  if (range.empty()) return text;
  return text + (range[0] == '[' || range[0] == '(' ? " in " : " ") + range;
}

// The "allowed" column of the reference.
std::string allowed_text(const Field& field) {
  const Constraint& c = field.constraint;
  if (c.identifier) return "`[A-Za-z0-9_-]+`";
  if (!c.choices.empty()) return join(c.choices, ", ");
  const std::string range = range_text(c);
  if (range.empty()) return "any";
  return is_array(field.kind) ? "each " + range : range;
}

// A TOML node as the user wrote it, for "got ..." (tables are not spelled out).
std::string describe(const toml::node& node) {
  if (node.is_table()) return "a table";
  if (node.is_string()) return "\"" + **node.as_string() + "\"";  // TOML would print 'text'
  std::ostringstream out;
  node.visit([&out](const auto& n) { out << n; });
  std::string text = out.str();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string type_name(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  return out.str();
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Reading and checking one job file.

class JobReader {
 public:
  explicit JobReader(std::string source) : source_(std::move(source)) {}

  void read(const toml::table& root, Job& job) const {
    FamilyConfig unused;  // top-level and section keys bind into the job only
    read_table(root, "", "", job, unused);
    if (!root.contains("family")) fail("missing required key 'family' (at least one [[family]] table)");
  }

  [[noreturn]] void fail(const std::string& message) const { throw JobError(source_ + ": " + message); }

 private:
  void read_table(const toml::table& table, const std::string& section, const std::string& prefix, Job& job,
                  FamilyConfig& family) const {
    for (const auto& [toml_key, node] : table) {
      const std::string key(toml_key.str());
      if (section.empty() && is_section(key)) {
        read_section(key, node, job);
      } else if (const Field* field = find_field(section, key)) {
        field->set(job, family, read_value(*field, node, prefix + key));
      } else {
        fail("unknown key '" + prefix + key + "' (allowed: " + join(allowed_keys(section), ", ") + ")");
      }
    }
    for (const Field& field : schema()) {
      if (field.section == section && field.constraint.required && !table.contains(field.key)) {
        fail("missing required key '" + prefix + field.key + "'");
      }
    }
  }

  void read_section(const std::string& name, const toml::node& node, Job& job) const {
    if (name != "family") {
      if (!node.is_table()) fail("key '" + name + "': expected a table ([" + name + "]), got " + describe(node));
      FamilyConfig unused;
      read_table(*node.as_table(), name, name + ".", job, unused);
      return;
    }
    const toml::array* tables = node.as_array();
    if (tables && tables->empty()) fail("key 'family': expected at least one [[family]] table");
    if (!tables || !tables->is_array_of_tables()) {
      fail("key 'family': expected an array of tables ([[family]]), got " + describe(node));
    }
    for (size_t i = 0; i < tables->size(); ++i) {
      FamilyConfig family;
      read_table(*tables->get(i)->as_table(), "family", "family[" + std::to_string(i) + "].", job, family);
      job.families.push_back(std::move(family));
    }
  }

  Value read_value(const Field& field, const toml::node& node, const std::string& path) const {
    if (!is_array(field.kind)) return read_scalar(field.kind, field.constraint, node, path);
    const toml::array* array = node.as_array();
    if (!array) {
      fail("key '" + path + "': expected " + kind_noun(field.kind) + " (each " +
           expectation(element_kind(field.kind), field.constraint) + "), got " + describe(node));
    }
    std::vector<int64_t> integers;
    std::vector<double> floats;
    std::vector<std::string> strings;
    for (size_t i = 0; i < array->size(); ++i) {
      const Value element =
          read_scalar(element_kind(field.kind), field.constraint, *array->get(i), path + "[" + std::to_string(i) + "]");
      if (field.kind == Kind::kIntegers) {
        integers.push_back(std::get<int64_t>(element));
      } else if (field.kind == Kind::kStrings) {
        strings.push_back(std::get<std::string>(element));
      } else {
        floats.push_back(std::get<double>(element));
      }
    }
    if (field.kind == Kind::kIntegers) return integers;
    if (field.kind == Kind::kStrings) return strings;
    return floats;
  }

  Value read_scalar(Kind kind, const Constraint& c, const toml::node& node, const std::string& path) const {
    const auto refuse = [&](const std::string& got) {
      fail("key '" + path + "': expected " + expectation(kind, c) + ", got " + got);
    };
    const auto wrong_type = [&] { refuse(describe(node) + " (" + type_name(node) + ")"); };
    switch (kind) {
      case Kind::kString: {
        if (!node.is_string()) wrong_type();
        const std::string text = **node.as_string();
        if (c.identifier && !is_identifier(text)) refuse("\"" + text + "\"");
        if (!c.choices.empty() && std::find(c.choices.begin(), c.choices.end(), text) == c.choices.end()) {
          refuse("\"" + text + "\"");
        }
        return text;
      }
      case Kind::kInteger: {
        if (!node.is_integer()) wrong_type();
        const int64_t value = **node.as_integer();
        if (!in_range(static_cast<double>(value), c)) refuse(describe(node));
        return value;
      }
      case Kind::kFloat: {
        // An integer is a fine float ("lr = 1").
        if (!node.is_number()) wrong_type();
        const double value = node.is_integer() ? static_cast<double>(**node.as_integer()) : **node.as_floating_point();
        if (!in_range(value, c)) refuse(describe(node));
        return value;
      }
      default:
        break;
    }
    fail("key '" + path + "': nested arrays are not supported");
  }

  static bool in_range(double x, const Constraint& c) {
    // Written so that NaN fails every bound.
    if (c.min && !(c.min_open ? x > *c.min : x >= *c.min)) return false;
    if (c.max && !(c.max_open ? x < *c.max : x <= *c.max)) return false;
    return !std::isnan(x);
  }

  static bool is_identifier(const std::string& text) {
    if (text.empty()) return false;
    for (char ch : text) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') return false;
    }
    return true;
  }

  static bool is_section(const std::string& key) {
    for (const Section& s : sections()) {
      if (!s.name.empty() && s.name == key) return true;
    }
    return false;
  }

  static const Field* find_field(const std::string& section, const std::string& key) {
    for (const Field& field : schema()) {
      if (field.section == section && field.key == key) return &field;
    }
    return nullptr;
  }

  static std::vector<std::string> allowed_keys(const std::string& section) {
    std::vector<std::string> keys;
    for (const Field& field : schema()) {
      if (field.section == section) keys.push_back(field.key);
    }
    if (section.empty()) {
      for (const Section& s : sections()) {
        if (!s.name.empty()) keys.push_back(s.name);
      }
    }
    return keys;
  }

  std::string source_;
};

// ---------------------------------------------------------------------------------------------
// Rules between keys.

double total_variation(const std::vector<double>& p, const std::vector<double>& q) {
  double sum = 0.0;
  for (size_t k = 0; k < p.size(); ++k) sum += std::fabs(p[k] - q[k]);
  return 0.5 * sum;
}

std::vector<double> uniform_proportions(int64_t k) { return std::vector<double>(k, 1.0 / static_cast<double>(k)); }

bool probe_b_defined(const ProbeConfig& probe) { return !probe.proportions_b.empty() || !probe.gaps.empty(); }

std::string check_proportions(const RuleContext& ctx, const std::string& name, const std::vector<double>& p) {
  if (p.empty()) return "";
  const int64_t k = ctx.job.data.num_classes;
  if (static_cast<int64_t>(p.size()) != k) {
    return "key '" + ctx.key(name) + "': expected data.num_classes = " + std::to_string(k) + " proportions, got " +
           std::to_string(p.size());
  }
  const double sum = std::accumulate(p.begin(), p.end(), 0.0);
  if (std::fabs(sum - 1.0) > kProportionTolerance) {
    return "key '" + ctx.key(name) + "': expected proportions summing to 1 (within 1e-6), got sum " +
           format_value(sum);
  }
  return "";
}

// "" when `text` ("family:key=value,...") names a family of the job and narrows it (no key wider than the
// teacher's); else the error for `key`.
std::string check_student(const Job& job, const std::string& key, const std::string& text) {
  StudentSpec spec;
  try {
    spec = parse_student_spec(text);
  } catch (const JobError& e) {
    return "key '" + key + "': " + e.what();
  }
  const FamilyConfig* teacher = nullptr;
  for (const FamilyConfig& family : job.families) {
    if (family.name == spec.family && !teacher) teacher = &family;
  }
  if (!teacher) return "key '" + key + "': the job has no family " + spec.family;
  for (const auto& [name, value] : spec.changes) {
    if (name == "latent" && teacher->latent_density == "mixture" && value != teacher->latent) {
      return "key '" + key + "': a vae with latent_density = \"mixture\" keeps its latent width (the fitted density "
             "lives in that code space)";
    }
    const int64_t wide = structure_key(*teacher, name);
    if (value > wide) {
      return "key '" + key + "': a student wider than its teacher (" + name + " " + std::to_string(value) + " > " +
             std::to_string(wide) + ")";
    }
  }
  return "";
}

const std::vector<Rule>& rules() {
  static const std::vector<Rule> list = {
      {"data", "`classes`, when given, lists `num_classes` distinct labels.",
       [](const RuleContext& ctx) -> std::string {
         const DataConfig& data = ctx.job.data;
         if (data.classes.empty()) return "";
         if (static_cast<int64_t>(data.classes.size()) != data.num_classes) {
           return "key 'data.classes': expected data.num_classes = " + std::to_string(data.num_classes) +
                  " labels, got " + std::to_string(data.classes.size());
         }
         std::set<int64_t> seen;
         for (int64_t label : data.classes) {
           if (!seen.insert(label).second) return "key 'data.classes': label " + std::to_string(label) + " appears twice";
         }
         return "";
       }},
      {"data", "`spectrum`, when given, has `dimension` entries (gaussian source).",
       [](const RuleContext& ctx) -> std::string {
         const DataConfig& data = ctx.job.data;
         if (data.spectrum.empty() || static_cast<int64_t>(data.spectrum.size()) == data.dimension) return "";
         return "key 'data.spectrum': expected data.dimension = " + std::to_string(data.dimension) + " entries, got " +
                std::to_string(data.spectrum.size());
       }},
      {"data", "`target` is the gaussian source's (images carry class labels, not regression targets).",
       [](const RuleContext& ctx) -> std::string {
         const DataConfig& data = ctx.job.data;
         if (data.target == "none" || data.gaussian()) return "";
         return "key 'data.target': a regression target needs data.source = \"gaussian\", got \"" + data.source + "\"";
       }},
      {"data", "`samples_min` <= `samples_max`.",
       [](const RuleContext& ctx) -> std::string {
         const DataConfig& data = ctx.job.data;
         if (data.samples_min <= data.samples_max) return "";
         return "key 'data.samples_min': expected at most data.samples_max = " + std::to_string(data.samples_max) +
                ", got " + std::to_string(data.samples_min);
       }},
      {"probe", "`proportions_a` and `proportions_b`, when given, have `num_classes` entries summing to 1 (within 1e-6).",
       [](const RuleContext& ctx) -> std::string {
         const std::string a = check_proportions(ctx, "proportions_a", ctx.job.probe.proportions_a);
         return a.empty() ? check_proportions(ctx, "proportions_b", ctx.job.probe.proportions_b) : a;
       }},
      {"probe", "`proportions_b` differs from `proportions_a`.",
       [](const RuleContext& ctx) -> std::string {
         const ProbeConfig& probe = ctx.job.probe;
         if (probe.proportions_b.empty()) return "";
         const auto a = probe.proportions_a.empty() ? uniform_proportions(ctx.job.data.num_classes) : probe.proportions_a;
         if (total_variation(a, probe.proportions_b) > kProportionTolerance) return "";
         return "key 'probe.proportions_b': equals proportions_a, so datasets A and B would not differ";
       }},
      {"probe", "A family with `probe_models` needs dataset B: `proportions_b` or `gaps`.",
       [](const RuleContext& ctx) -> std::string {
         if (probe_b_defined(ctx.job.probe)) return "";
         for (size_t i = 0; i < ctx.job.families.size(); ++i) {
           if (ctx.job.families[i].probe_models > 0) {
             return "key 'probe.proportions_b': family[" + std::to_string(i) +
                    "] has probe_models but dataset B is undefined (set probe.proportions_b or probe.gaps)";
           }
         }
         return "";
       }},
      {"probe", "Dataset A and each dataset B together fit in the 6000 training images of every class.",
       [](const RuleContext& ctx) -> std::string {
         const ProbeConfig& probe = ctx.job.probe;
         if (!probe_b_defined(probe)) return "";
         const auto counts = probe_dataset_counts(probe, ctx.job.data.num_classes);
         for (size_t d = 1; d < counts.size(); ++d) {
           for (size_t k = 0; k < counts[0].size(); ++k) {
             const int64_t needed = counts[0][k] + counts[d][k];
             if (needed > kTrainImagesPerClass) {
               return "key 'probe.pool': datasets A and B" + (probe.gaps.empty() ? "" : " (gap " + format_value(probe.gaps[d - 1]) + ")") +
                      " need " + std::to_string(needed) + " images of class slot " + std::to_string(k) +
                      ", more than the " + std::to_string(kTrainImagesPerClass) + " per class";
             }
           }
         }
         return "";
       }},
      {"reduce", "`prior_rank` < `prior_min_members` (a rank-r deviation needs more than r models).",
       [](const RuleContext& ctx) -> std::string {
         const ReduceConfig& reduce = ctx.job.reduce;
         if (reduce.prior_rank < reduce.prior_min_members) return "";
         return "key 'reduce.prior_rank': expected below reduce.prior_min_members = " +
                std::to_string(reduce.prior_min_members) + ", got " + std::to_string(reduce.prior_rank);
       }},
      {"reduce", "Every `prior_students` entry names a family of the job and narrows latent, hidden, hidden2 or channels.",
       [](const RuleContext& ctx) -> std::string {
         const auto& students = ctx.job.reduce.prior_students;
         for (size_t i = 0; i < students.size(); ++i) {
           const std::string error = check_student(ctx.job, "reduce.prior_students[" + std::to_string(i) + "]", students[i]);
           if (!error.empty()) return error;
         }
         return "";
       }},
      {"distill", "`proportions` holds whole mixtures of `num_classes` entries, each summing to 1 (within 1e-6).",
       [](const RuleContext& ctx) -> std::string {
         const auto& p = ctx.job.distill.proportions;
         const auto k = static_cast<size_t>(ctx.job.data.num_classes);
         if (p.size() % k != 0) {
           return "key 'distill.proportions': expected a multiple of data.num_classes = " + std::to_string(k) + " entries, got " +
                  std::to_string(p.size());
         }
         for (size_t start = 0; start < p.size(); start += k) {
           const std::string error = check_proportions(
               ctx, "proportions[" + std::to_string(start) + ".." + std::to_string(start + k - 1) + "]",
               std::vector<double>(p.begin() + start, p.begin() + start + k));
           if (!error.empty()) return error;
         }
         return "";
       }},
      {"distill", "Every `students` entry names a linear_ae, conv_ae or mlp family of the job, alone or narrowed.",
       [](const RuleContext& ctx) -> std::string {
         const auto& students = ctx.job.distill.students;
         for (size_t i = 0; i < students.size(); ++i) {
           const std::string key = "distill.students[" + std::to_string(i) + "]";
           const std::string family = students[i].substr(0, students[i].find(':'));
           const auto& families = distill_families();
           if (std::find(families.begin(), families.end(), family) == families.end()) {
             const std::vector<std::string> all_but_last(families.begin(), families.end() - 1);
             return "key '" + key + "': distill trains " + join(all_but_last) + " and " + families.back() + " students, got \"" +
                    family + "\"";
           }
           if (students[i].find(':') != std::string::npos) {
             const std::string error = check_student(ctx.job, key, students[i]);
             if (!error.empty()) return error;
           } else if (std::none_of(ctx.job.families.begin(), ctx.job.families.end(),
                                   [&](const FamilyConfig& f) { return f.name == family; })) {
             return "key '" + key + "': the job has no family " + family;
           }
         }
         return "";
       }},
      {"distill", "Every size leaves isotropic at least one training and one validation image.",
       [](const RuleContext& ctx) -> std::string {
         for (int64_t n : ctx.job.distill.sizes) {
           const auto held = static_cast<int64_t>(std::floor(ctx.job.distill.validation * static_cast<double>(n)));
           if (held < 1 || held >= n) {
             return "key 'distill.sizes': n = " + std::to_string(n) + " with distill.validation = " +
                    format_value(ctx.job.distill.validation) + " leaves no training or no validation image";
           }
         }
         return "";
       }},
      {"family", "`checkpoint_steps` ascend strictly and do not exceed `steps`.",
       [](const RuleContext& ctx) -> std::string {
         const auto& steps = ctx.family.checkpoint_steps;
         for (size_t i = 0; i < steps.size(); ++i) {
           const std::string key = ctx.key("checkpoint_steps[" + std::to_string(i) + "]");
           if (i > 0 && steps[i] <= steps[i - 1]) {
             return "key '" + key + "': expected ascending steps, got " + std::to_string(steps[i]) + " after " +
                    std::to_string(steps[i - 1]);
           }
           if (steps[i] > ctx.family.steps) {
             return "key '" + key + "': expected at most " + ctx.key("steps") + " = " + std::to_string(ctx.family.steps) +
                    ", got " + std::to_string(steps[i]);
           }
         }
         return "";
       }},
      {"family", "`noise_level` <= 1 when `noise` = \"mask\" (a masking probability).",
       [](const RuleContext& ctx) -> std::string {
         if (ctx.family.noise != "mask" || ctx.family.noise_level <= 1.0) return "";
         return "key '" + ctx.key("noise_level") + "': expected a masking probability in [0, 1] for noise = \"mask\", got " +
                format_value(ctx.family.noise_level);
       }},
      {"family", "`chains` need `data.samples_min` >= 3 (three strictly nested, non-empty datasets).",
       [](const RuleContext& ctx) -> std::string {
         if (ctx.family.chains == 0 || ctx.job.data.samples_min >= 3) return "";
         return "key '" + ctx.key("chains") + "': nested chains need data.samples_min >= 3, got " +
                std::to_string(ctx.job.data.samples_min);
       }},
      {"family", "The gaussian source trains random-subset models only (no triplets, chains or probe models): linear_ae on x, "
                 "regressor on x and its target (data.target = \"linear\"); regressor trains on nothing else.",
       [](const RuleContext& ctx) -> std::string {
         const DataConfig& data = ctx.job.data;
         if (ctx.family.name == "regressor" && !data.regression()) {
           return "key '" + ctx.key("name") + "': regressor needs data.source = \"gaussian\" with data.target = \"linear\"";
         }
         if (!data.gaussian()) return "";
         const std::string expected = data.regression() ? "regressor" : "linear_ae";
         if (ctx.family.name != expected) {
           return "key '" + ctx.key("name") + "': data.source = \"gaussian\" with data.target = \"" + data.target + "\" trains " +
                  expected + " only, got " + ctx.family.name;
         }
         for (const auto& [key, count] : {std::pair<const char*, int64_t>{"triplets", ctx.family.triplets},
                                          {"chains", ctx.family.chains}, {"probe_models", ctx.family.probe_models}}) {
           if (count > 0) {
             return "key '" + ctx.key(key) + "': data.source = \"gaussian\" has no classes to design " + key + " on, got " +
                    std::to_string(count);
           }
         }
         return "";
       }},
      {"family", "`decoder_layers` = 2 only with `decoder` = \"mlp\" (a conv decoder has its own fixed depth).",
       [](const RuleContext& ctx) -> std::string {
         if (ctx.family.decoder != "conv" || ctx.family.decoder_layers == 1) return "";
         return "key '" + ctx.key("decoder_layers") + "': a conv decoder has no hidden-layer count; expected 1, got " +
                std::to_string(ctx.family.decoder_layers);
       }},
      {"family", "A family trains at least one model.",
       [](const RuleContext& ctx) -> std::string {
         if (ctx.family.total_models(ctx.job.probe.datasets()) > 0) return "";
         return "key '" + ctx.prefix.substr(0, ctx.prefix.size() - 1) +
                "': expected at least one model (set models, triplets, chains or probe_models)";
       }},
  };
  return list;
}

void check_rules(const Job& job, const JobReader& reader) {
  const FamilyConfig no_family;
  for (const Rule& rule : rules()) {
    if (rule.section == "family") {
      for (size_t i = 0; i < job.families.size(); ++i) {
        const std::string error = rule.check({job, job.families[i], "family[" + std::to_string(i) + "]."});
        if (!error.empty()) reader.fail(error);
      }
    } else {
      const std::string error = rule.check({job, no_family, rule.section.empty() ? "" : rule.section + "."});
      if (!error.empty()) reader.fail(error);
    }
  }
}

}  // namespace

// -----------------------------------------------------------------------------------------------

StudentSpec parse_student_spec(const std::string& text) {
  StudentSpec spec;
  const size_t colon = text.find(':');
  const auto fail = [&](const std::string& why) -> void {
    throw JobError("student \"" + text + "\": " + why + " (expected \"family:key=value[,key=value]\", keys latent, hidden, hidden2, channels)");
  };
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) fail("no family or no changes");
  spec.family = text.substr(0, colon);
  spec.name = text.substr(colon + 1);
  size_t start = colon + 1;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) fail("'" + item + "' is not key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key != "latent" && key != "hidden" && key != "hidden2" && key != "channels") fail("alignment cannot change '" + key + "'");
    if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 9) {
      fail("'" + value + "' is not a positive integer");
    }
    const int64_t number = std::stoll(value);
    // hidden2 = 0 removes mlp's second hidden layer (seed 004's ψ).
    if (number < (key == "hidden2" ? 0 : 1)) fail("'" + value + "' is not a positive integer");
    for (const auto& [seen, v] : spec.changes) {
      if (seen == key) fail("'" + key + "' given twice");
    }
    spec.changes.emplace_back(key, number);
    start = end + 1;
  }
  return spec;
}

namespace {
int64_t FamilyConfig::*structure_member(const std::string& key) {
  if (key == "latent") return &FamilyConfig::latent;
  if (key == "hidden") return &FamilyConfig::hidden;
  if (key == "hidden2") return &FamilyConfig::hidden2;
  if (key == "channels") return &FamilyConfig::channels;
  throw JobError("'" + key + "' is not a structure key (latent, hidden, hidden2, channels)");
}
}  // namespace

const std::vector<std::string>& distill_families() {
  static const std::vector<std::string> families = {"linear_ae", "conv_ae", "mlp", "regressor"};
  return families;
}

int64_t structure_key(const FamilyConfig& config, const std::string& key) { return config.*structure_member(key); }

FamilyConfig student_config(const FamilyConfig& teacher, const StudentSpec& spec) {
  FamilyConfig student = teacher;
  for (const auto& [key, value] : spec.changes) student.*structure_member(key) = value;
  return student;
}

int64_t Job::total_models() const {
  int64_t total = 0;
  for (const FamilyConfig& family : families) total += family.total_models(probe.datasets());
  return total;
}

Job parse_job(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw JobError(source + ": line " + std::to_string(e.source().begin.line) + ", column " +
                   std::to_string(e.source().begin.column) + ": TOML syntax error: " +
                   one_line(std::string(e.description())));
  }
  Job job;
  job.source = source;
  job.text = text;
  const JobReader reader(source);
  reader.read(root, job);
  check_rules(job, reader);
  // The gaussian source has one class (its pool); families see its dimension instead of pixels.
  if (job.data.gaussian()) {
    job.data.num_classes = 1;
    job.data.classes = {0};
  }
  // Class-conditional families size their label inputs by K.
  for (auto& family : job.families) {
    family.num_classes = job.data.num_classes;
    family.input_dim = job.data.gaussian() ? job.data.dimension : kImagePixels;
  }
  return job;
}

Job load_job(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw JobError(path + ": cannot read the job file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_job(text.str(), path);
}

std::vector<double> DataConfig::gaussian_spectrum() const {
  if (!spectrum.empty()) return spectrum;
  std::vector<double> lambda(static_cast<size_t>(dimension));
  for (int64_t i = 0; i < dimension; ++i) lambda[i] = 2.0 * std::pow(0.6, static_cast<double>(i));
  return lambda;
}

std::vector<int64_t> apportion(int64_t n, const std::vector<double>& p) {
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  std::vector<int64_t> parts(p.size(), 0);
  std::vector<std::pair<double, size_t>> remainders;  // (remainder, slot)
  int64_t assigned = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double exact = static_cast<double>(n) * p[k] / total;
    parts[k] = static_cast<int64_t>(std::floor(exact));
    assigned += parts[k];
    remainders.emplace_back(exact - static_cast<double>(parts[k]), k);
  }
  // Largest remainders first; ties go to the lower slot so the result is reproducible.
  std::sort(remainders.begin(), remainders.end(),
            [](const auto& x, const auto& y) { return x.first != y.first ? x.first > y.first : x.second < y.second; });
  for (size_t i = 0; assigned < n && i < remainders.size(); ++i, ++assigned) ++parts[remainders[i].second];
  return parts;
}

std::vector<std::vector<double>> probe_dataset_proportions(const ProbeConfig& probe, int64_t num_classes) {
  if (!probe_b_defined(probe)) {
    throw JobError("probe: dataset B is undefined (set probe.proportions_b or probe.gaps)");
  }
  const std::vector<double> a = probe.proportions_a.empty() ? uniform_proportions(num_classes) : probe.proportions_a;
  if (probe.gaps.empty()) return {a, probe.proportions_b};

  // Direction with total-variation length 1, so that A + g * direction lies at distance g from A.
  std::vector<double> direction(num_classes, 0.0);
  if (probe.proportions_b.empty()) {
    direction.front() += 1.0;
    direction.back() -= 1.0;
  } else {
    const double length = total_variation(a, probe.proportions_b);
    for (int64_t k = 0; k < num_classes; ++k) direction[k] = (probe.proportions_b[k] - a[k]) / length;
  }
  std::vector<std::vector<double>> datasets = {a};
  for (double gap : probe.gaps) {
    std::vector<double> b(num_classes);
    for (int64_t k = 0; k < num_classes; ++k) b[k] = std::max(0.0, a[k] + gap * direction[k]);
    const double sum = std::accumulate(b.begin(), b.end(), 0.0);
    for (double& x : b) x /= sum;
    datasets.push_back(std::move(b));
  }
  return datasets;
}

std::vector<std::vector<int64_t>> probe_dataset_counts(const ProbeConfig& probe, int64_t num_classes) {
  std::vector<std::vector<int64_t>> counts;
  for (const auto& p : probe_dataset_proportions(probe, num_classes)) counts.push_back(apportion(probe.pool, p));
  return counts;
}

double probe_dataset_gap(const ProbeConfig& probe, int64_t dataset) {
  if (dataset == 0) return 0.0;
  if (!probe.gaps.empty()) return probe.gaps.at(dataset - 1);
  const int64_t k = static_cast<int64_t>(probe.proportions_b.size());
  const auto a = probe.proportions_a.empty() ? uniform_proportions(k) : probe.proportions_a;
  return total_variation(a, probe.proportions_b);
}

std::string section_toml(const Job& job, const std::string& section) {
  const FamilyConfig no_family;
  std::string text = "[" + section + "]\n";
  for (const Field& field : schema()) {
    if (field.section == section) text += field.key + " = " + format_value(field.get(job, no_family)) + "\n";
  }
  return text;
}

std::string job_reference_markdown() {
  const Job default_job;
  const FamilyConfig default_family;
  std::ostringstream out;
  out << "# Job file reference\n\n"
      << "A job is a TOML file. Every key is checked: unknown keys, wrong types and out-of-range values are refused "
         "with a message naming the file and the key. This page is generated from the schema in "
         "`src/job/job.cpp` (`genzoo job-reference`).\n";
  for (const Section& section : sections()) {
    out << "\n## " << section.title << "\n\n" << section.description << "\n\n";
    out << "| key | type | default | allowed | description |\n|---|---|---|---|---|\n";
    for (const Field& field : schema()) {
      if (field.section != section.name) continue;
      const std::string default_text =
          field.constraint.required ? "required" : "`" + format_value(field.get(default_job, default_family)) + "`";
      out << "| `" << field.key << "` | " << kind_type(field.kind) << " | " << default_text << " | "
          << allowed_text(field) << " | " << field.description << " |\n";
    }
    bool first_rule = true;
    for (const Rule& rule : rules()) {
      if (rule.section != section.name) continue;
      out << (first_rule ? "\nAlso checked:\n\n" : "") << "* " << rule.text << "\n";
      first_rule = false;
    }
  }
  return out.str();
}

}  // namespace genzoo
