// mlp family: a ReLU classifier 784 -> hidden [-> hidden2] -> 10 over Fashion-MNIST's ten classes (seed
// 004's networks, with biases), trained on each model's class mixture by cross-entropy. Its layout is
// seed 004's layered network (priors/alignment.h), so structure alignment (φ, ψ) applies as it stands.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "models/torch_family.h"

namespace genzoo {

// Output width: every class of the dataset (a model's mixture uses some of them).
constexpr int64_t kMlpClasses = 10;

// The widths n_1 ... n_L of a configuration: {784, hidden, 10} or {784, hidden, hidden2, 10}.
std::vector<int64_t> mlp_widths(const FamilyConfig& config);

// f(x) = U_L σ(... σ(U_2 x + b_2) ...) + b_L over the stacked layers "layer<t>.weight" [M, n_t, n_{t-1}]
// (and "layer<t>.bias" [M, n_t] where present), t = 2, 3, ... while params has them: x [M, B, n_1] ->
// [M, B, n_L]. σ is ReLU, or the identity where relu is false.
torch::Tensor layered_outputs(const StackedParams& params, const torch::Tensor& x, bool relu = true);

// Training FLOPs per sample of a layered network: forward and two backward GEMMs per layer.
double layered_flops_per_sample(const std::vector<int64_t>& widths);

// -log softmax(z)_y per sample: logits z [M, B, C] and class labels [M, B] (long) -> [M, B]. Throws
// TrainError when the labels are missing.
torch::Tensor class_cross_entropy(const torch::Tensor& z, const torch::Tensor& labels);

}  // namespace genzoo
