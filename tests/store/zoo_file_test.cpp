#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "helpers.h"
#include "store/h5.h"
#include "store/zoo.h"

namespace genzoo {
namespace {

using test::TempDir;

// Quarter-integers in [-2.75, 2.75]: exact in float32, and every checksum below is exact in double,
// so the C++ and numpy checksums agree bit for bit whatever order they sum in.
float test_value(int64_t i) { return static_cast<float>((i * 7) % 23 - 11) / 4.0f; }

std::vector<float> test_values(size_t count, int64_t start) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = test_value(start + static_cast<int64_t>(i));
  return values;
}

Layout linear_ae_layout() {
  Layout layout;
  add_param(layout, "encoder.weight", "encoder", {2, 6});
  add_param(layout, "encoder.bias", "encoder", {2});
  add_param(layout, "decoder.weight", "decoder", {6, 2});
  add_param(layout, "decoder.bias", "decoder", {6});
  return layout;
}

Layout vae_layout() {
  Layout layout;
  add_param(layout, "encoder.weight", "encoder", {4, 6});
  add_param(layout, "log_sigma", "decoder", {});  // a scalar parameter
  add_param(layout, "decoder.weight", "decoder", {6, 2});
  return layout;
}

ModelRecord make_model(int64_t id, const std::string& family) {
  ModelRecord model;
  model.id = id;
  model.family = family;
  model.seed = 0xfedcba9876543210ULL + static_cast<uint64_t>(id);  // above INT64_MAX: stays unsigned
  model.init_group = id % 2;
  model.lr = 1e-3 * static_cast<double>(id + 1);
  model.counts = {id, 2 * id + 1, 3};
  model.proportions = {0.25, 0.5, 0.25 + 1e-17 * static_cast<double>(id)};
  for (int64_t k = 0; k < id; ++k) model.sample_indices.push_back(1000 * id + 7 * k);  // model 0 has none
  model.design = id == 4 ? "triplet" : "random";
  model.design_group = id == 4 ? 3 : -1;
  model.design_role = id == 4 ? 2 : -1;
  model.probe_gap = 0.125 * static_cast<double>(id);
  model.status = id == 2 ? "diverged" : "ok";
  model.final_loss = 0.1 / static_cast<double>(id + 3);
  model.test_loss = 0.2 / static_cast<double>(id + 3);
  model.train_seconds = 1.5 * static_cast<double>(id);
  model.rank = static_cast<int32_t>(id % 3);
  model.kernel_isa = id % 2 == 0 ? "AVX2" : "torch";
  return model;
}

FamilyWeights make_weights(const std::string& family, Layout layout, std::vector<int64_t> model_ids) {
  FamilyWeights weights;
  weights.family = family;
  weights.layout = std::move(layout);
  weights.model_ids = std::move(model_ids);
  weights.data = test_values(weights.model_ids.size() * weights.param_count(), family.size());
  return weights;
}

// Two families (ids interleaved, with a gap), metrics on some models only, checkpoints, a feature net.
ZooData make_zoo() {
  ZooData zoo;
  zoo.attrs.genzoo_version = GENZOO_VERSION;
  zoo.attrs.created_utc = "2024-05-01T12:00:00Z";
  zoo.attrs.job_name = "quickstart";
  zoo.attrs.job_toml =
      "name = \"quickstart\"\n# ünïcode, quotes ' \" and\ttabs\n[families.vae]\nbeta = 1.0\n";
  zoo.attrs.job_fingerprint = "9f86d081884c7d65";
  zoo.attrs.dataset = "fashion-mnist";
  zoo.attrs.classes = {0, 5, 9};

  for (int64_t id : {0, 2, 5}) zoo.models.push_back(make_model(id, "linear_ae"));
  for (int64_t id : {1, 4}) zoo.models.push_back(make_model(id, "vae"));
  std::sort(zoo.models.begin(), zoo.models.end(),
            [](const ModelRecord& a, const ModelRecord& b) { return a.id < b.id; });
  for (ModelRecord& model : zoo.models) {
    if (model.family == "vae") model.metrics["kl"] = 0.5 + static_cast<double>(model.id);
  }
  zoo.models[3].metrics["fid"] = 123.25;  // model 4 only: NaN elsewhere

  FamilyWeights linear = make_weights("linear_ae", linear_ae_layout(), {0, 2, 5});
  linear.checkpoint_steps = {0, 10, 20};
  linear.checkpoints = test_values(3 * 3 * linear.param_count(), 100);
  zoo.weights.emplace("linear_ae", std::move(linear));
  zoo.weights.emplace("vae", make_weights("vae", vae_layout(), {1, 4}));

  FeatureNetRecord net;
  add_param(net.layout, "conv.weight", "classifier", {4, 1, 3, 3});
  add_param(net.layout, "conv.bias", "classifier", {4});
  net.weights = test_values(layout_size(net.layout), 7);
  net.test_accuracy = 0.8875;
  net.embedding_dim = 3;
  net.centroids = test_values(10 * 3, 11);
  for (int i = 0; i < 100; ++i) net.centroid_distances.push_back(i / 10 == i % 10 ? 0.0 : 1.0 / (1 + i));
  net.selected_classes = {0, 5, 9};
  zoo.featurenet = std::move(net);
  return zoo;
}

void expect_same_layout(const Layout& actual, const Layout& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].name, expected[i].name);
    EXPECT_EQ(actual[i].role, expected[i].role);
    EXPECT_EQ(actual[i].shape, expected[i].shape);
    EXPECT_EQ(actual[i].offset, expected[i].offset);
  }
}

