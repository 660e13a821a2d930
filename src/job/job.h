// A job file (TOML) describes one zoo: data, feature net, families and structured designs.
// The schema (keys, types, ranges, defaults, descriptions) is declared once in job.cpp; validation,
// `genzoo job-reference` and the README's job reference all come from that declaration.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "information/estimators.h"

namespace genzoo {

struct DataConfig {
  // images: Fashion-MNIST class mixtures. gaussian: seed 000's setting, a pool X of `pool` vectors
  // x ~ N(mean 1, diag(spectrum)) in R^dimension, each model trained on its own Bernoulli(inclusion) subset.
  std::string source = "images";
  std::string dir;                 // empty: $GENZOO_DATA or the Debian package
  int64_t num_classes = 3;         // K: number of most distant classes to select
  std::vector<int64_t> classes;    // explicit class labels (skips feature-net selection when set)
  double alpha = 1.0;              // Dirichlet concentration of class proportions
  int64_t samples_min = 1000;      // per-model sample size n ~ U{samples_min..samples_max}
  int64_t samples_max = 3000;
  int64_t dimension = 8;           // gaussian: d
  double mean = 0.0;               // gaussian: every coordinate of μ
  std::vector<double> spectrum;    // gaussian: Σ's diagonal (d entries); empty: 2 · 0.6^i
  int64_t pool = 2000;             // gaussian: n, the vectors every model's subset is drawn from
  double inclusion = 0.1;          // gaussian: p, the probability each x_i joins a model's subset
  int64_t test_pool = 1000;        // gaussian: held-out vectors (test_loss)
  // gaussian: "linear" appends y = xᵀw + target_noise · ε (w ~ N(0, I) from the job seed) to every
  // vector as its last column, the regressor family's target (seed 004's synthetic regression).
  std::string target = "none";
  double target_noise = 0.1;

  bool gaussian() const { return source == "gaussian"; }
  bool regression() const { return gaussian() && target == "linear"; }
  // Σ's diagonal: spectrum, or 2 · 0.6^i.
  std::vector<double> gaussian_spectrum() const;
};

struct FeatureNetConfig {
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double lr = 2e-3;
  int64_t embedding = 64;          // width of the penultimate layer (centroids, FID)
};

struct FamilyConfig {
  std::string name;                // registered family: linear_ae, conv_ae, ...
  int64_t models = 0;              // random-mixture models
  int64_t triplets = 0;            // additivity triplets (3 models each: D1, D2, D1 u D2)
  int64_t chains = 0;              // nested chains (3 models each: Da < Db < Dc)
  int64_t probe_models = 0;        // models per probe dataset (A and B, and per gap)
  int64_t latent = 16;             // code width k
  int64_t channels = 8;            // conv_ae, gan, vae with decoder = "conv": base channel count
  int64_t steps = 500;
  int64_t batch_size = 64;
  double lr = 1e-3;
  double adam_beta1 = 0.9;         // Adam's moment decays (torch.optim.Adam's defaults)
  double adam_beta2 = 0.999;
  double lr_spread = 0.0;          // per-model lr = lr * exp(U(-spread, spread))
  double lr_decay = 0.0;           // the last fraction of steps over which lr falls linearly (0: constant lr)
  int64_t chunk_models = 32;       // models trained together (one chunk = one batch = one shard)
  std::string init = "group";      // "group": shared init per init group; "model": own init
  int64_t init_groups = 1;
  std::string regularizer = "none";  // none | sparse | denoising | contractive
  double reg_weight = 0.0;         // sparse: L1 weight; contractive: lambda
  std::string noise = "gaussian";  // denoising: gaussian | mask
  double noise_level = 0.0;        // gaussian std or masking probability p0
  std::vector<int64_t> checkpoint_steps;
  double ema_decay = 0.0;          // final weights: the exponential moving average of the iterates (0: the last iterate)
  int64_t hidden = 256;            // vae: the encoder's (and an MLP decoder's) hidden width; mlp: first hidden layer's
  int64_t hidden2 = 0;             // mlp: second hidden layer's width (0: one hidden layer)
  int64_t decoder_layers = 1;      // vae, decoder = "mlp": the decoder's hidden layers, each `hidden` wide
  std::string decoder = "mlp";     // vae: mlp (hidden-wide layers) | conv (conv_ae's transposed convolutions, `channels`)
  double beta = 1.0;               // vae: KL weight
  std::string likelihood = "bernoulli";  // vae: bernoulli | gaussian (unit variance) | gaussian_learned (per-pixel variance)
  std::string latent_density = "standard";  // vae: standard (codes drawn from N(0, I)) | mixture (fitted after training)
  int64_t latent_components = 10;  // vae, latent_density = "mixture": Gaussian components
  double latent_shrinkage = 0.0;   // vae, latent_density = "mixture": components' correlations scaled by 1 - this
  int64_t d_steps = 1;             // gan: discriminator steps per generator step
  double label_smoothing = 0.0;    // gan: the discriminator's target for real images is 1 - this (one-sided)
  double d_lr_scale = 1.0;         // gan: the discriminator's learning rate is lr * this (two time-scale updates)
  int64_t d_channels = 0;          // gan: the discriminator's base channel count (0: channels)
  std::string d_norm = "none";     // gan: none | spectral (the discriminator's weights spectrally normalized)
  std::string d_minibatch = "none";  // gan: none | stddev (D sees its batch's feature spread as one more feature)
  std::string d_augment = "none";  // gan: none | translation | cutout | translation,cutout (DiffAugment of D's inputs)
  std::string condition = "none";  // gan: none | label (class-conditional)
  int64_t sample_grid = 16;        // vae, gan: stored generated samples per model
  int64_t fid_samples = 256;       // vae, gan: generated (and real) images per model scored by the feature net
  double latent_temperature = 1.0;  // vae, gan: generated codes' noise is scaled by this (1: the density as fitted)
  int64_t num_classes = 3;         // derived: the job's data.num_classes (not a job key)
  int64_t input_dim = 784;         // derived: pixels, or data.dimension for the gaussian source (not a job key)

