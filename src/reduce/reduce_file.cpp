#include "reduce/reduce_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/error.h"
#include "common/text.h"
#include "store/h5.h"
#include "store/zoo.h"

namespace genzoo {

namespace {

using h5::Dims;
using h5::kAnyExtent;
using h5::Storage;
using h5::read_shaped;

constexpr const char* kKind = "reduce";

// The metric attributes of an embedding group, in print order.
const std::pair<const char*, double EmbeddingMetrics::*> kMetricAttributes[] = {
    {"angular_error_deg", &EmbeddingMetrics::angular_error_deg},
    {"hellinger_spearman", &EmbeddingMetrics::hellinger_spearman},
    {"additivity_rel_error", &EmbeddingMetrics::additivity_rel_error},
    {"order_violation_rate", &EmbeddingMetrics::order_violation_rate},
    {"cophenetic_corr", &EmbeddingMetrics::cophenetic_corr},
    {"validation_angular_error_deg", &EmbeddingMetrics::validation_angular_error_deg},
};
const std::pair<const char*, int64_t EmbeddingMetrics::*> kMetricCounts[] = {
    {"test_models", &EmbeddingMetrics::test_models},
    {"test_triplets", &EmbeddingMetrics::test_triplets},
    {"test_chains", &EmbeddingMetrics::test_chains},
};

h5::Group open_or_create(const h5::Group& parent, const std::string& name) {
  return parent.has(name) ? parent.open_group(name) : parent.create_group(name);
}

// ---- writing

void write_features(const h5::Group& root, const ReduceData& data) {
  const h5::Group features_group = root.create_group("features");
  for (const auto& [name, by_family] : data.features) {
    int64_t width = 0;
    for (const auto& [family, matrix] : by_family) {
      if (static_cast<int64_t>(matrix.data.size()) != matrix.rows() * matrix.dim) {
        throw features_group.error(name + "/" + family + ": " + std::to_string(matrix.data.size()) + " values for " +
                                   std::to_string(matrix.rows()) + " rows of " + std::to_string(matrix.dim));
      }
      width = std::max(width, matrix.dim);
    }
    std::vector<float> padded;
    std::vector<int64_t> ids, dims;
    std::vector<std::string> families;
    for (const auto& [family, matrix] : by_family) {
      for (int64_t r = 0; r < matrix.rows(); ++r) {
        padded.insert(padded.end(), matrix.row(r), matrix.row(r) + matrix.dim);
        padded.insert(padded.end(), width - matrix.dim, 0.0f);
        ids.push_back(matrix.model_ids[r]);
        dims.push_back(matrix.dim);
        families.push_back(family);
      }
    }
    const h5::Group group = features_group.create_group(name);
    group.write("data", padded, {ids.size(), static_cast<hsize_t>(width)}, Storage::kCompressed);
    group.write("model_id", ids);
    group.write("family", families);
    group.write("dim", dims);
    group.write_attribute("padded", std::string("a family's features fill the first dim columns of its rows; "
                                                "the rest is zero (feature sets compare only within a family)"));
    const auto description = data.feature_descriptions.find(name);
    group.write_attribute("description", description == data.feature_descriptions.end() ? std::string() : description->second);
  }
}

void write_scores(const h5::Group& group, const ProbeScores& s) {
  group.write_attribute("precision", s.precision);
  group.write_attribute("recall", s.recall);
  group.write_attribute("accuracy", s.accuracy);
}

void write_probes(const h5::Group& root, const ReduceData& data) {
  const h5::Group probe_group = root.create_group("probe");
  std::map<std::pair<std::string, std::string>, const ProbeRecord*> best;
  for (const ProbeRecord& record : data.probes) {
    const h5::Group feature = open_or_create(open_or_create(probe_group, record.family), record.feature);
    const h5::Group group = feature.create_group(record.classifier);
    write_scores(group, record.scores);
    group.write_attribute("folds", record.scores.folds);
    group.write_attribute("models_a", record.scores.negatives);
    group.write_attribute("models_b", record.scores.positives);
    group.write("gap", record.gaps);
    group.write("gap_precision", record.gap_precision);
    group.write("gap_recall", record.gap_recall);
    const auto f1 = [](const ProbeScores& s) {
      return s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    };
    const ProbeRecord*& current = best[{record.family, record.feature}];
    if (!current || f1(record.scores) > f1(current->scores)) current = &record;
  }
  for (const auto& [key, record] : best) {
    const h5::Group feature = probe_group.open_group(key.first).open_group(key.second);
    write_scores(feature, record->scores);
    feature.write_attribute("best_classifier", record->classifier);
  }
}

void write_embeddings(const h5::Group& root, const ReduceData& data) {
  const h5::Group embedding_group = root.create_group("embedding");
  for (const EmbeddingRecord& record : data.embeddings) {
    const EmbeddingResult& r = record.result;
    const h5::Group group = open_or_create(embedding_group, record.family).create_group(record.feature);
    const hsize_t rows = r.model_ids.size(), k = r.classes;
    group.write("model_id", r.model_ids);
    group.write("z", r.z, {rows, k});
    group.write("u", r.u, {rows, k});
    group.write("split", r.split);
    group.write_attribute("split_roles", std::string("0 train, 1 validation, 2 test"));
    for (const auto& [name, member] : kMetricAttributes) group.write_attribute(name, r.metrics.*member);
    for (const auto& [name, member] : kMetricCounts) group.write_attribute(name, r.metrics.*member);
  }
  for (const auto& [family, feature] : data.selected_features) {
    open_or_create(embedding_group, family).write_attribute("selected_feature", feature);
  }
  for (const auto& [family, why] : data.not_embedded) {
    open_or_create(embedding_group, family).write_attribute("not_embedded", why);
  }
}

void write_hierarchies(const h5::Group& root, const ReduceData& data) {
  const h5::Group hierarchy_group = root.create_group("hierarchy");
  for (const HierarchyRecord& record : data.hierarchies) {
    const h5::Group group = hierarchy_group.create_group(record.family);
    const Dendrogram& d = record.dendrogram;
    group.write("linkage", d.linkage, {static_cast<hsize_t>(d.leaves - 1), 4});
    group.write("model_id", record.model_ids);
    std::vector<int64_t> offsets = {0}, members;
    for (const auto& node : d.members) {
      for (int64_t leaf : node) members.push_back(record.model_ids[leaf]);
      offsets.push_back(static_cast<int64_t>(members.size()));
    }
    group.write("member_offsets", offsets);
    group.write("members", members, {}, Storage::kCompressed);
    group.write_attribute("feature", record.feature);
    group.write_attribute("method", std::string("average linkage (UPGMA) on Euclidean distances of predicted shapes u"));
  }
}

void write_information(const h5::Group& root, const ReduceData& data) {
  const h5::Group information_group = root.create_group("information");
  for (const InformationRecord& record : data.information) {
    const h5::Group group = open_or_create(information_group, record.family).create_group(record.feature);
    group.write_attribute("mi_nats", record.mi_nats);
    group.write_attribute("k", record.k);
    group.write_attribute("models", record.models);
    group.write_attribute("components", record.components);
    std::vector<std::string> names;
    for (const auto& [estimator, nats] : record.estimates) {
      group.write_attribute("mi_" + estimator + "_nats", nats);
      names.push_back(estimator);
    }
    group.write_attribute("estimators", join(names, "; "));
    if (record.estimates.count("flow")) group.write_attribute("mi_flow_heldout_nats", record.flow_heldout_nats);
    if (record.estimates.count("ksg_autoencoder")) group.write_attribute("autoencoder_mse", record.autoencoder_mse);
  }
}

void write_theorem(const h5::Group& root, const ReduceData& data) {
  if (data.theorem.empty()) return;
  const h5::Group theorem_group = root.create_group("theorem");
  for (const TheoremRecord& record : data.theorem) {
    const h5::Group group = theorem_group.create_group(record.family);
    group.write("model_id", record.model_ids);
    group.write("m", record.m);
    group.write("weight_closed", record.check.weight_closed);
    group.write("weight_residual", record.check.weight_residual);
    group.write("singular_closed", record.check.singular_closed);
    group.write_attribute("subset_closed", record.check.subset_closed);
    group.write_attribute("s_ksg", record.check.s_ksg);
    group.write_attribute("s_flow", record.check.s_flow);
    group.write_attribute("p_ksg", record.check.p_ksg);
    group.write_attribute("p_flow", record.check.p_flow);
    group.write_attribute("pool", record.pool);
    group.write_attribute("inclusion", record.inclusion);
    group.write_attribute("dimension", record.dimension);
    group.write_attribute("code", record.code);
  }
}

void write_gaussian(const h5::Group& group, const priors::StoredGaussian& g, const Layout& layout) {
  const hsize_t p = static_cast<hsize_t>(g.size()), r = static_cast<hsize_t>(g.rank);
  group.write("mean", g.mean, {}, Storage::kCompressed);
  group.write("diag", g.diag, {}, Storage::kCompressed);
  group.write("factor", g.factor, {p, r}, r > 0 ? Storage::kCompressed : Storage::kContiguous);
  group.write_attribute("rank", g.rank);
  write_layout(group, layout);
}

priors::StoredGaussian read_gaussian(const h5::Group& group, Layout& layout) {
  priors::StoredGaussian g;
  g.mean = read_shaped<float>(group, "mean", {kAnyExtent});
  const hsize_t p = g.mean.size();
  g.diag = read_shaped<float>(group, "diag", {p});
  Dims dims;
  g.factor = read_shaped<float>(group, "factor", {p, kAnyExtent}, &dims);
  g.rank = static_cast<int64_t>(dims[1]);
  layout = read_layout(group);
  if (layout_size(layout) != static_cast<int64_t>(p)) {
    throw group.error("a prior over " + std::to_string(p) + " weights with a layout of " + std::to_string(layout_size(layout)));
  }
  for (hsize_t i = 0; i < p; ++i) {
    if (!(g.diag[i] > 0.0f) || !std::isfinite(g.diag[i])) throw group.error("diag[" + std::to_string(i) + "] is not positive");
  }
  return g;
}

void write_priors(const h5::Group& root, const ReduceData& data) {
  if (data.priors.empty() && data.prior_checks.empty()) return;
  const h5::Group priors_group = root.create_group("priors");
  priors_group.write_attribute("settings", data.prior_settings);
  for (const priors::PriorRecord& record : data.priors) {
    const h5::Group group = open_or_create(priors_group, record.family).create_group(record.name);
    write_gaussian(group, record.gaussian, record.layout);
    group.write("member_ids", record.member_ids);
    group.write("proportions", record.proportions);
    std::vector<double> shape;
    for (double q : record.proportions) shape.push_back(std::sqrt(std::max(q, 0.0)));
    group.write("shape", shape);
    group.write_attribute("kind", record.kind);
    group.write_attribute("cluster", record.cluster);
    group.write_attribute("init_group", record.init_group);
    group.write_attribute("model_id", record.model_id);
    group.write_attribute("shrinkage", record.shrinkage);
    group.write_attribute("diag_floor", record.diag_floor);
    if (record.aligned.empty()) continue;
    const h5::Group aligned_group = group.create_group("aligned");
    for (const priors::AlignedRecord& aligned : record.aligned) {
      const h5::Group student = aligned_group.create_group(aligned.student);
      write_gaussian(student, aligned.gaussian, aligned.layout);
      student.write_attribute("student", aligned.student);
      student.write_attribute("order", aligned.order);
      student.write_attribute("steps", join(aligned.steps, "; "));
    }
  }
  for (const priors::PriorCheckRecord& check : data.prior_checks) {
    const h5::Group group = open_or_create(priors_group, check.family).create_group("check");
    group.write("model_id", check.model_ids);
    group.write("node", check.nodes);
    group.write("log_node", check.log_node);
    group.write("log_root", check.log_root);
    group.write("log_isotropic", check.log_isotropic);
    group.write_attribute("held_out", static_cast<int64_t>(check.model_ids.size()));
    group.write_attribute("beats_root", check.beats_root());
    group.write_attribute("beats_isotropic", check.beats_isotropic());
  }
}

// The steps attribute: "phi(code, 13); phi(code, 2); ..." back into its steps.
std::vector<std::string> split_steps(const std::string& text) {
  std::vector<std::string> steps;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find("; ", start), text.size());
    if (end > start) steps.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return steps;
}

void read_priors(const h5::Group& root, ReduceData& data) {
  if (!root.has("priors")) return;  // files before the priors, or a run without any
  const h5::Group priors_group = root.open_group("priors");
  if (priors_group.has_attribute("settings")) data.prior_settings = priors_group.read_attribute<std::string>("settings");
  for (const std::string& family : priors_group.names()) {
    const h5::Group family_group = priors_group.open_group(family);
    for (const std::string& name : family_group.names()) {
      const h5::Group group = family_group.open_group(name);
      if (name == "check") {
        priors::PriorCheckRecord check;
        check.family = family;
        check.model_ids = read_shaped<int64_t>(group, "model_id", {kAnyExtent});
        const hsize_t n = check.model_ids.size();
        check.nodes = read_shaped<std::string>(group, "node", {n});
        check.log_node = read_shaped<double>(group, "log_node", {n});
        check.log_root = read_shaped<double>(group, "log_root", {n});
        check.log_isotropic = read_shaped<double>(group, "log_isotropic", {n});
        data.prior_checks.push_back(std::move(check));
        continue;
      }
      priors::PriorRecord record;
      record.family = family;
      record.name = name;
      record.gaussian = read_gaussian(group, record.layout);
      record.member_ids = read_shaped<int64_t>(group, "member_ids", {kAnyExtent});
      record.proportions = read_shaped<double>(group, "proportions", {kAnyExtent});
      record.kind = group.read_attribute<std::string>("kind");
      record.cluster = group.read_attribute<int64_t>("cluster");
      record.init_group = group.read_attribute<int64_t>("init_group");
      record.model_id = group.read_attribute<int64_t>("model_id");
      record.shrinkage = group.read_attribute<double>("shrinkage");
      record.diag_floor = group.read_attribute<double>("diag_floor");
      if (group.has("aligned")) {
        const h5::Group aligned_group = group.open_group("aligned");
        for (const std::string& student : aligned_group.names()) {
          const h5::Group s = aligned_group.open_group(student);
          priors::AlignedRecord aligned;
          aligned.student = s.read_attribute<std::string>("student");
          aligned.order = s.read_attribute<std::string>("order");
          aligned.steps = split_steps(s.read_attribute<std::string>("steps"));
          aligned.gaussian = read_gaussian(s, aligned.layout);
          record.aligned.push_back(std::move(aligned));
        }
      }
      data.priors.push_back(std::move(record));
    }
  }
}

void write_contents(const h5::Group& root, const ReduceData& data) {
  const ReduceAttributes& a = data.attrs;
  root.write_attribute("kind", std::string(kKind));
  root.write_attribute("schema_version", int32_t{kReduceSchemaVersion});
  root.write_attribute("genzoo_version", a.genzoo_version);
  root.write_attribute("created_utc", a.created_utc);
  root.write_attribute("zoo_path", a.zoo_path);
  root.write_attribute("job_name", a.job_name);
  root.write_attribute("job_fingerprint", a.job_fingerprint);
  root.write_array_attribute("classes", a.classes);
  root.write_attribute("reduce_config", a.reduce_config);
  write_features(root, data);
  write_probes(root, data);
  write_embeddings(root, data);
  write_hierarchies(root, data);
  write_information(root, data);
  write_theorem(root, data);
  write_priors(root, data);
}

// ---- reading

void read_features(const h5::Group& root, ReduceData& data) {
  const h5::Group features_group = root.open_group("features");
  for (const std::string& name : features_group.names()) {
    const h5::Group group = features_group.open_group(name);
    const std::vector<int64_t> ids = read_shaped<int64_t>(group, "model_id", {kAnyExtent});
    const hsize_t rows = ids.size();
    Dims dims;
    const std::vector<float> padded = read_shaped<float>(group, "data", {rows, kAnyExtent}, &dims);
    const std::vector<std::string> families = read_shaped<std::string>(group, "family", {rows});
    const std::vector<int64_t> widths = read_shaped<int64_t>(group, "dim", {rows});
    data.feature_descriptions[name] = group.read_attribute<std::string>("description");
    for (hsize_t r = 0; r < rows; ++r) {
      if (widths[r] < 0 || static_cast<hsize_t>(widths[r]) > dims[1]) throw group.error("dim of row " + std::to_string(r) + " exceeds the data's width");
      FeatureMatrix& matrix = data.features[name][families[r]];
      if (matrix.model_ids.empty()) {
        matrix.name = name;
        matrix.family = families[r];
        matrix.dim = widths[r];
      } else if (matrix.dim != widths[r]) {
        throw group.error("rows of family " + families[r] + " have different dims");
      }
      matrix.model_ids.push_back(ids[r]);
      matrix.data.insert(matrix.data.end(), padded.begin() + r * dims[1], padded.begin() + r * dims[1] + widths[r]);
    }
  }
}

ProbeScores read_scores(const h5::Group& group) {
  ProbeScores s;
  s.precision = group.read_attribute<double>("precision");
  s.recall = group.read_attribute<double>("recall");
  s.accuracy = group.read_attribute<double>("accuracy");
  return s;
}

void read_probes(const h5::Group& root, ReduceData& data) {
  const h5::Group probe_group = root.open_group("probe");
  for (const std::string& family : probe_group.names()) {
    const h5::Group family_group = probe_group.open_group(family);
    for (const std::string& feature : family_group.names()) {
      const h5::Group feature_group = family_group.open_group(feature);
      for (const std::string& classifier : feature_group.names()) {
        const h5::Group group = feature_group.open_group(classifier);
        ProbeRecord record{family, feature, classifier, read_scores(group), {}, {}, {}};
        record.scores.folds = group.read_attribute<int64_t>("folds");
        record.scores.negatives = group.read_attribute<int64_t>("models_a");
        record.scores.positives = group.read_attribute<int64_t>("models_b");
        record.gaps = read_shaped<double>(group, "gap", {kAnyExtent});
        const hsize_t gaps = record.gaps.size();
        record.gap_precision = read_shaped<double>(group, "gap_precision", {gaps});
        record.gap_recall = read_shaped<double>(group, "gap_recall", {gaps});
        data.probes.push_back(std::move(record));
      }
    }
  }
}

void read_embeddings(const h5::Group& root, ReduceData& data) {
  const h5::Group embedding_group = root.open_group("embedding");
  for (const std::string& family : embedding_group.names()) {
    const h5::Group family_group = embedding_group.open_group(family);
    if (family_group.has_attribute("selected_feature")) {
      data.selected_features[family] = family_group.read_attribute<std::string>("selected_feature");
    }
    if (family_group.has_attribute("not_embedded")) {
      data.not_embedded[family] = family_group.read_attribute<std::string>("not_embedded");
    }
    for (const std::string& feature : family_group.names()) {
      const h5::Group group = family_group.open_group(feature);
      EmbeddingRecord record{family, feature, {}};
      EmbeddingResult& r = record.result;
      r.model_ids = read_shaped<int64_t>(group, "model_id", {kAnyExtent});
      const hsize_t rows = r.model_ids.size();
      Dims dims;
      r.z = read_shaped<double>(group, "z", {rows, kAnyExtent}, &dims);
      r.classes = static_cast<int64_t>(dims[1]);
      r.u = read_shaped<double>(group, "u", {rows, dims[1]});
      r.split = read_shaped<int32_t>(group, "split", {rows});
      for (const auto& [name, member] : kMetricAttributes) r.metrics.*member = group.read_attribute<double>(name);
      for (const auto& [name, member] : kMetricCounts) r.metrics.*member = group.read_attribute<int64_t>(name);
      data.embeddings.push_back(std::move(record));
    }
  }
}

void read_hierarchies(const h5::Group& root, ReduceData& data) {
  const h5::Group hierarchy_group = root.open_group("hierarchy");
  for (const std::string& family : hierarchy_group.names()) {
    const h5::Group group = hierarchy_group.open_group(family);
    HierarchyRecord record;
    record.family = family;
    record.feature = group.read_attribute<std::string>("feature");
    record.model_ids = read_shaped<int64_t>(group, "model_id", {kAnyExtent});
    const hsize_t leaves = record.model_ids.size();
    if (leaves < 2) throw group.error("a dendrogram needs at least 2 leaves");
    record.dendrogram.leaves = static_cast<int64_t>(leaves);
    record.dendrogram.linkage = read_shaped<double>(group, "linkage", {leaves - 1, 4});
    const std::vector<int64_t> offsets = read_shaped<int64_t>(group, "member_offsets", {leaves});
    const std::vector<int64_t> members = read_shaped<int64_t>(group, "members", {kAnyExtent});
    std::map<int64_t, int64_t> leaf_of;
    for (hsize_t i = 0; i < leaves; ++i) leaf_of[record.model_ids[i]] = static_cast<int64_t>(i);
    for (hsize_t node = 0; node + 1 < leaves; ++node) {
      if (offsets[node] > offsets[node + 1] || offsets[node + 1] > static_cast<int64_t>(members.size())) {
        throw group.error("member_offsets is not a CSR index into members");
      }
      std::vector<int64_t> leaves_of_node;
      for (int64_t m = offsets[node]; m < offsets[node + 1]; ++m) leaves_of_node.push_back(leaf_of.at(members[m]));
      record.dendrogram.members.push_back(std::move(leaves_of_node));
    }
    data.hierarchies.push_back(std::move(record));
  }
}

void read_information(const h5::Group& root, ReduceData& data) {
  const h5::Group information_group = root.open_group("information");
  for (const std::string& family : information_group.names()) {
    const h5::Group family_group = information_group.open_group(family);
    for (const std::string& feature : family_group.names()) {
      const h5::Group group = family_group.open_group(feature);
      InformationRecord record{family, feature};
      record.mi_nats = group.read_attribute<double>("mi_nats");
      record.k = group.read_attribute<int64_t>("k");
      record.models = group.read_attribute<int64_t>("models");
      record.components = group.read_attribute<int64_t>("components");
      // Files before the other estimators have no list (and only mi_nats).
      const std::string estimators = group.has_attribute("estimators") ? group.read_attribute<std::string>("estimators") : "";
      for (const std::string& estimator : split(estimators, "; ")) {
        if (estimator.empty()) continue;
        record.estimates[estimator] = group.read_attribute<double>("mi_" + estimator + "_nats");
      }
      if (record.estimates.count("flow")) record.flow_heldout_nats = group.read_attribute<double>("mi_flow_heldout_nats");
      if (record.estimates.count("ksg_autoencoder")) record.autoencoder_mse = group.read_attribute<double>("autoencoder_mse");
      data.information.push_back(std::move(record));
    }
  }
}

void read_theorem(const h5::Group& root, ReduceData& data) {
  if (!root.has("theorem")) return;
  const h5::Group theorem_group = root.open_group("theorem");
  for (const std::string& family : theorem_group.names()) {
    const h5::Group group = theorem_group.open_group(family);
    TheoremRecord record;
    record.family = family;
    record.model_ids = read_shaped<int64_t>(group, "model_id", {kAnyExtent});
    const hsize_t n = record.model_ids.size();
    record.m = read_shaped<int64_t>(group, "m", {n});
    record.check.weight_closed = read_shaped<double>(group, "weight_closed", {n});
    record.check.weight_residual = read_shaped<double>(group, "weight_residual", {n});
    record.check.singular_closed = read_shaped<double>(group, "singular_closed", {n});
    record.check.subset_closed = group.read_attribute<double>("subset_closed");
    record.check.s_ksg = group.read_attribute<double>("s_ksg");
    record.check.s_flow = group.read_attribute<double>("s_flow");
    record.check.p_ksg = group.read_attribute<double>("p_ksg");
    record.check.p_flow = group.read_attribute<double>("p_flow");
    record.pool = group.read_attribute<int64_t>("pool");
    record.inclusion = group.read_attribute<double>("inclusion");
    record.dimension = group.read_attribute<int64_t>("dimension");
    record.code = group.read_attribute<int64_t>("code");
    data.theorem.push_back(std::move(record));
  }
}

h5::File open_reduce(const std::string& path) { return h5::open_kind(path, kKind, kReduceSchemaVersion); }

}  // namespace

