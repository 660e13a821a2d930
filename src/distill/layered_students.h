// Seed 004's own experiment on fully connected networks (Grabovoy's thesis, ch. 3): bias-free ReLU MLPs
// f(x) = U_L σ(U_{L-1} ... σ(U_2 x)) in priors::layered_layout, fitted model-batched by variational
// inference through StudentWeights under a Gaussian (regression) or softmax (classification)
// likelihood: a teacher under N(0, I), its posterior aligned (φ, ψ) to smaller students, and the
// students under three priors.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "distill/student_weights.h"
#include "priors/alignment.h"

namespace genzoo::distill {

// f(x) for M networks: weights w [M, P] in layered_layout(net), inputs x [M, B, n_1] -> [M, B, n_L]
// (ReLU after every layer but the last).
torch::Tensor layered_forward(const torch::Tensor& w, const priors::LayeredNetwork& net, const torch::Tensor& x);

// A data set for layered networks: inputs x [N, n_1]; targets y [N, n_L] (float) under the Gaussian
// likelihood, class labels [N] (long) under the softmax one.
struct LayeredData {
  torch::Tensor x_train, y_train, x_test, y_test;
};

// How a network's outputs f(x) explain its targets:
//   gaussian  y ~ N(f(x), s² I)         (the thesis's regression)
//   softmax   y ~ Categorical(softmax(f(x)))   (its Fashion-MNIST classifiers)
enum class LayeredLikelihood { kGaussian, kSoftmax };

// The thesis's synthetic regression: x ~ N(0, I_d), one w ~ N(0, I_d), y = xᵀ w + s ε.
LayeredData synthetic_regression(int64_t dim, int64_t train, int64_t test, double noise, uint64_t seed);

struct LayeredFit {
  std::vector<double> test_log_likelihood;  // after each epoch, nats per test sample at q's mean
  std::vector<double> test_accuracy;        // after each epoch (softmax only)
  std::vector<float> mean, std;             // q's mean and σ [P]
};

// VI (or MAP, for specs that are not variational) of M networks of one structure on the training set
// in minibatches (each network its own order and noise from seeds[m]), the per-sample negative
// log-likelihood of `likelihood` (noise s for the Gaussian one) as the data term; the test
// log-likelihood (and accuracy) after every epoch, or after every `steps_per_epoch` steps when given
// (an "epoch" of the curve shorter than a pass over the data).
std::vector<LayeredFit> fit_layered(const priors::LayeredNetwork& net, const std::vector<StudentWeightsSpec>& specs,
                                    const LayeredData& data, LayeredLikelihood likelihood, double noise, int64_t epochs,
                                    int64_t batch_size, const std::vector<uint64_t>& seeds, int64_t steps_per_epoch = 0);

}  // namespace genzoo::distill