  int64_t discriminator_channels() const { return d_channels > 0 ? d_channels : channels; }

  int64_t total_models(int64_t probe_datasets) const {
    return models + 3 * triplets + 3 * chains + probe_models * probe_datasets;
  }
};

// [reduce]: the reduction stage (DESIGN.md section 6); `genzoo reduce` options override these.
struct ReduceConfig {
  std::vector<std::string> features;   // vectorizations; empty = every registered one
  int64_t folds = 5;                   // probe cross-validation folds
  int64_t probe_epochs = 300;          // probe classifiers: full-batch Adam steps
  double probe_lr = 1e-2;
  double probe_weight_decay = 1e-3;
  int64_t probe_hidden = 32;           // MLP probe hidden width
  int64_t epochs = 2000;               // embedding encoder: at most this many full-batch Adam steps
  int64_t patience = 300;              // stop after this many steps without validation improvement
  int64_t hidden = 64;
  double lr = 3e-3;
  double weight_decay = 1e-4;
  double validation = 0.2;             // model-level split shares
  double test = 0.2;
  int64_t min_models = 10;             // fewer usable models: the family is not embedded
  double order_tolerance = 0.02;       // of order_violation_rate, relative to the larger model's mass
  int64_t probe_images_per_class = 100;  // latent_mean's fixed probe images
  int64_t mi_neighbours = 3;           // KSG k
  int64_t mi_components = 4;           // principal components the MI estimate sees
  std::vector<std::string> mi_estimators = information_estimators();
  int64_t mi_steps = 500;              // Adam steps of the autoencoder and flow estimators
  // Bayesian-distillation priors (DESIGN.md section 6, seed 004).
  int64_t prior_rank = 8;              // r of Σ = D + F Fᵀ
  double prior_shrinkage = 0.5;        // D toward the shrinkage target
  std::string prior_shrinkage_target = "parent";  // nodes: "parent" (the root's variances) | "pooled"
  double prior_floor = 1e-8;           // lower bound of D
  int64_t prior_min_members = 16;      // models of one init group a node needs for a prior
  std::string prior_order = "density_ratio";   // which units φ removes first
  std::vector<std::string> prior_students;     // "family:key=value[,key=value]", e.g. "linear_ae:latent=8"
  std::vector<int64_t> prior_teachers;         // model ids that get single-teacher Laplace and SWAG posteriors
  double prior_laplace_precision = 1.0;        // Laplace: precision of the N(0, λ⁻¹ I) prior under the likelihood
};

// A student structure of [reduce] prior_students: the teacher family's configuration with some
// structure keys narrowed (latent, hidden, channels).
struct StudentSpec {
  std::string family;
  std::vector<std::pair<std::string, int64_t>> changes;  // in the order written
  std::string name;                                      // "latent=8,channels=4": the text after "family:"
};

// Throws JobError naming the entry for a malformed text or a key alignment cannot change.
StudentSpec parse_student_spec(const std::string& text);
// The structure keys a student may narrow (latent, hidden, hidden2, channels); JobError for another.
int64_t structure_key(const FamilyConfig& config, const std::string& key);
// The teacher's configuration with the spec's changes applied.
FamilyConfig student_config(const FamilyConfig& teacher, const StudentSpec& spec);

// The families `genzoo distill` trains students of: those whose likelihood the students can use (the
// autoencoders' Gaussian pixels, mlp's categorical classes; vae's is its ELBO and gan has none).
const std::vector<std::string>& distill_families();

// [distill]: students trained on few data of held-out mixtures with the zoo's priors (DESIGN.md
// section 6, seed 004); `genzoo distill` options override these.
struct DistillConfig {
  // "family" (the teacher's structure) or "family:key=value[,...]" (narrowed like prior_students);
  // empty: every distillable family of the job, at its own structure and at half its code width.
  std::vector<std::string> students;
  int64_t mixtures = 3;                       // held-out mixtures drawn from Dirichlet(data.alpha)
  std::vector<double> proportions;            // given mixtures instead, num_classes entries each
  std::vector<int64_t> sizes = {25, 50, 100, 250, 1000};  // training-set sizes n
  std::vector<std::string> methods;           // registered distillation methods; empty: all
  int64_t seeds = 3;                          // restarts per (mixture, n, student, method)
  int64_t steps = 400;                        // Adam steps per student
  int64_t batch_size = 32;                    // minibatch (capped by the training set)
  double lr = 1e-3;
  double prior_lr = 0.05;                     // Adam rate of zoo-prior students in prior standard deviations
  double noise_variance = 0.0;                // per-pixel likelihood variance; 0: the node members' mean final loss
  int64_t vi_samples = 8;                     // weight samples of the sampled test loss (vi)
  int64_t vi_gradient_samples = 4;            // weight samples per step behind vi's gradients
  std::vector<double> isotropic_variances = {1e-4, 1e-3, 1e-2};  // σ² candidates (isotropic)
  std::vector<double> prior_scales = {1.0, 10.0, 100.0};  // κ candidates of a zoo prior N(m, κ Σ) (map, vi, vi_root)
  double validation = 0.2;                    // share of the training set that chooses σ² and κ
  double hinton_weight = 0.5;                 // λ: weight of the teacher's outputs
  double hinton_temperature = 2.0;            // T of a classifier teacher's softened outputs
  std::string order = "density_ratio";        // which units alignment removes first
  std::string code_basis = "principal";       // principal | trained: a linear code narrowed in its principal basis
  int64_t test_images = 300;                  // test images per class (the first of the test split)
  int64_t curve_points = 4;                   // learning-curve evaluations per student (after the start)
};

struct ProbeConfig {
  std::vector<double> proportions_a;   // class proportions of dataset A (length K); empty = uniform
  std::vector<double> proportions_b;   // of dataset B; empty = A shifted by the first gap
  std::vector<double> gaps;            // proportion gaps for the harder variant (dataset B per gap)
  int64_t pool = 3000;                 // samples in each probe dataset
  double keep = 0.5;                   // each sample of the pool kept with probability q