void write_reduce(const std::string& path, const ReduceData& data) {
  h5::write_file_atomically(path, [&](const h5::Group& root) { write_contents(root, data); });
}

ReduceData read_reduce(const std::string& path) {
  const h5::File file = open_reduce(path);
  const h5::Group root = file.root();
  ReduceData data;
  ReduceAttributes& a = data.attrs;
  a.schema_version = root.read_attribute<int32_t>("schema_version");
  a.genzoo_version = root.read_attribute<std::string>("genzoo_version");
  a.created_utc = root.read_attribute<std::string>("created_utc");
  a.zoo_path = root.read_attribute<std::string>("zoo_path");
  a.job_name = root.read_attribute<std::string>("job_name");
  a.job_fingerprint = root.read_attribute<std::string>("job_fingerprint");
  a.classes = root.read_array_attribute<int64_t>("classes");
  if (root.has_attribute("reduce_config")) a.reduce_config = root.read_attribute<std::string>("reduce_config");
  read_features(root, data);
  read_probes(root, data);
  read_embeddings(root, data);
  read_hierarchies(root, data);
  read_information(root, data);
  read_theorem(root, data);
  read_priors(root, data);
  return data;
}

bool is_reduce_file(const std::string& path) {
  if (!h5::is_hdf5(path)) return false;
  h5::File file(path, h5::File::Mode::kReadOnly);
  const h5::Group root = file.root();
  return root.has_attribute("kind") && root.read_attribute<std::string>("kind") == kKind;
}