void expect_same_zoo(const ZooData& actual, const ZooData& expected) {
  EXPECT_EQ(actual.attrs.schema_version, kSchemaVersion);
  EXPECT_EQ(actual.attrs.genzoo_version, expected.attrs.genzoo_version);
  EXPECT_EQ(actual.attrs.created_utc, expected.attrs.created_utc);
  EXPECT_EQ(actual.attrs.job_name, expected.attrs.job_name);
  EXPECT_EQ(actual.attrs.job_toml, expected.attrs.job_toml);
  EXPECT_EQ(actual.attrs.job_fingerprint, expected.attrs.job_fingerprint);
  EXPECT_EQ(actual.attrs.dataset, expected.attrs.dataset);
  EXPECT_EQ(actual.attrs.classes, expected.attrs.classes);

  ASSERT_EQ(actual.models.size(), expected.models.size());
  for (size_t i = 0; i < actual.models.size(); ++i) {
    const ModelRecord& a = actual.models[i];
    const ModelRecord& e = expected.models[i];
    SCOPED_TRACE("model " + std::to_string(e.id));
    EXPECT_EQ(a.id, e.id);
    EXPECT_EQ(a.family, e.family);
    EXPECT_EQ(a.seed, e.seed);
    EXPECT_EQ(a.init_group, e.init_group);
    EXPECT_EQ(a.lr, e.lr);  // exact: doubles are stored as doubles
    EXPECT_EQ(a.counts, e.counts);
    EXPECT_EQ(a.proportions, e.proportions);
    EXPECT_EQ(a.sample_indices, e.sample_indices);
    EXPECT_EQ(a.design, e.design);
    EXPECT_EQ(a.design_group, e.design_group);
    EXPECT_EQ(a.design_role, e.design_role);
    EXPECT_EQ(a.probe_gap, e.probe_gap);
    EXPECT_EQ(a.status, e.status);
    EXPECT_EQ(a.final_loss, e.final_loss);
    EXPECT_EQ(a.test_loss, e.test_loss);
    EXPECT_EQ(a.train_seconds, e.train_seconds);
    EXPECT_EQ(a.rank, e.rank);
    EXPECT_EQ(a.kernel_isa, e.kernel_isa);
    EXPECT_EQ(a.metrics, e.metrics);
  }

  ASSERT_EQ(actual.weights.size(), expected.weights.size());
  for (const auto& [family, e] : expected.weights) {
    SCOPED_TRACE("family " + family);
    ASSERT_EQ(actual.weights.count(family), 1u);
    const FamilyWeights& a = actual.weights.at(family);
    EXPECT_EQ(a.family, e.family);
    expect_same_layout(a.layout, e.layout);
    EXPECT_EQ(a.model_ids, e.model_ids);
    EXPECT_EQ(a.data, e.data);
    EXPECT_EQ(a.checkpoint_steps, e.checkpoint_steps);
    EXPECT_EQ(a.checkpoints, e.checkpoints);
  }

  ASSERT_EQ(actual.featurenet.has_value(), expected.featurenet.has_value());
  if (expected.featurenet) {
    const FeatureNetRecord& a = *actual.featurenet;
    const FeatureNetRecord& e = *expected.featurenet;
    expect_same_layout(a.layout, e.layout);
    EXPECT_EQ(a.weights, e.weights);
    EXPECT_EQ(a.test_accuracy, e.test_accuracy);
    EXPECT_EQ(a.embedding_dim, e.embedding_dim);
    EXPECT_EQ(a.centroids, e.centroids);
    EXPECT_EQ(a.centroid_distances, e.centroid_distances);
    EXPECT_EQ(a.selected_classes, e.selected_classes);
  }
}

