#include "priors/alignment.h"

#include <algorithm>
#include <iterator>
#include <numeric>
#include <string>

#include "common/error.h"
#include "common/rng.h"
#include "priors/orders.h"

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

namespace {
// The coordinates of [0, size) not in `removed` (ascending, unique): what a step keeps.
std::vector<int64_t> complement(int64_t size, const std::vector<int64_t>& removed) {
  std::vector<int64_t> rest;
  rest.reserve(size - static_cast<int64_t>(removed.size()));
  for (int64_t i = 0, r = 0; i < size; ++i) {
    if (r < static_cast<int64_t>(removed.size()) && removed[r] == i) {
      ++r;
    } else {
      rest.push_back(i);
    }
  }
  return rest;
}
}  // namespace

std::vector<double> kept_values(const std::vector<double>& values, const AlignedGaussian& step) {
  std::vector<double> out;
  out.reserve(step.kept.size());
  for (int64_t i : step.kept) out.push_back(values[i]);
  return out;
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
  // Condition the leaving weights on 0 and integrate the entering ones out, in one pass; the
  // remaining coordinates keep their order.
  std::vector<int64_t> removed;
  std::merge(leaving.begin(), leaving.end(), entering.begin(), entering.end(), std::back_inserter(removed));
  AlignedGaussian out{condition(g, leaving, std::vector<double>(leaving.size(), 0.0), entering), {},
                      complement(g.size(), removed)};
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

std::vector<AlignmentStep> alignment_steps(const std::vector<int64_t>& teacher, const std::vector<int64_t>& student) {
  const size_t depth = teacher.size(), student_depth = student.size();
  if (student_depth > depth) {
    throw ReduceError("alignment: the student has " + std::to_string(student_depth) + " layers, more than its teacher's " +
                      std::to_string(depth));
  }
  if (student_depth < depth && student_depth < 3) {
    throw ReduceError("alignment: a student with fewer layers than its teacher needs at least 3 (input, hidden, output), got " +
                      std::to_string(student_depth));
  }
  if (student_depth < 2 || teacher.front() != student.front() || teacher.back() != student.back()) {
    throw ReduceError("alignment: teacher and student must share the input (layer 1) and output widths");
  }
  std::vector<AlignmentStep> steps;
  const auto narrow = [&](size_t t, int64_t target, const std::string& why) {  // t: 0-based layer
    if (target < 1 || target > teacher[t]) {
      throw ReduceError("alignment: layer " + std::to_string(t + 1) + " has " + std::to_string(teacher[t]) +
                        " units in the teacher, " + why + " needs " + std::to_string(target) + " (at most " +
                        std::to_string(teacher[t]) + ")");
    }
    for (int64_t k = target; k < teacher[t]; ++k) steps.push_back({false, static_cast<int>(t + 1)});
  };
  // The layers both keep: φ down to the student's widths.
  for (size_t t = 1; t + 1 < student_depth; ++t) narrow(t, student[t], "the student");
  // The teacher's extra hidden layers: φ down to the student's last hidden width (their matrices
  // become square), then ψ removes them from the top down, so each index is still the current one.
  const int64_t last_hidden = student[student_depth - 2];
  for (size_t t = student_depth - 1; t + 1 < depth; ++t) narrow(t, last_hidden, "removing it (psi) after layer " + std::to_string(student_depth - 1));
  for (size_t t = depth - 1; t >= student_depth; --t) steps.push_back({true, static_cast<int>(t)});
  return steps;
}

std::string layered_weight(int t) { return "layer" + std::to_string(t) + ".weight"; }
std::string layered_bias(int t) { return "layer" + std::to_string(t) + ".bias"; }

Layout layered_layout(const LayeredNetwork& net) {
  Layout layout;
  for (size_t t = 1; t < net.widths.size(); ++t) {
    add_param(layout, layered_weight(static_cast<int>(t + 1)), "classifier", {net.widths[t], net.widths[t - 1]});
    if (net.bias) add_param(layout, layered_bias(static_cast<int>(t + 1)), "classifier", {net.widths[t]});
  }
  return layout;
}

UnitSlices layered_unit(int t, bool bias) {
  UnitSlices unit;
  unit.entering.push_back({layered_weight(t), 0});
  if (bias) unit.entering.push_back({layered_bias(t), 0});
  unit.leaving.push_back({layered_weight(t + 1), 1});
  return unit;
}

bool idempotent_activation(const std::string& activation) { return activation == "relu" || activation == "identity"; }

AlignedGaussian remove_layer(const LowRankGaussian& g, const Layout& layout, int t, const std::string& activation) {
  if (!idempotent_activation(activation)) {
    throw ReduceError("alignment: psi(" + std::to_string(t) + ") needs an idempotent activation (relu, identity), the network uses " +
                      activation);
  }
  if (g.size() != layout_size(layout)) {
    throw ReduceError("alignment: a Gaussian over " + std::to_string(g.size()) + " weights for a layout of " +
                      std::to_string(layout_size(layout)));
  }
  const ParamLayout& weight = find_param(layout, layered_weight(t));
  if (weight.shape.size() != 2 || weight.shape[0] != weight.shape[1]) {
    throw ReduceError("alignment: psi(" + std::to_string(t) + ") removes a square layer, " + weight.name + " is " +
                      std::to_string(weight.shape[0]) + " x " + std::to_string(weight.shape.size() > 1 ? weight.shape[1] : 1));
  }
  // Condition U_t = I (and its bias on 0): σ(I σ(h)) = σ(h) for idempotent σ, so the layer vanishes.
  const int64_t n = weight.shape[0];
  std::vector<int64_t> fixed;
  std::vector<double> values;
  for (int64_t i = 0; i < n * n; ++i) {
    fixed.push_back(weight.offset + i);
    values.push_back(i / n == i % n ? 1.0 : 0.0);
  }
  bool has_bias = false;
  for (const ParamLayout& param : layout) has_bias = has_bias || param.name == layered_bias(t);
  if (has_bias) {
    const ParamLayout& bias = find_param(layout, layered_bias(t));
    for (int64_t i = 0; i < bias.numel(); ++i) fixed.push_back(bias.offset + i), values.push_back(0.0);
  }
  std::vector<size_t> order(fixed.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fixed[a] < fixed[b]; });
  std::vector<int64_t> sorted_fixed;
  std::vector<double> sorted_values;
  for (size_t i : order) sorted_fixed.push_back(fixed[i]), sorted_values.push_back(values[i]);
  AlignedGaussian out{condition(g, sorted_fixed, sorted_values), {}, complement(g.size(), sorted_fixed)};
  // The tensors above layer t move down one index: U_{t+1} becomes U_t.
  for (const ParamLayout& param : layout) {
    if (param.name == layered_weight(t) || param.name == layered_bias(t)) continue;
    std::string name = param.name;
    const int layer = std::stoi(name.substr(5, name.find('.') - 5));
    if (layer > t) name = "layer" + std::to_string(layer - 1) + name.substr(name.find('.'));
    add_param(out.layout, name, param.role, param.shape);
  }
  return out;
}

