// Trains a batch of students of one family structure together (model-batched, LibTorch), each with its
// own training samples, minibatch stream, weight noise, start and prior, so a student's result does not
// depend on its batch-mates or on the rank that trains it. The objective per student (seed 004):
//   point methods:  L(w) = (1/n) [-log p(D | w)] + (1/n) [-log p(w)]           (no prior: the MSE alone)
//   variational:    L(μ, σ) = (1/n) [E_q -log p(D | w) + KL(q ‖ p)],  q = N(μ, diag σ²), w = μ + σ ε
// with the Gaussian pixel likelihood -log p(x | w) = ‖x - x̂(x; w)‖² / (2 τ²) + const (classifiers: the
// categorical -log softmax(g(x; w))_y), E_q by reparametrized samples, and the KL in closed form
// (distill/prior_terms.h). hinton replaces x by (1 - λ) x + λ t(x) in the squared error's target mix:
// (1 - λ) ‖x̂ - x‖² + λ ‖x̂ - t(x)‖²; a classifier's is the seed's
// (1 - λ) CE(y, g(x)) + λ CE(softmax(f(x) / T), softmax(g(x) / T)).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "distill/methods.h"
#include "priors/low_rank_gaussian.h"

namespace genzoo {
struct Dataset;
struct FamilyConfig;
struct ImageSet;
}  // namespace genzoo

namespace genzoo::distill {

struct StudentJob {
  const Method* method = nullptr;
  std::vector<float> start;                        // [P] initial weights (variational: q's initial mean)
  const priors::LowRankGaussian* prior = nullptr;  // bayesian methods
  std::vector<int64_t> samples;                    // training-split indices it trains on
  uint64_t seed = 0;                               // its minibatch stream and weight noise
  double pixel_variance = 1.0;                     // τ² (bayesian methods)
  std::vector<float> teacher_targets;              // hinton: [samples.size(), target_width] the teacher's outputs
  bool scored = true;                              // its test losses and curve are computed (else NaN, empty)
};

// The test images a batch is scored on: per class slot, test-split indices, and the mixture's
// proportions that weigh the class means (the zoo's test_loss).
struct TestSet {
  std::vector<std::vector<int64_t>> class_indices;  // [K][...]
  std::vector<double> proportions;                  // [K]
};

struct TrainSettings {
  int64_t steps = 400;
  int64_t batch_size = 32;
  double lr = 1e-3;
  // Students under a zoo prior (map, vi, vi_root) train prior-preconditioned: θ = start + s ⊙ z with s the
  // prior's marginal standard deviations and Adam on z at this rate (0: not preconditioned, at lr).
  double prior_lr = 0.05;
  double hinton_weight = 0.5;
  double hinton_temperature = 2.0;  // T of a classifier's softened outputs
  int64_t curve_points = 8;
  int64_t vi_samples = 8;
  int64_t vi_gradient_samples = 1;  // weight samples per step behind q's gradients (one minibatch)
  std::string device = "cpu";
  // auto: the family's hand-written CPU step where training would take it (AVX2, AVX-512); fast: on any
  // instruction set; torch: LibTorch only (hinton's mixed targets always train on LibTorch).
  std::string kernels = "auto";
};

struct StudentOutcome {
  std::vector<float> weights;       // [P] (variational: q's mean)
  std::vector<float> std;           // [P] q's σ (variational), else empty
  double train_loss = 0.0;          // MSE on its own training samples, at the weights
  double test_loss = 0.0;           // at the weights
  double test_loss_sampled = 0.0;   // variational: mean test loss over vi_samples draws from q; else = test_loss
  std::vector<double> curve;        // test loss after each of curve_steps (the first at the start)
};

// The steps after which the learning curve is evaluated: 0 (the start), then curve_points evenly
// spaced, the last = steps.
std::vector<int64_t> curve_steps(int64_t steps, int64_t points);

// Throws DistillError for inconsistent jobs (sizes, a bayesian method without prior, hinton without targets).
std::vector<StudentOutcome> train_students(const FamilyConfig& config, const std::vector<StudentJob>& jobs,
                                           const Dataset& dataset, const TestSet& test, const TrainSettings& settings);

// Mean squared reconstruction error per class slot of models [M, P] on test images: [M][K].
std::vector<std::vector<double>> class_test_losses(const FamilyConfig& config, const std::vector<float>& weights,
                                                   int64_t models, const Dataset& dataset, const TestSet& test,
                                                   const std::string& device = "cpu");

// Mean squared reconstruction error of models [M, P] over the same images `indices` of `images`: [M].
std::vector<double> sample_losses(const FamilyConfig& config, const std::vector<float>& weights, int64_t models,
                                  const ImageSet& images, const std::vector<int64_t>& indices, const std::string& device = "cpu");

// Values per image of hinton's soft targets: 784 pixels, or a classifier's 10 class probabilities.
int64_t target_width(const FamilyConfig& config);

// hinton's soft targets from one model on the images `indices`: [indices.size(), target_width] — its
// reconstructions, or a classifier's softened probabilities softmax(f(x) / temperature).
std::vector<float> teacher_outputs(const FamilyConfig& config, const std::vector<float>& weights, const ImageSet& images,
                                   const std::vector<int64_t>& indices, double temperature, const std::string& device = "cpu");

}  // namespace genzoo::distill