  // Number of distinct datasets in the probe design: A, plus B (or one B per gap).
  int64_t datasets() const { return 1 + std::max<int64_t>(1, static_cast<int64_t>(gaps.size())); }
};

// Fashion-MNIST's training split has this many images of every class; validation checks that the
// sample sizes a job asks for fit in it.
constexpr int64_t kTrainImagesPerClass = 6000;

// Target class proportions of every probe dataset: [0] = A, then B (or one B per gap, B_g = A moved
// by total-variation distance g towards proportions_b, or from the last class to the first).
std::vector<std::vector<double>> probe_dataset_proportions(const ProbeConfig& probe, int64_t num_classes);
// Class counts of every probe dataset: probe.pool samples apportioned by its proportions.
std::vector<std::vector<int64_t>> probe_dataset_counts(const ProbeConfig& probe, int64_t num_classes);
// Requested gap of probe dataset d: 0 for A and for a B given by proportions_b alone.
double probe_dataset_gap(const ProbeConfig& probe, int64_t dataset);

// Splits n into integer parts proportional to p (largest remainder; the parts sum to n).
std::vector<int64_t> apportion(int64_t n, const std::vector<double>& p);

struct Job {
  std::string name;
  uint64_t seed = 0;
  std::string source;  // file path or "<string>"
  std::string text;    // the job file's text, stored in every output file
  DataConfig data;
  FeatureNetConfig featurenet;
  ProbeConfig probe;
  ReduceConfig reduce;
  DistillConfig distill;
  std::vector<FamilyConfig> families;

  int64_t total_models() const;
};

// Parse and strictly validate. Throws JobError naming the source, the key and the allowed range.
Job parse_job(const std::string& text, const std::string& source);
Job load_job(const std::string& path);

// One section of the job as TOML ("[reduce]\nfolds = 5\n..."), every key with its value, defaults
// included: what a stage ran with, for provenance. Not for [[family]].
std::string section_toml(const Job& job, const std::string& section);

// Markdown reference of every key (generated from the schema declaration).
std::string job_reference_markdown();

}  // namespace genzoo