// Runs `action` and expects a StorageError whose message contains every part.
template <typename Action>
void expect_storage_error(Action action, const std::vector<std::string>& parts) {
  try {
    action();
    ADD_FAILURE() << "no StorageError";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
  }
}

std::vector<std::string> directory_entries(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Edits a written file in place, as damage or another genzoo version would.
template <typename Edit>
void edit_file(const std::string& path, Edit edit) {
  h5::File file(path, h5::File::Mode::kReadWrite);
  edit(file.root());
  file.close();
}

TEST(ZooFile, RoundTripKeepsEverythingExactly) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  const ZooData zoo = make_zoo();
  write_zoo(path, zoo);
  expect_same_zoo(read_zoo(path), zoo);
}

TEST(ZooFile, PartialReadsGiveIdsAndAttributes) {
  TempDir dir;
  const std::string path = dir.file("shard.h5");
  const ZooData zoo = make_zoo();
  write_zoo(path, zoo);
  EXPECT_EQ(read_model_ids(path), (std::vector<int64_t>{0, 1, 2, 4, 5}));
  const ZooAttributes attrs = read_attributes(path);
  EXPECT_EQ(attrs.schema_version, kSchemaVersion);
  EXPECT_EQ(attrs.job_toml, zoo.attrs.job_toml);
  EXPECT_EQ(attrs.job_fingerprint, zoo.attrs.job_fingerprint);
  EXPECT_EQ(attrs.classes, zoo.attrs.classes);
}

TEST(ZooFile, MetricsBecomeColumnsWithNanWhereAbsent) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  const h5::File file(path, h5::File::Mode::kReadOnly);
  const h5::Group models = file.root().open_group("models");
  EXPECT_EQ(models.read_array_attribute<std::string>("metric_columns"),
            (std::vector<std::string>{"fid", "kl"}));
  const std::vector<double> fid = models.open_dataset("fid").read<double>();
  ASSERT_EQ(fid.size(), 5u);
  EXPECT_TRUE(std::isnan(fid[0]));
  EXPECT_EQ(fid[3], 123.25);
}

TEST(ZooFile, ZeroModelZooHasEveryDatasetWithZeroRows) {
  TempDir dir;
  const std::string path = dir.file("empty.h5");
  ZooData zoo;
  zoo.attrs.job_name = "empty";
  zoo.attrs.classes = {1, 2, 3};
  write_zoo(path, zoo);

  expect_same_zoo(read_zoo(path), zoo);
  EXPECT_TRUE(read_model_ids(path).empty());
  const h5::File file(path, h5::File::Mode::kReadOnly);
  const h5::Group models = file.root().open_group("models");
  for (const char* name : {"id", "family", "seed", "lr", "n_samples", "status", "rank", "sample_indices"}) {
    EXPECT_EQ(models.open_dataset(name).dims(), h5::Dims{0}) << name;
  }
  EXPECT_EQ(models.open_dataset("counts").dims(), (h5::Dims{0, 3}));
  EXPECT_EQ(models.open_dataset("sample_offsets").dims(), h5::Dims{1});
}

TEST(ZooFile, OtherSchemaVersionIsRefused) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  edit_file(path, [](const h5::Group& root) { root.write_attribute("schema_version", int32_t{7}); });
  expect_storage_error([&] { read_zoo(path); }, {path, "schema_version 7, this genzoo reads 1"});
  expect_storage_error([&] { read_model_ids(path); }, {"schema_version 7"});
}

TEST(ZooFile, GarbageFileIsNotHdf5) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  test::write_text(path, std::string(4096, 'x'));
  expect_storage_error([&] { read_zoo(path); }, {path, "not an HDF5 file"});
  test::write_text(path, "");
  expect_storage_error([&] { read_attributes(path); }, {path, "not an HDF5 file"});
}

TEST(ZooFile, TruncatedFileIsRefused) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  const std::string bytes = test::read_text(path);
  test::write_text(path, bytes.substr(0, bytes.size() / 2));
  expect_storage_error([&] { read_zoo(path); }, {path});
  expect_storage_error([&] { read_model_ids(path); }, {path});
}