namespace {
std::string number(double value, const char* format = "%.3f") {
  if (std::isnan(value)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}
}  // namespace

// Seed 000's theorem per family of a gaussian-source zoo.
std::string theorem_tables(const ReduceData& data) {
  std::string out;
  char line[768];
  for (const TheoremRecord& t : data.theorem) {
    const auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.empty() ? NAN : v[v.size() / 2];
    };
    double mean_m = 0.0;
    for (int64_t m : t.m) mean_m += static_cast<double>(m) / static_cast<double>(t.m.size());
    std::snprintf(line, sizeof line,
                  "\nseed 000's theorem, %s (%zu models, d = %lld, k = %lld, n = %lld, p = %g, mean m = %.1f), nats:\n"
                  "  closed forms: (1) n p H(x) %s   (2) median %s (on d - k directions %s)   (3) median %s\n"
                  "  over the zoo:  I(X1; s) KSG %s, flow %s   I(X1; W2 W1) KSG %s, flow %s\n",
                  t.family.c_str(), t.model_ids.size(), static_cast<long long>(t.dimension), static_cast<long long>(t.code),
                  static_cast<long long>(t.pool), t.inclusion, mean_m, number(t.check.subset_closed, "%.1f").c_str(),
                  number(median(t.check.weight_closed), "%.1f").c_str(), number(median(t.check.weight_residual), "%.1f").c_str(),
                  number(median(t.check.singular_closed), "%.1f").c_str(), number(t.check.s_ksg).c_str(),
                  number(t.check.s_flow).c_str(), number(t.check.p_ksg).c_str(), number(t.check.p_flow).c_str());
    out += line;
  }
  return out;
}


