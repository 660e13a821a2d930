// regressor family: seed 004's synthetic-regression networks, a bias-free ReLU net
// d -> hidden [-> hidden2] -> 1 fitted to the gaussian source's target y = xᵀw + noise by squared error
// (the Gaussian likelihood's nats up to its variance). Its layout is the layered network of
// priors/alignment.h without biases, so φ and ψ align it as they align mlp.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "models/torch_family.h"

namespace genzoo {

// The widths n_1 ... n_L: {d, hidden, 1} or {d, hidden, hidden2, 1}, d = data.dimension.
std::vector<int64_t> regressor_widths(const FamilyConfig& config);

// Splits the gaussian source's rows x [M, B, d + 1] into the inputs [M, B, d] and the target [M, B, 1].
torch::Tensor regression_inputs(const torch::Tensor& x);
torch::Tensor regression_target(const torch::Tensor& x);

}  // namespace genzoo
