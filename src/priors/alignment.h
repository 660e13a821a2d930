// Seed 004's structure alignment: a teacher's Gaussian over its weights becomes a prior over a
// smaller student's weights. φ(t, j) removes hidden unit j of layer t: the weights that leave the
// unit are conditioned on 0 (the unit no longer contributes), those that enter it and its bias are
// integrated out. On N(m, D + F Fᵀ) both steps stay in closed form and in diagonal-plus-rank-r form
// (priors/low_rank_gaussian.h), and the remaining coordinates keep the teacher's layout order, which
// is the student's own layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "priors/low_rank_gaussian.h"
#include "store/layout.h"

namespace genzoo::priors {

// Indices j·block ... j·block + block - 1 along `axis` of tensor `tensor` of a layout: one unit's rows
// or columns (block > 1 where a unit is a channel of a flattened feature map, e.g. 49 features).
struct TensorSlice {
  std::string tensor;
  int axis = 0;
  int64_t block = 1;
};

// A hidden unit as the layout sees it: the slices that enter it (incoming weights, its bias) and the
// slices that leave it (outgoing weights). E.g. linear_ae's code unit j: entering encoder.weight row j
// and encoder.bias[j], leaving decoder.weight column j.
struct UnitSlices {
  std::vector<TensorSlice> entering;
  std::vector<TensorSlice> leaving;
};

// Flat indices (ascending) of slice j of a tensor. Throws ReduceError naming the tensor when the
// layout lacks it, the axis is out of range or j is past its extent.
std::vector<int64_t> slice_indices(const Layout& layout, const TensorSlice& slice, int64_t j);

// Flat indices (ascending, unique) of unit j over several slices.
std::vector<int64_t> slices_indices(const Layout& layout, const std::vector<TensorSlice>& slices, int64_t j);

struct AlignedGaussian {
  LowRankGaussian gaussian;
  Layout layout;               // the student's layout: the sliced axes one shorter, offsets in order
  std::vector<int64_t> kept;   // the input's coordinates that remain, ascending (per-weight values follow them)
};

// values [input size] at the coordinates a step kept (e.g. gradient variances through the removals).
std::vector<double> kept_values(const std::vector<double>& values, const AlignedGaussian& step);

// φ: removes unit j (condition the leaving slices on 0, marginalize the entering ones). Every sliced
// axis gets `block` shorter.
AlignedGaussian remove_unit(const LowRankGaussian& g, const Layout& layout, const UnitSlices& unit, int64_t j);

// One step of an alignment sequence: φ(layer) removes a unit of that layer, ψ(layer) removes the
// square matrix U_layer (layers count from 1, the input is layer 1; U_t maps layer t-1 to layer t).
struct AlignmentStep {
  bool remove_layer = false;  // ψ; else φ
  int layer = 0;
};

// Seed 004's theorem: a student (n_1 ... n_T) is reachable from a teacher (n'_1 ... n'_L) when the
// input and output widths agree, T <= L (T >= 3 when T < L), n_t <= n'_t for the hidden layers both
// keep and n_{T-1} <= n'_t for the teacher's extra hidden layers t = T .. L-1. The sequence: φ down to
// the student's widths layer by layer, φ of every extra layer down to n_{T-1} (its matrix becomes
// square), then ψ of the extra layers from the top. The seed's example (10, 6, 7, 10) -> (10, 4, 6, 10)
// gives φ(2), φ(2), φ(3); (10, 100, 50, 1) -> (10, 50, 1) gives 50 x φ(2), then ψ(3). Throws
// ReduceError naming the layer that cannot be reached.
std::vector<AlignmentStep> alignment_steps(const std::vector<int64_t>& teacher, const std::vector<int64_t>& student);

// A fully connected network n_1 -> ... -> n_L: tensors "layer<t>.weight" [n_t, n_{t-1}] and, with
// bias, "layer<t>.bias" [n_t], for t = 2 .. L, in that order (seed 004's f = σ ∘ U_L ∘ ... ∘ σ ∘ U_2 x).
struct LayeredNetwork {
  std::vector<int64_t> widths;
  bool bias = false;
  std::string activation = "relu";
};
Layout layered_layout(const LayeredNetwork& net);
// Tensor names of layer t's matrix U_t and bias: "layer<t>.weight", "layer<t>.bias".
std::string layered_weight(int t);
std::string layered_bias(int t);
// Unit slices of hidden layer t of a layered network: row j of U_t (and its bias) enter, column j of U_{t+1} leaves.
UnitSlices layered_unit(int t, bool bias);

// ψ(t): U_t is square; condition it on the identity (and its bias on 0) and renumber the layers above.
// Needs an idempotent activation (σ ∘ σ = σ: relu, identity); throws ReduceError naming it otherwise.
//   p(v | D) = N(m_v + Σ_{v,v̄} Σ_{v̄,v̄}⁻¹ (i - m_v̄), Σ_{v,v} - Σ_{v,v̄} Σ_{v̄,v̄}⁻¹ Σ_{v̄,v})   (seed 004)
AlignedGaussian remove_layer(const LowRankGaussian& g, const Layout& layout, int t, const std::string& activation);

struct AlignedPrior {
  LowRankGaussian gaussian;
  Layout layout;
  std::vector<std::string> steps;  // "phi(2, 13)", "psi(3)", ... in the order applied (indices as they were then)
};

// The teacher's Gaussian through alignment_steps, units picked by `order` (priors/orders.h).
// gradient_variance: per teacher weight, for the gradient_covariance order (followed through the removals).
AlignedPrior align_layered(const LowRankGaussian& teacher_gaussian, const LayeredNetwork& teacher, const LayeredNetwork& student,
                           const std::string& order, uint64_t seed, std::vector<double> gradient_variance = {});

}  // namespace genzoo::priors