std::string format_reduce_tables(const ReduceData& data) {
  std::string out;
  char line[512];
  const ReduceAttributes& a = data.attrs;
  std::snprintf(line, sizeof line, "reduce of %s (job %s, fingerprint %s), genzoo %s, created %s\n", a.zoo_path.c_str(),
                a.job_name.c_str(), a.job_fingerprint.c_str(), a.genzoo_version.c_str(), a.created_utc.c_str());
  out += line;
  // A gaussian-source zoo gets the theorem check only.
  if (!data.theorem.empty() && data.features.empty()) return out + theorem_tables(data);

  out += "\nfeatures:\n";
  for (const auto& [name, by_family] : data.features) {
    for (const auto& [family, matrix] : by_family) {
      std::snprintf(line, sizeof line, "  %-12s %-10s %5lld models x %5lld\n", name.c_str(), family.c_str(),
                    static_cast<long long>(matrix.rows()), static_cast<long long>(matrix.dim));
      out += line;
    }
  }

  out += "\ndataset-identification probe (k-fold CV; positive = dataset B; seed 000: linear 0.79/1.00, conv 0.55/0.78):\n";
  std::snprintf(line, sizeof line, "  %-10s %-12s %-9s %9s %9s %9s %5s  %s\n", "family", "feature", "classifier", "precision",
                "recall", "accuracy", "folds", "recall by gap");
  out += line;
  for (const ProbeRecord& p : data.probes) {
    std::string by_gap;
    for (size_t g = 0; g < p.gaps.size(); ++g) by_gap += (g ? "  " : "") + number(p.gaps[g], "%.2f") + ":" + number(p.gap_recall[g], "%.2f");
    std::snprintf(line, sizeof line, "  %-10s %-12s %-9s %9s %9s %9s %5lld  %s\n", p.family.c_str(), p.feature.c_str(),
                  p.classifier.c_str(), number(p.scores.precision).c_str(), number(p.scores.recall).c_str(),
                  number(p.scores.accuracy).c_str(), static_cast<long long>(p.scores.folds), by_gap.c_str());
    out += line;
  }
  if (data.probes.empty()) out += "  (no family has probe models of two datasets)\n";

  out += "\nembedding (test models; targets: angle <= 5 deg, spearman >= 0.9, additivity <= 0.10, order <= 0.05, "
         "cophenetic >= 0.8):\n";
  std::snprintf(line, sizeof line, "  %-10s %-12s %5s %9s %9s %10s %9s %10s %8s\n", "family", "feature", "test", "angle_deg",
                "spearman", "additivity", "order_vio", "cophenetic", "val_deg");
  out += line;
  for (const EmbeddingRecord& e : data.embeddings) {
    const EmbeddingMetrics& m = e.result.metrics;
    const auto selected = data.selected_features.find(e.family);
    const bool chosen = selected != data.selected_features.end() && selected->second == e.feature;
    std::snprintf(line, sizeof line, "  %-10s %-12s %5lld %9s %9s %10s %9s %10s %8s%s\n", e.family.c_str(), e.feature.c_str(),
                  static_cast<long long>(m.test_models), number(m.angular_error_deg, "%.2f").c_str(),
                  number(m.hellinger_spearman).c_str(), number(m.additivity_rel_error).c_str(),
                  number(m.order_violation_rate).c_str(), number(m.cophenetic_corr).c_str(),
                  number(m.validation_angular_error_deg, "%.2f").c_str(), chosen ? "  *" : "");
    out += line;
  }
  out += "  (* selected per family by validation angle; its dendrogram is /hierarchy/<family>)\n";
  for (const auto& [family, why] : data.not_embedded) out += "  " + family + ": not embedded: " + why + "\n";

  out += "\nhierarchy:\n";
  for (const HierarchyRecord& h : data.hierarchies) {
    const double top = h.dendrogram.linkage.empty() ? NAN : h.dendrogram.linkage[h.dendrogram.linkage.size() - 2];
    std::snprintf(line, sizeof line, "  %-10s %lld leaves, root height %s (feature %s)\n", h.family.c_str(),
                  static_cast<long long>(h.dendrogram.leaves), number(top).c_str(), h.feature.c_str());
    out += line;
  }

  out += "\nmutual information I(proportions; features) in nats (ksg_pca: KSG on the principal components):\n";
  for (const InformationRecord& i : data.information) {
    std::string others;
    for (const auto& [estimator, nats] : i.estimates) {
      if (estimator != "ksg_pca") others += "  " + estimator + " " + number(nats);
    }
    std::snprintf(line, sizeof line, "  %-10s %-12s ksg_pca %8s%s  (%lld models, %lld components, k = %lld)\n", i.family.c_str(),
                  i.feature.c_str(), number(i.mi_nats).c_str(), others.c_str(), static_cast<long long>(i.models),
                  static_cast<long long>(i.components), static_cast<long long>(i.k));
    out += line;
  }

  out += theorem_tables(data);

  if (data.priors.empty()) return out;
  out += "\npriors N(m, D + F F^T) (" + data.prior_settings + "):\n";
  std::map<std::string, std::map<std::string, int64_t>> kinds;  // [family][kind] -> count
  std::map<std::string, std::set<std::string>> students;
  for (const priors::PriorRecord& p : data.priors) {
    ++kinds[p.family][p.kind];
    for (const priors::AlignedRecord& a : p.aligned) students[p.family].insert(a.student);
  }
  for (const auto& [family, counts] : kinds) {
    std::string text;
    for (const auto& [kind, n] : counts) text += (text.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
    const auto s = students.find(family);
    if (s != students.end()) text += "; aligned to " + join(std::vector<std::string>(s->second.begin(), s->second.end()));
    std::snprintf(line, sizeof line, "  %-10s %s\n", family.c_str(), text.c_str());
    out += line;
  }
  for (const priors::PriorCheckRecord& c : data.prior_checks) {
    std::snprintf(line, sizeof line, "  %-10s held out %zu: log density under its node beats the root's for %lld, N(m, s^2 I) for %lld\n",
                  c.family.c_str(), c.model_ids.size(), static_cast<long long>(c.beats_root()),
                  static_cast<long long>(c.beats_isotropic()));
    out += line;
  }
  return out;
}

}  // namespace genzoo
