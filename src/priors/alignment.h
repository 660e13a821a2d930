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
  Layout layout;  // the student's layout: the sliced axes one shorter, offsets in order
};

// φ: removes unit j (condition the leaving slices on 0, marginalize the entering ones). Every sliced
// axis gets `block` shorter.
AlignedGaussian remove_unit(const LowRankGaussian& g, const Layout& layout, const UnitSlices& unit, int64_t j);

// The φ sequence that takes a layered structure (widths n_1 ... n_L, input and output included) to a
// student's of the same depth: φ(t) once for every unit layer t has beyond the student's, layer by
// layer (seed 004's example (10, 6, 7, 10) -> (10, 4, 6, 10) gives φ(2), φ(2), φ(3); layers count from
// 1). Throws ReduceError naming the layer when the student is wider there, the input or output widths
// differ, or the depths differ (removing whole layers, seed 004's ψ, is not offered).
std::vector<int> unit_removals(const std::vector<int64_t>& teacher, const std::vector<int64_t>& student);

}  // namespace genzoo::priors