TEST(ZooFile, MissingFileIsNamed) {
  TempDir dir;
  expect_storage_error([&] { read_zoo(dir.file("nope.h5")); }, {dir.file("nope.h5"), "no such file"});
}

TEST(ZooFile, MissingDatasetIsNamed) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  edit_file(path, [](const h5::Group& root) { root.open_group("models").remove("status"); });
  expect_storage_error([&] { read_zoo(path); }, {path, "missing dataset /models/status"});
}

TEST(ZooFile, RowCountMismatchIsNamed) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  edit_file(path, [](const h5::Group& root) {
    const h5::Group models = root.open_group("models");
    models.remove("final_loss");
    models.write("final_loss", std::vector<double>{1.0, 2.0});
  });
  expect_storage_error([&] { read_zoo(path); }, {path, "/models/final_loss", "[2]", "expected [5]"});
}

TEST(ZooFile, WeightsMustMatchLayoutAndModelIds) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  edit_file(path, [](const h5::Group& root) {
    const h5::Group vae = root.open_group("weights").open_group("vae");
    vae.remove("data");
    vae.write("data", std::vector<float>(2 * 40), {2, 40});  // the layout holds 37 parameters
  });
  expect_storage_error([&] { read_zoo(path); }, {"/weights/vae/data", "expected [2, 37]"});

  write_zoo(path, make_zoo());
  edit_file(path, [](const h5::Group& root) {
    const h5::Group vae = root.open_group("weights").open_group("vae");
    vae.remove("model_id");
    vae.write("model_id", std::vector<int64_t>{1, 4, 5});
  });
  expect_storage_error([&] { read_zoo(path); }, {"/weights/vae/data", "expected [3, 37]"});
}

TEST(ZooFile, InconsistentZooIsNotWritten) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  ZooData zoo = make_zoo();
  std::swap(zoo.models[0], zoo.models[1]);
  expect_storage_error([&] { write_zoo(path, zoo); }, {path, "ids must ascend"});

  zoo = make_zoo();
  zoo.weights.at("vae").data.pop_back();
  expect_storage_error([&] { write_zoo(path, zoo); }, {"/weights/vae/data"});

  zoo = make_zoo();
  zoo.weights.at("vae").model_ids[1] = 5;  // a linear_ae model
  expect_storage_error([&] { write_zoo(path, zoo); }, {"/weights/vae", "model 5"});

  zoo = make_zoo();
  zoo.models[1].metrics["rank"] = 1.0;  // would collide with the rank column
  expect_storage_error([&] { write_zoo(path, zoo); }, {"metric 'rank'"});
  EXPECT_TRUE(directory_entries(dir.path()).empty());
}

TEST(ZooFile, AtomicWriteLeavesOnlyTheFinalFile) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"zoo.h5"});

  ZooData smaller = make_zoo();  // overwriting replaces the file as a whole
  smaller.models.clear();
  smaller.weights.clear();
  write_zoo(path, smaller);
  EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"zoo.h5"});
  EXPECT_TRUE(read_model_ids(path).empty());
}

TEST(ZooFile, FailedRenameRemovesTheTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  std::filesystem::create_directory(path);  // a non-empty directory cannot be replaced by a file
  test::write_text(path + "/keep", "x");
  expect_storage_error([&] { write_zoo(path, make_zoo()); }, {path, "cannot rename"});
  EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"zoo.h5"});
  EXPECT_EQ(test::read_text(path + "/keep"), "x");
}

TEST(ZooFile, WriteIntoMissingDirectoryNamesTheFile) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/zoo.h5");
  expect_storage_error([&] { write_zoo(path, make_zoo()); }, {path, "cannot create file"});
}

TEST(ZooFile, H5dumpReadsTheHeader) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  const test::CommandResult result = test::run_command("h5dump -H -p " + path);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* part : {"GROUP \"models\"", "DATASET \"sample_indices\"", "GROUP \"checkpoints\"",
                           "ATTRIBUTE \"layout_json\"", "COMPRESSION DEFLATE"}) {
    EXPECT_NE(result.output.find(part), std::string::npos) << part;
  }
}

