// Reading and writing zoo files (DESIGN.md section 5). The schema is declared once below
// (for_each_*_column, kStringAttributes, the layout and CSR helpers) and both directions walk it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <type_traits>

#include "common/error.h"
#include "store/h5.h"
#include "store/zoo.h"

namespace genzoo {

namespace {

using h5::Dims;
using h5::kAnyExtent;
using h5::Storage;
using h5::read_shaped;

// ---- the schema

// /models columns with one value per model, in file order.
template <typename Visit>
void for_each_scalar_column(Visit&& visit) {
  visit("id", &ModelRecord::id);
  visit("family", &ModelRecord::family);
  visit("seed", &ModelRecord::seed);
  visit("init_group", &ModelRecord::init_group);
  visit("lr", &ModelRecord::lr);
  visit("design", &ModelRecord::design);
  visit("design_group", &ModelRecord::design_group);
  visit("design_role", &ModelRecord::design_role);
  visit("probe_gap", &ModelRecord::probe_gap);
  visit("status", &ModelRecord::status);
  visit("final_loss", &ModelRecord::final_loss);
  visit("test_loss", &ModelRecord::test_loss);
  visit("train_seconds", &ModelRecord::train_seconds);
  visit("rank", &ModelRecord::rank);
  visit("kernel_isa", &ModelRecord::kernel_isa);
}

// /models columns with K values per model: [N, K] matrices.
template <typename Visit>
void for_each_class_column(Visit&& visit) {
  visit("counts", &ModelRecord::counts);
  visit("proportions", &ModelRecord::proportions);
}

const std::pair<const char*, std::string ZooAttributes::*> kStringAttributes[] = {
    {"genzoo_version", &ZooAttributes::genzoo_version},
    {"created_utc", &ZooAttributes::created_utc},
    {"job_name", &ZooAttributes::job_name},
    {"job_toml", &ZooAttributes::job_toml},
    {"job_fingerprint", &ZooAttributes::job_fingerprint},
    {"dataset", &ZooAttributes::dataset},
};

// The /models datasets that are not metric columns; a metric may not take one of these names.
std::set<std::string> fixed_model_columns() {
  std::set<std::string> names = {"n_samples", "sample_offsets", "sample_indices"};
  for_each_scalar_column([&](const char* name, auto) { names.insert(name); });
  for_each_class_column([&](const char* name, auto) { names.insert(name); });
  return names;
}

std::vector<std::string> metric_names(const std::vector<ModelRecord>& models) {
  std::set<std::string> names;
  for (const ModelRecord& model : models) {
    for (const auto& metric : model.metrics) names.insert(metric.first);
  }
  return {names.begin(), names.end()};
}

// Family and metric names become HDF5 link names.
bool is_link_name(const std::string& name) {
  return !name.empty() && name != "." && name.find('/') == std::string::npos;
}

int64_t centroid_count(const FeatureNetRecord& net) {
  return net.embedding_dim > 0 ? static_cast<int64_t>(net.centroids.size()) / net.embedding_dim : 0;
}

// ---- consistency of the in-memory image: checked before writing and after reading

void check_layout(const Layout& layout, const std::string& where, const std::string& file_name) {
  int64_t end = 0;
  for (const ParamLayout& param : layout) {
    // Readers slice the flat vector by offset; gaps or overlaps would silently mix tensors.
    if (param.offset != end) {
      throw StorageError(file_name + ": " + where + ": parameter " + param.name + " starts at " +
                         std::to_string(param.offset) + ", expected " + std::to_string(end));
    }
    end += param.numel();
  }
}

void check_zoo(const ZooData& zoo, const std::string& file_name) {
  const auto fail = [&](const std::string& what) { return StorageError(file_name + ": " + what); };
  const size_t classes = zoo.models.empty() ? zoo.attrs.classes.size() : zoo.models.front().counts.size();
  for (size_t i = 0; i < zoo.models.size(); ++i) {
    const ModelRecord& model = zoo.models[i];
    const std::string which = "model " + std::to_string(model.id);
    if (i > 0 && model.id <= zoo.models[i - 1].id) {
      throw fail("/models: " + which + " follows model " + std::to_string(zoo.models[i - 1].id) +
                 " (ids must ascend, each once)");
    }
    if (model.counts.size() != classes || model.proportions.size() != classes) {
      throw fail("/models: " + which + " has " + std::to_string(model.counts.size()) + " counts and " +
                 std::to_string(model.proportions.size()) + " proportions, expected " +
                 std::to_string(classes) + " of each");
    }
    if (!is_link_name(model.family)) {
      throw fail("/models: " + which + " has family name '" + model.family + "'");
    }
  }
  const std::set<std::string> fixed = fixed_model_columns();
  for (const std::string& metric : metric_names(zoo.models)) {
    if (!is_link_name(metric) || fixed.count(metric)) {
      throw fail("/models: metric '" + metric + "' cannot be stored as a column of that name");
    }
  }

  for (const auto& [family, weights] : zoo.weights) {
    const std::string where = "/weights/" + family;
    if (!is_link_name(family)) throw fail("/weights: family name '" + family + "'");
    if (weights.family != family) throw fail(where + ": holds weights of family '" + weights.family + "'");
    check_layout(weights.layout, where + "/layout", file_name);
    const size_t rows = weights.model_ids.size(), params = weights.param_count();
    const size_t steps = weights.checkpoint_steps.size();
    if (weights.data.size() != rows * params) {
      throw fail(where + "/data: " + std::to_string(weights.data.size()) + " values, expected " +
                 std::to_string(rows) + " models x " + std::to_string(params) + " parameters");
    }
    if (weights.checkpoints.size() != rows * steps * params) {
      throw fail("/checkpoints/" + family + "/data: " + std::to_string(weights.checkpoints.size()) +
                 " values, expected " + std::to_string(rows) + " models x " + std::to_string(steps) +
                 " steps x " + std::to_string(params) + " parameters");
    }
    if (weights.samples.size() != rows * weights.samples_per_model * kSampleImagePixels) {
      throw fail("/samples/" + family + "/images: " + std::to_string(weights.samples.size()) + " values, expected " +
                 std::to_string(rows) + " models x " + std::to_string(weights.samples_per_model) + " images");
    }
    std::set<int64_t> seen;
    for (int64_t id : weights.model_ids) {
      const auto model = std::lower_bound(zoo.models.begin(), zoo.models.end(), id,
                                          [](const ModelRecord& m, int64_t wanted) { return m.id < wanted; });
      const std::string which = "model " + std::to_string(id);
      if (model == zoo.models.end() || model->id != id) {
        throw fail(where + ": " + which + " is not in /models");
      }
      if (model->family != family) throw fail(where + ": " + which + " is of family '" + model->family + "'");
      if (!seen.insert(id).second) throw fail(where + ": " + which + " appears twice");
    }
  }

  if (zoo.featurenet) {
    const FeatureNetRecord& net = *zoo.featurenet;
    check_layout(net.layout, "/featurenet/layout", file_name);
    if (static_cast<int64_t>(net.weights.size()) != layout_size(net.layout)) {
      throw fail("/featurenet/weights: " + std::to_string(net.weights.size()) + " values, the layout needs " +
                 std::to_string(layout_size(net.layout)));
    }
    const int64_t centroids = centroid_count(net);
    if (net.embedding_dim < 0 ||
        static_cast<int64_t>(net.centroids.size()) != centroids * net.embedding_dim) {
      throw fail("/featurenet/centroids: " + std::to_string(net.centroids.size()) +
                 " values do not fill rows of embedding_dim " + std::to_string(net.embedding_dim));
    }
    if (static_cast<int64_t>(net.centroid_distances.size()) != centroids * centroids) {
      throw fail("/featurenet/centroid_distances: " + std::to_string(net.centroid_distances.size()) +
                 " values, expected " + std::to_string(centroids) + " x " + std::to_string(centroids));
    }
  }
}

// ---- writing

template <typename T>
std::vector<T> gather(const std::vector<ModelRecord>& models, T ModelRecord::*member) {
  std::vector<T> column;
  column.reserve(models.size());
  for (const ModelRecord& model : models) column.push_back(model.*member);
  return column;
}

// Rows of a vector member, end to end: an [N, K] matrix, or the values of a CSR column.
template <typename T>
std::vector<T> concatenate(const std::vector<ModelRecord>& models, std::vector<T> ModelRecord::*member) {
  std::vector<T> values;
  for (const ModelRecord& model : models) {
    values.insert(values.end(), (model.*member).begin(), (model.*member).end());
  }
  return values;
}

// Row i of a CSR column is values[offsets[i] .. offsets[i+1]).
template <typename Rows, typename RowSize>
std::vector<int64_t> csr_offsets(const Rows& rows, RowSize row_size) {
  std::vector<int64_t> offsets = {0};
  for (const auto& row : rows) offsets.push_back(offsets.back() + static_cast<int64_t>(row_size(row)));
  return offsets;
}

void write_layout_group(const h5::Group& owner, const Layout& layout) {
  const h5::Group group = owner.create_group("layout");
  std::vector<std::string> names, roles;
  std::vector<int64_t> offsets, numels, shapes;
  for (const ParamLayout& param : layout) {
    names.push_back(param.name);
    roles.push_back(param.role);
    offsets.push_back(param.offset);
    numels.push_back(param.numel());
    shapes.insert(shapes.end(), param.shape.begin(), param.shape.end());
  }
  group.write("name", names);
  group.write("role", roles);
  group.write("offset", offsets);
  group.write("numel", numels);
  group.write("shape_offsets", csr_offsets(layout, [](const ParamLayout& p) { return p.shape.size(); }));
  group.write("shapes", shapes);
  owner.write_attribute("layout_json", layout_json(layout));
}

void write_models(const h5::Group& root, const ZooData& zoo) {
  const std::vector<ModelRecord>& models = zoo.models;
  const h5::Group group = root.create_group("models");
  const hsize_t rows = models.size();
  const hsize_t classes = models.empty() ? zoo.attrs.classes.size() : models.front().counts.size();
  for_each_scalar_column([&](const char* name, auto member) { group.write(name, gather(models, member)); });
  for_each_class_column([&](const char* name, auto member) {
    group.write(name, concatenate(models, member), {rows, classes});
  });

  const std::vector<int64_t> offsets =
      csr_offsets(models, [](const ModelRecord& m) { return m.sample_indices.size(); });
  std::vector<int64_t> n_samples;
  for (size_t i = 0; i < models.size(); ++i) n_samples.push_back(offsets[i + 1] - offsets[i]);
  group.write("n_samples", n_samples);
  group.write("sample_offsets", offsets);
  group.write("sample_indices", concatenate(models, &ModelRecord::sample_indices), {}, Storage::kCompressed);

  const std::vector<std::string> metrics = metric_names(models);
  for (const std::string& metric : metrics) {
    std::vector<double> column;
    for (const ModelRecord& model : models) {
      const auto value = model.metrics.find(metric);
      column.push_back(value == model.metrics.end() ? std::nan("") : value->second);
    }
    group.write(metric, column);
  }
  group.write_array_attribute("metric_columns", metrics);
}

void write_weights(const h5::Group& root, const ZooData& zoo, Storage storage) {
  const h5::Group weights_group = root.create_group("weights");
  std::optional<h5::Group> checkpoints_group;  // only in zoos that keep trajectories
  std::optional<h5::Group> samples_group;      // only for generative families
  for (const auto& [family, weights] : zoo.weights) {
    const hsize_t rows = weights.model_ids.size(), params = weights.param_count();
    const h5::Group group = weights_group.create_group(family);
    group.write("model_id", weights.model_ids);
    group.write("data", weights.data, {rows, params}, storage);
    write_layout_group(group, weights.layout);
    if (weights.samples_per_model > 0) {
      if (!samples_group) samples_group.emplace(root.create_group("samples"));
      const h5::Group images = samples_group->create_group(family);
      images.write("model_id", weights.model_ids);
      images.write("images", weights.samples, {rows, static_cast<hsize_t>(weights.samples_per_model), kSampleImagePixels},
                   storage);
      images.write_attribute("interpolation_images", kInterpolationImages);
    }
    if (weights.checkpoint_steps.empty()) continue;

    if (!checkpoints_group) checkpoints_group.emplace(root.create_group("checkpoints"));
    const h5::Group trajectory = checkpoints_group->create_group(family);
    const hsize_t steps = weights.checkpoint_steps.size();
    trajectory.write("model_id", weights.model_ids);
    trajectory.write("steps", weights.checkpoint_steps);
    trajectory.write("data", weights.checkpoints, {rows, steps, params}, storage);
  }
}

void write_featurenet(const h5::Group& root, const FeatureNetRecord& net) {
  const h5::Group group = root.create_group("featurenet");
  group.write("weights", net.weights, {}, Storage::kCompressed);
  write_layout_group(group, net.layout);
  group.write_attribute("test_accuracy", net.test_accuracy);
  group.write_attribute("embedding_dim", net.embedding_dim);
  const hsize_t centroids = centroid_count(net), dim = net.embedding_dim;
  group.write("centroids", net.centroids, {centroids, dim});
  group.write("centroid_distances", net.centroid_distances, {centroids, centroids});
  group.write("selected_classes", net.selected_classes);
}

void write_contents(const h5::Group& root, const ZooData& zoo, Storage weight_storage) {
  root.write_attribute("schema_version", int32_t{kSchemaVersion});
  for (const auto& [name, member] : kStringAttributes) root.write_attribute(name, zoo.attrs.*member);
  root.write_array_attribute("classes", zoo.attrs.classes);
  write_models(root, zoo);
  write_weights(root, zoo, weight_storage);
  if (zoo.featurenet) write_featurenet(root, *zoo.featurenet);
}

// ---- reading

// Reads a CSR pair (offsets [rows + 1], values) and splits the values into rows.
template <typename T>
std::vector<std::vector<T>> read_csr(const h5::Group& group, const std::string& offsets_name,
                                     const std::string& values_name, hsize_t rows) {
  const std::vector<int64_t> offsets = read_shaped<int64_t>(group, offsets_name, {rows + 1});
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (i == 0 ? offsets[0] != 0 : offsets[i] < offsets[i - 1]) {
      throw group.open_dataset(offsets_name).error("is not a CSR index (must start at 0 and never decrease)");
    }
  }
  const std::vector<T> values = read_shaped<T>(group, values_name, {static_cast<hsize_t>(offsets.back())});
  std::vector<std::vector<T>> split(rows);
  for (hsize_t i = 0; i < rows; ++i) {
    split[i].assign(values.begin() + offsets[i], values.begin() + offsets[i + 1]);
  }
  return split;
}

Layout read_layout_group(const h5::Group& owner) {
  const h5::Group group = owner.open_group("layout");
  const std::vector<std::string> names = read_shaped<std::string>(group, "name", {kAnyExtent});
  const hsize_t count = names.size();
  const std::vector<std::string> roles = read_shaped<std::string>(group, "role", {count});
  const std::vector<int64_t> offsets = read_shaped<int64_t>(group, "offset", {count});
  const std::vector<int64_t> numels = read_shaped<int64_t>(group, "numel", {count});
  const std::vector<std::vector<int64_t>> shapes = read_csr<int64_t>(group, "shape_offsets", "shapes", count);
  Layout layout(count);
  for (hsize_t i = 0; i < count; ++i) {
    layout[i] = {names[i], roles[i], shapes[i], offsets[i]};
    if (layout[i].numel() != numels[i]) {
      throw group.error("parameter " + names[i] + " has numel " + std::to_string(numels[i]) + " but shape " +
                        h5::dims_text(Dims(shapes[i].begin(), shapes[i].end())));
    }
  }
  return layout;
}

std::vector<ModelRecord> read_models(const h5::Group& root) {
  const h5::Group group = root.open_group("models");
  const hsize_t rows = group.open_dataset("id").expect_dims({kAnyExtent})[0];
  std::vector<ModelRecord> models(rows);
  for_each_scalar_column([&](const char* name, auto member) {
    using T = std::decay_t<decltype(models.front().*member)>;
    if (std::string(name) == "kernel_isa" && !group.has(name)) return;  // written before the column existed
    const std::vector<T> column = read_shaped<T>(group, name, {rows});
    for (hsize_t i = 0; i < rows; ++i) models[i].*member = column[i];
  });
  hsize_t classes = kAnyExtent;  // learned from the first matrix, then required of the others
  for_each_class_column([&](const char* name, auto member) {
    using T = typename std::decay_t<decltype(models.front().*member)>::value_type;
    Dims dims;
    const std::vector<T> matrix = read_shaped<T>(group, name, {rows, classes}, &dims);
    classes = dims[1];
    for (hsize_t i = 0; i < rows; ++i) {
      (models[i].*member).assign(matrix.begin() + i * classes, matrix.begin() + (i + 1) * classes);
    }
  });

  std::vector<std::vector<int64_t>> samples =
      read_csr<int64_t>(group, "sample_offsets", "sample_indices", rows);
  const std::vector<int64_t> n_samples = read_shaped<int64_t>(group, "n_samples", {rows});
  for (hsize_t i = 0; i < rows; ++i) {
    if (n_samples[i] != static_cast<int64_t>(samples[i].size())) {
      throw group.error("model " + std::to_string(models[i].id) + ": n_samples " +
                        std::to_string(n_samples[i]) + " but sample_offsets give " +
                        std::to_string(samples[i].size()));
    }
    models[i].sample_indices = std::move(samples[i]);
  }

  for (const std::string& metric : group.read_array_attribute<std::string>("metric_columns")) {
    const std::vector<double> column = read_shaped<double>(group, metric, {rows});
    for (hsize_t i = 0; i < rows; ++i) {
      if (!std::isnan(column[i])) models[i].metrics[metric] = column[i];  // NaN marks "not measured"
    }
  }
  return models;
}

std::map<std::string, FamilyWeights> read_weights(const h5::Group& root) {
  const h5::Group weights_group = root.open_group("weights");
  std::optional<h5::Group> checkpoints_group;
  if (root.has("checkpoints")) checkpoints_group.emplace(root.open_group("checkpoints"));

  std::map<std::string, FamilyWeights> all;
  for (const std::string& family : weights_group.names()) {
    const h5::Group group = weights_group.open_group(family);
    FamilyWeights weights;
    weights.family = family;
    weights.layout = read_layout_group(group);
    weights.model_ids = read_shaped<int64_t>(group, "model_id", {kAnyExtent});
    const hsize_t rows = weights.model_ids.size(), params = weights.param_count();
    weights.data = read_shaped<float>(group, "data", {rows, params});  // P_f must match the layout

    if (root.has("samples") && root.open_group("samples").has(family)) {
      const h5::Group images = root.open_group("samples").open_group(family);
      if (read_shaped<int64_t>(images, "model_id", {rows}) != weights.model_ids) {
        throw images.error("model_id differs from " + group.path() + "/model_id");
      }
      weights.samples = read_shaped<float>(images, "images", {rows, kAnyExtent, kSampleImagePixels});
      weights.samples_per_model = rows == 0 ? 0 : static_cast<int64_t>(weights.samples.size() / (rows * kSampleImagePixels));
    }
    if (checkpoints_group && checkpoints_group->has(family)) {
      const h5::Group trajectory = checkpoints_group->open_group(family);
      weights.checkpoint_steps = read_shaped<int64_t>(trajectory, "steps", {kAnyExtent});
      if (read_shaped<int64_t>(trajectory, "model_id", {rows}) != weights.model_ids) {
        throw trajectory.error("model_id differs from " + group.path() + "/model_id");
      }
      const hsize_t steps = weights.checkpoint_steps.size();
      weights.checkpoints = read_shaped<float>(trajectory, "data", {rows, steps, params});
    }
    all.emplace(family, std::move(weights));
  }
  if (checkpoints_group) {
    for (const std::string& family : checkpoints_group->names()) {
      if (!all.count(family)) {
        throw checkpoints_group->error(family + " has no weights in /weights/" + family);
      }
    }
  }
  return all;
}

FeatureNetRecord read_featurenet(const h5::Group& root) {
  const h5::Group group = root.open_group("featurenet");
  FeatureNetRecord net;
  net.layout = read_layout_group(group);
  net.weights = read_shaped<float>(group, "weights", {static_cast<hsize_t>(layout_size(net.layout))});
  net.test_accuracy = group.read_attribute<double>("test_accuracy");
  net.embedding_dim = group.read_attribute<int64_t>("embedding_dim");
  Dims dims;
  net.centroids =
      read_shaped<float>(group, "centroids", {kAnyExtent, static_cast<hsize_t>(net.embedding_dim)}, &dims);
  net.centroid_distances = read_shaped<double>(group, "centroid_distances", {dims[0], dims[0]});
  net.selected_classes = read_shaped<int64_t>(group, "selected_classes", {kAnyExtent});
  return net;
}

ZooAttributes read_root_attributes(const h5::Group& root) {
  ZooAttributes attrs;
  attrs.schema_version = root.read_attribute<int32_t>("schema_version");
  for (const auto& [name, member] : kStringAttributes) attrs.*member = root.read_attribute<std::string>(name);
  attrs.classes = root.read_array_attribute<int64_t>("classes");
  return attrs;
}

// Opens a zoo file for reading after the checks every reader needs: it exists, is HDF5, and has the
// schema version this build reads.
h5::File open_zoo(const std::string& path) {
  h5::File file = h5::open_existing(path);
  h5::require_schema_version(file.root(), path, "zoo", kSchemaVersion);
  return file;
}

}  // namespace

