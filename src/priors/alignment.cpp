#include "priors/alignment.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace genzoo::priors {

std::vector<int64_t> slice_indices(const Layout& layout, const TensorSlice& slice, int64_t j) {
  const auto it = std::find_if(layout.begin(), layout.end(), [&](const ParamLayout& p) { return p.name == slice.tensor; });
  if (it == layout.end()) throw ReduceError("alignment: the layout has no tensor '" + slice.tensor + "'");
  const std::vector<int64_t>& shape = it->shape;
  if (slice.axis < 0 || slice.axis >= static_cast<int>(shape.size()) || slice.block < 1 || j < 0 ||
      (j + 1) * slice.block > shape[slice.axis]) {
    throw ReduceError("alignment: tensor '" + slice.tensor + "' has no unit " + std::to_string(j) + " (block " +
                      std::to_string(slice.block) + ") along axis " + std::to_string(slice.axis));
  }
  // Row-major: index = (o * extent + i) * inner + k for the axis positions i of the unit's block.
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < slice.axis; ++a) outer *= shape[a];
  for (size_t a = slice.axis + 1; a < shape.size(); ++a) inner *= shape[a];
  const int64_t extent = shape[slice.axis];
  std::vector<int64_t> indices;
  indices.reserve(outer * slice.block * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = j * slice.block; i < (j + 1) * slice.block; ++i)
      for (int64_t k = 0; k < inner; ++k) indices.push_back(it->offset + (o * extent + i) * inner + k);
  return indices;
}

std::vector<int64_t> slices_indices(const Layout& layout, const std::vector<TensorSlice>& slices, int64_t j) {
  std::vector<int64_t> all;
  for (const TensorSlice& slice : slices) {
    const auto part = slice_indices(layout, slice, j);
    all.insert(all.end(), part.begin(), part.end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

AlignedGaussian remove_unit(const LowRankGaussian& g, const Layout& layout, const UnitSlices& unit, int64_t j) {
  if (g.size() != layout_size(layout)) {
    throw ReduceError("alignment: a Gaussian over " + std::to_string(g.size()) + " weights for a layout of " +
                      std::to_string(layout_size(layout)));
  }
  const std::vector<int64_t> leaving = slices_indices(layout, unit.leaving, j);
  const std::vector<int64_t> entering = slices_indices(layout, unit.entering, j);
  for (int64_t i : entering) {
    if (std::binary_search(leaving.begin(), leaving.end(), i)) {
      throw ReduceError("alignment: weight " + std::to_string(i) + " both enters and leaves the unit");
    }
  }
  // Condition the leaving weights on 0; the remaining coordinates keep their order, so position p of
  // the conditioned Gaussian is the p-th index not in `leaving`.
  const LowRankGaussian conditioned = condition(g, leaving, std::vector<double>(leaving.size(), 0.0));
  std::vector<int64_t> keep;
  for (int64_t i = 0, position = 0; i < g.size(); ++i) {
    if (std::binary_search(leaving.begin(), leaving.end(), i)) continue;
    if (!std::binary_search(entering.begin(), entering.end(), i)) keep.push_back(position);
    ++position;
  }
  AlignedGaussian out{marginal(conditioned, keep), {}};
  for (const ParamLayout& param : layout) {
    std::vector<int64_t> shape = param.shape;
    for (const auto* slices : {&unit.entering, &unit.leaving}) {
      for (const TensorSlice& slice : *slices) {
        if (slice.tensor == param.name) shape[slice.axis] -= slice.block;
      }
    }
    add_param(out.layout, param.name, param.role, shape);
  }
  return out;
}

std::vector<int> unit_removals(const std::vector<int64_t>& teacher, const std::vector<int64_t>& student) {
  if (teacher.size() != student.size()) {
    throw ReduceError("alignment: teacher has " + std::to_string(teacher.size()) + " layers, student " +
                      std::to_string(student.size()) + "; removing whole layers (seed 004's psi) is not offered");
  }
  if (teacher.size() < 2 || teacher.front() != student.front() || teacher.back() != student.back()) {
    throw ReduceError("alignment: teacher and student must share the input (layer 1) and output (layer " +
                      std::to_string(teacher.size()) + ") widths");
  }
  std::vector<int> removals;
  for (size_t t = 1; t + 1 < teacher.size(); ++t) {
    if (student[t] < 1 || student[t] > teacher[t]) {
      throw ReduceError("alignment: layer " + std::to_string(t + 1) + " of the student has " + std::to_string(student[t]) +
                        " units, its teacher " + std::to_string(teacher[t]) + " (a student layer must have 1 to " +
                        std::to_string(teacher[t]) + ")");
    }
    for (int64_t k = student[t]; k < teacher[t]; ++k) removals.push_back(static_cast<int>(t + 1));
  }
  return removals;
}

}  // namespace genzoo::priors