AlignedPrior align_layered(const LowRankGaussian& teacher_gaussian, const LayeredNetwork& teacher, const LayeredNetwork& student,
                           const std::string& order, uint64_t seed, std::vector<double> gradient_variance) {
  if (teacher.bias != student.bias || teacher.activation != student.activation) {
    throw ReduceError("alignment: teacher and student differ in bias or activation");
  }
  AlignedPrior out{teacher_gaussian, layered_layout(teacher), {}};
  if (out.gaussian.size() != layout_size(out.layout)) {
    throw ReduceError("alignment: a Gaussian over " + std::to_string(out.gaussian.size()) + " weights for a network of " +
                      std::to_string(layout_size(out.layout)));
  }
  if (!gradient_variance.empty() && gradient_variance.size() != static_cast<size_t>(out.gaussian.size())) {
    throw ReduceError("alignment: " + std::to_string(gradient_variance.size()) + " gradient variances for " +
                      std::to_string(out.gaussian.size()) + " weights");
  }
  std::vector<int64_t> widths = teacher.widths;
  Rng rng(seed);
  for (const AlignmentStep& step : alignment_steps(teacher.widths, student.widths)) {
    AlignedGaussian next;
    if (step.remove_layer) {
      next = remove_layer(out.gaussian, out.layout, step.layer, teacher.activation);
      widths.erase(widths.begin() + step.layer - 1);
      out.steps.push_back("psi(" + std::to_string(step.layer) + ")");
    } else {
      const UnitSlices unit = layered_unit(step.layer, teacher.bias);
      const int64_t j = pick_unit(order, out.gaussian, out.layout, unit, widths[step.layer - 1], rng,
                                  gradient_variance.empty() ? nullptr : &gradient_variance);
      next = remove_unit(out.gaussian, out.layout, unit, j);
      --widths[step.layer - 1];
      out.steps.push_back("phi(" + std::to_string(step.layer) + ", " + std::to_string(j) + ")");
    }
    if (!gradient_variance.empty()) gradient_variance = kept_values(gradient_variance, next);
    out.gaussian = std::move(next.gaussian);
    out.layout = std::move(next.layout);
  }
  const Layout expected = layered_layout(student);
  for (size_t i = 0; i < expected.size(); ++i) {
    if (i >= out.layout.size() || expected[i].name != out.layout[i].name || expected[i].shape != out.layout[i].shape) {
      throw ReduceError("alignment: the aligned layout does not match the student's at " + expected[i].name);
    }
  }
  out.layout = expected;
  return out;
}

}  // namespace genzoo::priors