void write_zoo(const std::string& path, const ZooData& zoo, WeightStorage weights) {
  check_zoo(zoo, path);
  const Storage storage = weights == WeightStorage::kFast ? Storage::kContiguous : Storage::kCompressed;
  h5::write_file_atomically(path, [&](const h5::Group& root) { write_contents(root, zoo, storage); });
}

ZooData read_zoo(const std::string& path) {
  const h5::File file = open_zoo(path);
  const h5::Group root = file.root();
  ZooData zoo;
  zoo.attrs = read_root_attributes(root);
  zoo.models = read_models(root);
  zoo.weights = read_weights(root);
  if (root.has("featurenet")) zoo.featurenet = read_featurenet(root);
  check_zoo(zoo, path);  // what shapes alone cannot show: id order, weights of unknown models, layout gaps
  return zoo;
}

std::vector<int64_t> read_model_ids(const std::string& path) {
  const h5::File file = open_zoo(path);
  return read_shaped<int64_t>(file.root().open_group("models"), "id", {kAnyExtent});
}

std::vector<std::string> read_model_statuses(const std::string& path) {
  const h5::File file = open_zoo(path);
  return read_shaped<std::string>(file.root().open_group("models"), "status", {kAnyExtent});
}

ZooAttributes read_attributes(const std::string& path) {
  const h5::File file = open_zoo(path);
  return read_root_attributes(file.root());
}

void write_layout(const h5::Group& owner, const Layout& layout) { write_layout_group(owner, layout); }
Layout read_layout(const h5::Group& owner) { return read_layout_group(owner); }

}  // namespace genzoo
