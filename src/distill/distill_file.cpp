#include "distill/distill_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

#include "common/error.h"
#include "store/h5.h"
#include "store/zoo.h"

namespace genzoo::distill {

namespace {

constexpr const char* kKind = "distill";
using h5::Dims;
using h5::kAnyExtent;

template <typename T, typename Get>
std::vector<T> column(const std::vector<DistillResult>& results, Get get) {
  std::vector<T> out;
  out.reserve(results.size());
  for (const DistillResult& r : results) out.push_back(get(r));
  return out;
}

void write_contents(const h5::Group& root, const DistillData& data) {
  const DistillAttributes& a = data.attrs;
  root.write_attribute("kind", std::string(kKind));
  root.write_attribute("schema_version", static_cast<int32_t>(kDistillSchemaVersion));
  root.write_attribute("genzoo_version", a.genzoo_version);
  root.write_attribute("created_utc", a.created_utc);
  root.write_attribute("zoo_path", a.zoo_path);
  root.write_attribute("reduce_path", a.reduce_path);
  root.write_attribute("job_name", a.job_name);
  root.write_attribute("job_fingerprint", a.job_fingerprint);
  root.write_attribute("distill_config", a.distill_config);
  root.write_array_attribute("classes", a.classes);

  const h5::Group mixtures = root.create_group("mixtures");
  const hsize_t k = data.mixtures.empty() ? 0 : data.mixtures.front().size();
  std::vector<double> proportions;
  for (const auto& p : data.mixtures) {
    if (p.size() != k) throw StorageError(root.file_name() + ": mixtures of different class counts");
    proportions.insert(proportions.end(), p.begin(), p.end());
  }
  mixtures.write("proportions", proportions, {data.mixtures.size(), k});

  const auto& rs = data.results;
  const h5::Group results = root.create_group("results");
  results.write("unit", column<int64_t>(rs, [](const DistillResult& r) { return r.unit; }));
  results.write("mixture", column<int64_t>(rs, [](const DistillResult& r) { return r.mixture; }));
  results.write("n", column<int64_t>(rs, [](const DistillResult& r) { return r.n; }));
  results.write("seed", column<int64_t>(rs, [](const DistillResult& r) { return r.seed; }));
  results.write("family", column<std::string>(rs, [](const DistillResult& r) { return r.family; }));
  results.write("student", column<std::string>(rs, [](const DistillResult& r) { return r.student; }));
  results.write("method", column<std::string>(rs, [](const DistillResult& r) { return r.method; }));
  results.write("status", column<std::string>(rs, [](const DistillResult& r) { return r.status; }));
  results.write("prior", column<std::string>(rs, [](const DistillResult& r) { return r.prior; }));
  results.write("prior_steps", column<std::string>(rs, [](const DistillResult& r) { return r.prior_steps; }));
  results.write("test_loss", column<double>(rs, [](const DistillResult& r) { return r.test_loss; }));
  results.write("test_loss_sampled", column<double>(rs, [](const DistillResult& r) { return r.test_loss_sampled; }));
  results.write("train_loss", column<double>(rs, [](const DistillResult& r) { return r.train_loss; }));
  results.write("pixel_variance", column<double>(rs, [](const DistillResult& r) { return r.pixel_variance; }));
  results.write("prior_variance", column<double>(rs, [](const DistillResult& r) { return r.prior_variance; }));
  results.write("prior_scale", column<double>(rs, [](const DistillResult& r) { return r.prior_scale; }));
  results.write("train_seconds", column<double>(rs, [](const DistillResult& r) { return r.train_seconds; }));
  const hsize_t c = data.curve_steps.size();
  std::vector<double> curves;
  for (const DistillResult& r : rs) {
    if (r.curve.size() != c) throw StorageError(root.file_name() + ": a learning curve of " + std::to_string(r.curve.size()) +
                                                " points, expected " + std::to_string(c));
    curves.insert(curves.end(), r.curve.begin(), r.curve.end());
  }
  results.write("curve", curves, {rs.size(), c});
  results.write("curve_steps", data.curve_steps);

  const h5::Group students = root.create_group("students");
  for (const auto& [name, layout] : data.student_layouts) {
    const auto p = static_cast<hsize_t>(layout_size(layout));
    std::vector<float> weights, std;
    std::vector<int64_t> rows;
    for (size_t i = 0; i < rs.size(); ++i) {
      if (rs[i].student != name) continue;
      if (rs[i].weights.size() != p || (!rs[i].std.empty() && rs[i].std.size() != p)) {
        throw StorageError(root.file_name() + ": student " + name + " row " + std::to_string(i) + " has " +
                           std::to_string(rs[i].weights.size()) + " weights, its layout " + std::to_string(p));
      }
      rows.push_back(static_cast<int64_t>(i));
      weights.insert(weights.end(), rs[i].weights.begin(), rs[i].weights.end());
      if (rs[i].std.empty()) {
        std.insert(std.end(), p, 0.0f);
      } else {
        std.insert(std.end(), rs[i].std.begin(), rs[i].std.end());
      }
    }
    const h5::Group group = students.create_group(name);
    group.write("weights", weights, {rows.size(), p}, h5::Storage::kCompressed);
    group.write("std", std, {rows.size(), p}, h5::Storage::kCompressed);
    group.write("row", rows);
    write_layout(group, layout);
  }
}

h5::File open_distill(const std::string& path) { return h5::open_kind(path, kKind, kDistillSchemaVersion); }

}  // namespace

void write_distill(const std::string& path, const DistillData& data) {
  h5::write_file_atomically(path, [&](const h5::Group& root) { write_contents(root, data); });
}

DistillData read_distill(const std::string& path) {
  const h5::File file = open_distill(path);
  const h5::Group root = file.root();
  DistillData data;
  DistillAttributes& a = data.attrs;
  a.genzoo_version = root.read_attribute<std::string>("genzoo_version");
  a.created_utc = root.read_attribute<std::string>("created_utc");
  a.zoo_path = root.read_attribute<std::string>("zoo_path");
  a.reduce_path = root.read_attribute<std::string>("reduce_path");
  a.job_name = root.read_attribute<std::string>("job_name");
  a.job_fingerprint = root.read_attribute<std::string>("job_fingerprint");
  a.distill_config = root.read_attribute<std::string>("distill_config");
  a.classes = root.read_array_attribute<int64_t>("classes");

  Dims dims;
  const h5::Group mixtures = root.open_group("mixtures");
  const auto proportions = h5::read_shaped<double>(mixtures, "proportions", {kAnyExtent, kAnyExtent}, &dims);
  for (hsize_t x = 0; x < dims[0]; ++x) {
    data.mixtures.emplace_back(proportions.begin() + x * dims[1], proportions.begin() + (x + 1) * dims[1]);
  }

  const h5::Group results = root.open_group("results");
  const auto unit = h5::read_shaped<int64_t>(results, "unit", {kAnyExtent}, &dims);
  const hsize_t r = dims[0];
  const auto ints = [&](const char* name) { return h5::read_shaped<int64_t>(results, name, {r}); };
  const auto texts = [&](const char* name) { return h5::read_shaped<std::string>(results, name, {r}); };
  const auto reals = [&](const char* name) { return h5::read_shaped<double>(results, name, {r}); };
  const auto mixture = ints("mixture"), n = ints("n"), seed = ints("seed");
  const auto family = texts("family"), student = texts("student"), method = texts("method"), status = texts("status"),
             prior = texts("prior"), prior_steps = texts("prior_steps");
  const auto test_loss = reals("test_loss"), test_loss_sampled = reals("test_loss_sampled"), train_loss = reals("train_loss"),
             pixel_variance = reals("pixel_variance"), prior_variance = reals("prior_variance"), prior_scale = reals("prior_scale"),
             train_seconds = reals("train_seconds");
  data.curve_steps = h5::read_shaped<int64_t>(results, "curve_steps", {kAnyExtent}, &dims);
  const hsize_t c = dims[0];
  const auto curves = h5::read_shaped<double>(results, "curve", {r, c});
  for (hsize_t i = 0; i < r; ++i) {
    DistillResult row;
    row.unit = unit[i];
    row.mixture = mixture[i];
    row.n = n[i];
    row.seed = seed[i];
    row.family = family[i];
    row.student = student[i];
    row.method = method[i];
    row.status = status[i];
    row.prior = prior[i];
    row.prior_steps = prior_steps[i];
    row.test_loss = test_loss[i];
    row.test_loss_sampled = test_loss_sampled[i];
    row.train_loss = train_loss[i];
    row.pixel_variance = pixel_variance[i];
    row.prior_variance = prior_variance[i];
    row.prior_scale = prior_scale[i];
    row.train_seconds = train_seconds[i];
    row.curve.assign(curves.begin() + i * c, curves.begin() + (i + 1) * c);
    if (row.mixture < 0 || row.mixture >= static_cast<int64_t>(data.mixtures.size())) {
      throw StorageError(path + ": /results/mixture[" + std::to_string(i) + "] = " + std::to_string(row.mixture) +
                         " is not a mixture of /mixtures");
    }
    data.results.push_back(std::move(row));
  }

  const h5::Group students = root.open_group("students");
  for (const std::string& name : students.names()) {
    const h5::Group group = students.open_group(name);
    Layout layout = read_layout(group);
    const auto p = static_cast<hsize_t>(layout_size(layout));
    const auto rows = h5::read_shaped<int64_t>(group, "row", {kAnyExtent}, &dims);
    const hsize_t count = dims[0];
    const auto weights = h5::read_shaped<float>(group, "weights", {count, p});
    const auto std = h5::read_shaped<float>(group, "std", {count, p});
    for (hsize_t i = 0; i < count; ++i) {
      if (rows[i] < 0 || rows[i] >= static_cast<int64_t>(r) || data.results[rows[i]].student != name) {
        throw StorageError(path + ": /students/" + name + "/row[" + std::to_string(i) + "] = " + std::to_string(rows[i]) +
                           " is not a result row of that student");
      }
      DistillResult& row = data.results[rows[i]];
      row.weights.assign(weights.begin() + i * p, weights.begin() + (i + 1) * p);
      const bool variational = std::any_of(std.begin() + i * p, std.begin() + (i + 1) * p, [](float v) { return v != 0.0f; });
      if (variational) row.std.assign(std.begin() + i * p, std.begin() + (i + 1) * p);
    }
    data.student_layouts[name] = std::move(layout);
  }
  return data;
}

std::string format_distill_table(const DistillData& data) {
  // (student, n, method) -> test losses over mixtures and seeds.
  std::map<std::tuple<std::string, int64_t, std::string>, std::vector<double>> groups;
  std::set<std::string> method_set;
  for (const DistillResult& r : data.results) {
    if (r.status != "ok") continue;
    groups[{r.student, r.n, r.method}].push_back(r.test_loss);
    method_set.insert(r.method);
  }
  const auto mean_sd = [](const std::vector<double>& v) {
    double mean = 0.0, sq = 0.0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (double x : v) sq += (x - mean) * (x - mean);
    return std::make_pair(mean, v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0);
  };
  std::string out = "test loss (autoencoders: MSE; mlp: cross-entropy, nats), mean ± sd over mixtures and seeds (and relative to scratch)\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %6s  %-10s %-20s %s\n", "student", "n", "method", "test_loss", "vs scratch");
  out += line;
  for (const auto& [key, losses] : groups) {
    const auto& [student, n, method] = key;
    const auto [mean, sd] = mean_sd(losses);
    std::string relative = "";
    const auto scratch = groups.find({student, n, "scratch"});
    if (scratch != groups.end()) {
      const double base = mean_sd(scratch->second).first;
      char text[32];
      std::snprintf(text, sizeof text, "%+.1f%%", 100.0 * (mean / base - 1.0));
      relative = text;
    }
    std::snprintf(line, sizeof line, "%-24s %6lld  %-10s %.5f ± %.5f   %s\n", student.c_str(), static_cast<long long>(n),
                  method.c_str(), mean, sd, relative.c_str());
    out += line;
  }
  return out;
}

}  // namespace genzoo::distill