// Runs a Python snippet with genzoo_zoo importable and `path` bound; returns its output.
test::CommandResult run_python(const std::string& path, const std::string& code) {
  const std::string script = "import sys\nsys.path.insert(0, \"" + test::source_dir() +
                             "/analysis\")\nimport numpy as np, h5py\nimport genzoo_zoo as gz\npath = \"" +
                             path + "\"\n" + code;
  return test::run_command("/usr/bin/python3 -c '" + script + "'");
}

std::string format_double(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// "<name> [<shape>] <sum of value * (k+1)>" for every tensor of one model, as the Python snippet prints it.
std::string weight_checksums(const FamilyWeights& weights, int64_t model_id) {
  const size_t row =
      std::find(weights.model_ids.begin(), weights.model_ids.end(), model_id) - weights.model_ids.begin();
  std::string lines;
  for (const ParamLayout& param : weights.layout) {
    double checksum = 0.0;
    for (int64_t k = 0; k < param.numel(); ++k) {
      checksum += weights.data[row * weights.param_count() + param.offset + k] * static_cast<double>(k + 1);
    }
    std::string shape;
    for (int64_t extent : param.shape) shape += (shape.empty() ? "" : ",") + std::to_string(extent);
    lines += param.name + " [" + shape + "] " + format_double(checksum) + "\n";
  }
  return lines;
}

TEST(ZooFile, PythonReaderRebuildsWeightsSamplesAndColumns) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  const ZooData zoo = make_zoo();
  write_zoo(path, zoo);

  const std::string print_checksums =
      "for name, value in weights.items():\n"
      "    flat = value.astype(np.float64).ravel()\n"
      "    shape = \",\".join(str(d) for d in value.shape)\n"
      "    print(name, \"[\" + shape + \"]\", \"%.17g\" % np.dot(flat, np.arange(1, flat.size + 1)))\n";
  for (const auto& [family, model_id] : {std::pair<std::string, int64_t>{"linear_ae", 5}, {"vae", 4}}) {
    const test::CommandResult result =
        run_python(path, "weights = gz.model_weights(path, \"" + family + "\", " + std::to_string(model_id) +
                             ")\n" + print_checksums);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output, weight_checksums(zoo.weights.at(family), model_id)) << family;
  }

  const test::CommandResult samples = run_python(
      path,
      "print([int(i) for i in gz.model_samples(path, 4)], [int(i) for i in gz.model_samples(path, 0)])\n"
      "models = gz.load_models(path)\n"
      "print([int(i) for i in models[\"id\"]], [str(s) for s in models[\"family\"]], "
      "models[\"counts\"].shape)\n"
      "print([\"%.17g\" % v for v in models[\"fid\"]], sorted(models))\n"
      "print(len(gz.featurenet_weights(path)[\"conv.weight\"]))\n");
  ASSERT_EQ(samples.exit_code, 0) << samples.output;
  EXPECT_EQ(
      samples.output,
      "[4000, 4007, 4014, 4021] []\n"
      "[0, 1, 2, 4, 5] ['linear_ae', 'vae', 'linear_ae', 'vae', 'linear_ae'] (5, 3)\n"
      "['nan', 'nan', 'nan', '123.25', 'nan'] ['counts', 'design', 'design_group', 'design_role', 'family', "
      "'fid', 'final_loss', 'id', 'init_group', 'kernel_isa', 'kl', 'lr', 'n_samples', 'probe_gap', 'proportions', "
      "'rank', "
      "'seed', 'status', 'test_loss', 'train_seconds']\n"
      "4\n");
}

TEST(ZooFile, PythonReadsEveryObjectWithoutGenzoo) {
  TempDir dir;
  const std::string path = dir.file("zoo.h5");
  write_zoo(path, make_zoo());
  // Every dataset and attribute must map onto a plain numpy type (no opaque or compound blobs).
  const test::CommandResult result = run_python(
      path,
      "kinds = set()\n"
      "def read(name, obj):\n"
      "    for value in obj.attrs.values():\n"
      "        kinds.add(np.asarray(value).dtype.kind)\n"
      "    if isinstance(obj, h5py.Dataset):\n"
      "        kinds.add(obj[()].dtype.kind)\n"
      "with h5py.File(path, \"r\") as f:\n"
      "    read(\"/\", f)\n"
      "    f.visititems(read)\n"
      "    print(sorted(kinds), f.attrs[\"job_name\"], f[\"featurenet\"].attrs[\"layout_json\"][:11])\n");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "['O', 'U', 'f', 'i', 'u'] quickstart [{\"name\": \"\n");
}

}  // namespace
}  // namespace genzoo
