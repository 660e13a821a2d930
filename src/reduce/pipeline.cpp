#include "reduce/pipeline.h"

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "common/error.h"
#include "common/progress.h"
#include "common/rng.h"
#include "common/text.h"
#include "data/dataset.h"
#include "data/gaussian_source.h"
#include "information/theorem.h"
#include "dist/comm.h"
#include "dist/resources.h"
#include "job/job.h"
#include "priors/laplace.h"
#include "priors/node_priors.h"
#include "information/estimators.h"
#include "store/zoo.h"

namespace boost::serialization {
template <class Archive>
void serialize(Archive& archive, genzoo::FeatureMatrix& m, const unsigned int) {
  archive & m.name & m.family & m.model_ids & m.dim & m.data;
}
}  // namespace boost::serialization

namespace genzoo {

namespace {

constexpr int kFeaturesTag = 5101;

void note(const ReduceOptions& options, const std::string& text) {
  if (!options.quiet) std::fprintf(stderr, "[reduce] %s\n", text.c_str());
}

// The fixed probe set of latent_mean and probe_error: the first images of every selected class in the test split.
VectorizeContext probe_context(const ReduceOptions& options, const Job& job, const ReduceConfig& config, const ZooData& zoo) {
  VectorizeContext context;
  const Dataset dataset = load_fashion_mnist(resolve_data_dir(options.data_dir.empty() ? job.data.dir : options.data_dir));
  for (size_t class_index = 0; class_index < zoo.attrs.classes.size(); ++class_index) {
    const int64_t label = zoo.attrs.classes[class_index];
    int64_t taken = 0;
    for (int64_t i = 0; i < dataset.test.size() && taken < config.probe_images_per_class; ++i) {
      if (dataset.test.labels[i] != label) continue;
      context.probe_images.insert(context.probe_images.end(), dataset.test.image(i), dataset.test.image(i) + dataset.test.dim());
      context.probe_labels.push_back(static_cast<int64_t>(class_index));
      ++taken;
    }
    context.probe_count += taken;
  }
  context.probe_classes = static_cast<int64_t>(zoo.attrs.classes.size());
  context.class_labels.assign(zoo.attrs.classes.begin(), zoo.attrs.classes.end());
  return context;
}

// Rows (into FamilyWeights) of models with usable weights: all but diverged ones (NaN/Inf). A collapsed
// GAN is a trained model like any other here.
std::vector<int64_t> ok_rows(const FamilyWeights& weights, const std::map<int64_t, const ModelRecord*>& records) {
  std::vector<int64_t> rows;
  for (size_t r = 0; r < weights.model_ids.size(); ++r) {
    const auto it = records.find(weights.model_ids[r]);
    if (it != records.end() && it->second->status != "diverged") rows.push_back(static_cast<int64_t>(r));
  }
  return rows;
}

// Every (vectorization, family) pair that applies, vectorized over this rank's share of the rows and
// gathered on rank 0 (rows sorted by model id).
std::map<std::string, std::map<std::string, FeatureMatrix>> vectorize_zoo(
    const ReduceOptions& options, const std::vector<std::string>& names, const std::set<std::string>& families,
    const ZooData& zoo, const std::map<int64_t, const ModelRecord*>& records, const VectorizeContext& context,
    Comm& comm) {
  std::vector<FeatureMatrix> mine;
  double total = 0.0, done = 0.0;
  std::vector<std::pair<const Vectorization*, const FamilyWeights*>> tasks;
  for (const std::string& name : names) {
    const Vectorization& vectorization = find_vectorization(name);
    for (const auto& [family, weights] : zoo.weights) {
      if (!families.count(family)) continue;
      std::string why_not;
      if (!vectorization.applies_to(family, weights.layout, &why_not)) {
        if (comm.rank() == 0) note(options, name + " skipped for " + family + ": " + why_not);
        continue;
      }
      if (vectorization.needs_probe_images() && context.probe_count == 0) {
        if (comm.rank() == 0) note(options, name + " skipped for " + family + ": no probe images (data not loaded)");
        continue;
      }
      tasks.emplace_back(&vectorization, &weights);
      total += static_cast<double>(weights.model_ids.size());
    }
  }
  Progress progress("vectorize", "models", total, options.quiet || comm.rank() != 0);
  for (const auto& [vectorization, weights] : tasks) {
    const std::vector<int64_t> rows = ok_rows(*weights, records);
    std::vector<int64_t> share;
    for (size_t i = static_cast<size_t>(comm.rank()); i < rows.size(); i += static_cast<size_t>(comm.size())) {
      share.push_back(rows[i]);
    }
    mine.push_back(vectorize(*vectorization, *weights, share, context));
    done += static_cast<double>(weights->model_ids.size());
    progress.update(done);
  }
  progress.finish();

  std::map<std::string, std::map<std::string, FeatureMatrix>> gathered;
  if (comm.rank() != 0) {
    comm.send(mine, 0, kFeaturesTag);
    return gathered;
  }
  std::vector<std::vector<FeatureMatrix>> parts{std::move(mine)};
  for (int source = 1; source < comm.size(); ++source) {
    parts.push_back(comm.receive<std::vector<FeatureMatrix>>(source, kFeaturesTag));
  }
  for (const auto& part : parts) {
    for (const FeatureMatrix& piece : part) {
      FeatureMatrix& matrix = gathered[piece.name][piece.family];
      matrix.name = piece.name;
      matrix.family = piece.family;
      matrix.dim = piece.dim;
      matrix.model_ids.insert(matrix.model_ids.end(), piece.model_ids.begin(), piece.model_ids.end());
      matrix.data.insert(matrix.data.end(), piece.data.begin(), piece.data.end());
    }
  }
  for (auto& [name, by_family] : gathered) {
    for (auto& [family, matrix] : by_family) {
      std::vector<int64_t> order(matrix.model_ids.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return matrix.model_ids[a] < matrix.model_ids[b]; });
      FeatureMatrix sorted = matrix;
      for (size_t i = 0; i < order.size(); ++i) {
        sorted.model_ids[i] = matrix.model_ids[order[i]];
        std::copy_n(matrix.row(order[i]), matrix.dim, sorted.data.begin() + static_cast<int64_t>(i) * matrix.dim);
      }
      matrix = std::move(sorted);
    }
  }
  return gathered;
}

// Features of the given rows (into matrix) and their labels, for one probe comparison.
void probe_task(const FeatureMatrix& matrix, const std::vector<int64_t>& rows_a, const std::vector<int64_t>& rows_b,
                std::vector<float>& x, std::vector<int32_t>& y) {
  x.clear();
  y.clear();
  for (const auto* rows : {&rows_a, &rows_b}) {
    for (int64_t r : *rows) {
      x.insert(x.end(), matrix.row(r), matrix.row(r) + matrix.dim);
      y.push_back(rows == &rows_b);
    }
  }
}

// Dataset-identification probe for every family with probe models of A and at least one B.
void run_probes(const ReduceOptions& options, const ProbeOptions& probe, const ReduceData& data,
                const std::map<int64_t, const ModelRecord*>& records, std::vector<ProbeRecord>& out) {
  for (const auto& [name, by_family] : data.features) {
    for (const auto& [family, matrix] : by_family) {
      // Rows of dataset A (probe design group 0) and of each B (groups >= 1), with their gaps.
      std::vector<int64_t> rows_a;
      std::map<int64_t, std::vector<int64_t>> rows_b;
      std::map<int64_t, double> gap_of;
      for (int64_t r = 0; r < matrix.rows(); ++r) {
        const ModelRecord& m = *records.at(matrix.model_ids[r]);
        if (m.design != "probe") continue;
        if (m.design_group == 0) {
          rows_a.push_back(r);
        } else {
          rows_b[m.design_group].push_back(r);
          gap_of[m.design_group] = m.probe_gap;
        }
      }
      if (rows_a.size() < 2 || rows_b.empty()) continue;
      // The main comparison: A against the B farthest from it (the only B without a gap sweep).
      int64_t main_b = rows_b.begin()->first;
      for (const auto& [group, gap] : gap_of) {
        if (gap > gap_of[main_b]) main_b = group;
      }
      for (const std::string& classifier : probe_classifier_names()) {
        ProbeRecord record{family, name, classifier, {}, {}, {}, {}};
        std::vector<float> x;
        std::vector<int32_t> y;
        probe_task(matrix, rows_a, rows_b[main_b], x, y);
        try {
          record.scores = cross_validate_probe(x, matrix.dim, y, classifier, probe);
        } catch (const ReduceError& e) {
          note(options, "probe " + family + "/" + name + " skipped: " + e.what());
          continue;
        }
        if (rows_b.size() > 1) {
          for (const auto& [group, rows] : rows_b) {
            probe_task(matrix, rows_a, rows, x, y);
            ProbeScores scores;
            scores.precision = scores.recall = std::nan("");  // a B with fewer than 2 models: not measured
            if (rows.size() >= 2) scores = cross_validate_probe(x, matrix.dim, y, classifier, probe);
            record.gaps.push_back(gap_of[group]);
            record.gap_precision.push_back(scores.precision);
            record.gap_recall.push_back(scores.recall);
          }
        }
        out.push_back(std::move(record));
      }
    }
  }
}

// Every vectorization of one family side by side (rows are the same models, sorted by id): the
// embedding's encoder can then take the shape from one vectorization and the mass from another.
// Empty when the family has fewer than two vectorizations.
FeatureMatrix combined_features(const ReduceData& data, const std::string& family) {
  FeatureMatrix combined;
  combined.name = kCombinedFeature;
  combined.family = family;
  std::vector<const FeatureMatrix*> parts;
  for (const auto& [name, by_family] : data.features) {
    const auto it = by_family.find(family);
    if (it != by_family.end()) parts.push_back(&it->second);
  }
  if (parts.size() < 2) return combined;
  combined.model_ids = parts.front()->model_ids;
  for (const FeatureMatrix* part : parts) {
    if (part->model_ids != combined.model_ids) {
      throw ReduceError("combined features of " + family + ": " + part->name + " has other models than " + parts.front()->name);
    }
    combined.dim += part->dim;
  }
  combined.data.resize(static_cast<size_t>(combined.rows() * combined.dim));
  int64_t column = 0;
  for (const FeatureMatrix* part : parts) {
    for (int64_t r = 0; r < combined.rows(); ++r) {
      std::copy_n(part->row(r), part->dim, combined.data.begin() + r * combined.dim + column);
    }
    column += part->dim;
  }
  return combined;
}

EmbeddingModel embedding_model(const ModelRecord& m) {
  return {m.id, m.counts, m.design, m.design_group, m.design_role};
}

std::vector<EmbeddingModel> embedding_models(const FeatureMatrix& matrix, const std::map<int64_t, const ModelRecord*>& records) {
  std::vector<EmbeddingModel> models;
  for (int64_t id : matrix.model_ids) models.push_back(embedding_model(*records.at(id)));
  return models;
}

// The job's [reduce] section with the options' overrides applied.
ReduceConfig effective_reduce_config(const ReduceConfig& job_config, const ReduceOptions& options) {
  ReduceConfig config = job_config;
  if (!options.features.empty()) config.features = options.features;
  if (options.folds > 0) config.folds = options.folds;
  if (options.epochs > 0) config.epochs = options.epochs;
  return config;
}

// Seed 004's single-teacher posteriors of the family's models in [reduce] prior_teachers: SWAG from
// the stored checkpoints (when the family has them) and the diagonal Laplace approximation (not for
// adversarial families), each aligned to the family's students like a node prior.
std::vector<priors::PriorRecord> teacher_posteriors(const ReduceOptions& options, const Job& job, const ReduceConfig& config,
                                                    const std::map<int64_t, const ModelRecord*>& records,
                                                    const FamilyWeights& weights, const FamilyConfig& family) {
  std::vector<priors::PriorRecord> out;
  std::optional<Dataset> dataset;
  const int64_t p = weights.param_count();
  const auto base = [&](const ModelRecord& m, const std::string& kind) {
    priors::PriorRecord record;
    record.family = weights.family;
    record.name = kind + "-m" + std::to_string(m.id);
    record.kind = kind;
    record.init_group = m.init_group;
    record.model_id = m.id;
    record.member_ids = {m.id};
    record.proportions = m.proportions;
    record.diag_floor = config.prior_floor;
    record.layout = weights.layout;
    return record;
  };
  const bool by_gradients = config.prior_order == "gradient_covariance" && priors::has_likelihood(weights.family);
  std::vector<double> gradient_variance;  // the current teacher's, for the gradient_covariance order
  const auto load_data = [&]() -> const Dataset& {
    if (!dataset) dataset = load_fashion_mnist(resolve_data_dir(options.data_dir.empty() ? job.data.dir : options.data_dir));
    return *dataset;
  };
  const auto finish = [&](priors::PriorRecord record, const priors::LowRankGaussian& g) {
    record.aligned = priors::align_students(g, family, config, mix_seed(job.seed, static_cast<uint64_t>(record.model_id)),
                                            gradient_variance);
    record.gaussian = priors::StoredGaussian::from(g);
    out.push_back(std::move(record));
  };
  for (int64_t id : config.prior_teachers) {
    const auto it = records.find(id);
    if (it == records.end() || it->second->family != weights.family) continue;
    const ModelRecord& m = *it->second;
    const auto row = std::find(weights.model_ids.begin(), weights.model_ids.end(), id) - weights.model_ids.begin();
    const float* final_weights = weights.data.data() + row * p;
    if (by_gradients) {
      gradient_variance =
          priors::gradient_moments(family, weights.layout, final_weights, load_data().train, m.sample_indices, m.seed).variance();
    }
    const int64_t checkpoints = static_cast<int64_t>(weights.checkpoint_steps.size());
    if (checkpoints > 0) {
      std::vector<const float*> iterates;
      for (int64_t t = 0; t < checkpoints; ++t) iterates.push_back(weights.checkpoints.data() + (row * checkpoints + t) * p);
      iterates.push_back(final_weights);
      finish(base(m, "swag"), priors::swag_posterior(iterates, p, config.prior_rank, config.prior_floor));
    } else {
      note(options, "priors: no SWAG posterior for model " + std::to_string(id) + " (" + weights.family + " stores no checkpoints)");
    }
    if (!priors::has_likelihood(weights.family)) {
      note(options, "priors: no Laplace posterior for model " + std::to_string(id) + " (" + weights.family + " has no likelihood)");
      continue;
    }
    finish(base(m, "laplace"), priors::laplace_posterior(family, weights.layout, final_weights, load_data().train,
                                                         m.sample_indices, config.prior_laplace_precision, m.seed));
  }
  return out;
}

// Node priors (and single-teacher posteriors) of every family, on rank 0: the dendrogram of the
// family's selected embedding when it has one (root priors only otherwise), the embedding's test
// models held out of the fits for the check.
void compute_priors(const ReduceOptions& options, const Job& job, const ReduceConfig& config, const ZooData& zoo,
                    const std::map<int64_t, const ModelRecord*>& records, const std::set<std::string>& families,
                    ReduceData& data) {
  const auto start = std::chrono::steady_clock::now();
  std::optional<Dataset> gradient_data;
  data.priors.clear();
  data.prior_checks.clear();
  data.prior_settings = "rank = " + std::to_string(config.prior_rank) + ", shrinkage = " + fixed_text(config.prior_shrinkage, 4) + " (" + config.prior_shrinkage_target + ")" +
                        ", floor = " + general_text(config.prior_floor) + ", min_members = " +
                        std::to_string(config.prior_min_members) + ", order = " + config.prior_order + ", students = [" +
                        join(config.prior_students) + "]";
  for (const std::string& family : families) {
    const FamilyWeights& weights = zoo.weights.at(family);
    priors::FamilyPriorInputs inputs;
    inputs.weights = &weights;
    inputs.records = &records;
    for (const FamilyConfig& f : job.families) {
      if (f.name == family && !inputs.config) inputs.config = &f;
    }
    inputs.num_classes = static_cast<int64_t>(zoo.attrs.classes.size());
    inputs.seed = mix_seed(job.seed, 0x7072696f72);
    for (const HierarchyRecord& h : data.hierarchies) {
      if (h.family != family) continue;
      inputs.dendrogram = &h.dendrogram;
      inputs.leaf_ids = h.model_ids;
    }
    const auto selected = data.selected_features.find(family);
    for (const EmbeddingRecord& e : data.embeddings) {
      if (selected == data.selected_features.end() || e.family != family || e.feature != selected->second) continue;
      for (size_t i = 0; i < e.result.model_ids.size(); ++i) {
        if (e.result.split[i] == kSplitTest) inputs.held_out.insert(e.result.model_ids[i]);
      }
    }
    // The gradient_covariance order: every usable model's per-sample gradient variances on its own
    // training samples (one LibTorch pass per model), when the family has students to align.
    std::vector<std::vector<float>> gradient_variance;
    bool has_students = false;
    for (const std::string& text : config.prior_students) has_students = has_students || parse_student_spec(text).family == family;
    if (config.prior_order == "gradient_covariance" && has_students && inputs.config && priors::has_likelihood(family)) {
      if (!gradient_data) {
        gradient_data = load_fashion_mnist(resolve_data_dir(options.data_dir.empty() ? job.data.dir : options.data_dir));
      }
      note(options, "priors: per-sample gradients of " + std::to_string(weights.model_ids.size()) + " " + family +
                        " models (gradient_covariance order)");
      const int64_t p = weights.param_count();
      gradient_variance.resize(weights.model_ids.size());
      for (size_t r = 0; r < weights.model_ids.size(); ++r) {
        const auto record = records.find(weights.model_ids[r]);
        if (record == records.end() || record->second->status == "diverged") continue;
        const ModelRecord& m = *record->second;
        const std::vector<double> v = priors::gradient_moments(*inputs.config, weights.layout, weights.data.data() + r * p,
                                                               gradient_data->train, m.sample_indices, m.seed)
                                          .variance();
        gradient_variance[r].assign(v.begin(), v.end());
      }
      inputs.gradient_variance = &gradient_variance;
    }
    priors::FamilyPriors result = priors::family_priors(inputs, config);
    for (const std::string& text : result.notes) note(options, "priors: " + text);
    const priors::PriorCheckRecord& check = result.check;
    if (!check.model_ids.empty()) {
      double versus_root = 0.0, versus_isotropic = 0.0;
      for (size_t i = 0; i < check.model_ids.size(); ++i) {
        versus_root += (check.log_node[i] - check.log_root[i]) / static_cast<double>(check.model_ids.size());
        versus_isotropic += (check.log_node[i] - check.log_isotropic[i]) / static_cast<double>(check.model_ids.size());
      }
      note(options, "priors: " + family + " held-out check: node beats root for " + std::to_string(check.beats_root()) + "/" +
                        std::to_string(check.model_ids.size()) + " (mean " + fixed_text(versus_root) + " nats), isotropic for " +
                        std::to_string(check.beats_isotropic()) + "/" + std::to_string(check.model_ids.size()) + " (mean " +
                        fixed_text(versus_isotropic) + " nats)");
      data.prior_checks.push_back(check);
    }
    for (priors::PriorRecord& record : result.priors) data.priors.push_back(std::move(record));
    if (inputs.config) {
      for (priors::PriorRecord& record : teacher_posteriors(options, job, config, records, weights, *inputs.config)) {
        data.priors.push_back(std::move(record));
      }
    }
  }
  for (int64_t id : config.prior_teachers) {
    if (!records.count(id)) {
      throw ReduceError("reduce.prior_teachers: " + options.zoo_path + " has no model " + std::to_string(id) +
                        (options.include_garbage ? "" : " (or it is garbage: --include-garbage)"));
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  note(options, "priors: " + std::to_string(data.priors.size()) + " priors in " + fixed_text(seconds) + " s");
}

// The stored attributes: provenance and the [reduce] settings the stage ran with.
ReduceAttributes reduce_attributes(const ReduceOptions& options, const Job& job, const ReduceConfig& config, const ZooData& zoo) {
  ReduceAttributes attrs;
  attrs.genzoo_version = GENZOO_VERSION;
  attrs.created_utc = utc_now();
  attrs.zoo_path = options.zoo_path;
  attrs.job_name = zoo.attrs.job_name;
  attrs.job_fingerprint = zoo.attrs.job_fingerprint;
  attrs.classes = zoo.attrs.classes;
  Job effective = job;
  effective.reduce = config;
  attrs.reduce_config = section_toml(effective, "reduce");
  return attrs;
}

// The models the stage sees, by id: garbage ones (trained, but worse than the trivial predictor) are left
// out unless asked for (*garbage counts them); every lookup treats a model missing here as absent.
std::map<int64_t, const ModelRecord*> usable_models(const ZooData& zoo, bool include_garbage, int64_t* garbage) {
  std::map<int64_t, const ModelRecord*> records;
  for (const ModelRecord& m : zoo.models) {
    if (m.status == "garbage" && !include_garbage) {
      ++*garbage;
      continue;
    }
    records[m.id] = &m;
  }
  return records;
}

// A gaussian-source zoo (seed 000's setting) has one class and no images: no proportions to embed or to
// measure information about, no probe images. What reduce computes on it, on rank 0: for linear_ae, the
// theorem check per family (the closed forms per model against estimates over the zoo,
// information/theorem.h); for regressor (seed 004's synthetic regression), the root prior of every init
// group, aligned to the job's students, for `genzoo distill`.
ReduceData reduce_gaussian_zoo(const ReduceOptions& options, const Job& job, const ZooData& zoo, Comm& comm) {
  if (comm.rank() != 0) return ReduceData();
  const Dataset dataset = gaussian_dataset(job.data, job.seed);
  const ReduceConfig config = effective_reduce_config(job.reduce, options);
  ReduceData data;
  data.attrs = reduce_attributes(options, job, config, zoo);
  int64_t garbage = 0;
  const std::map<int64_t, const ModelRecord*> records = usable_models(zoo, options.include_garbage, &garbage);
  if (garbage > 0) std::fprintf(stderr, "[reduce] left out %lld garbage model(s)\n", static_cast<long long>(garbage));
  std::set<std::string> regressions;
  for (const auto& [family, weights] : zoo.weights) {
    if (!options.families.empty() && std::find(options.families.begin(), options.families.end(), family) == options.families.end()) {
      continue;
    }
    if (job.data.regression()) {  // the job trains regressor families only
      regressions.insert(family);
      continue;
    }
    const ParamLayout* encoder = nullptr;
    const ParamLayout* decoder = nullptr;
    for (const ParamLayout& p : weights.layout) {
      if (p.name == "encoder.weight") encoder = &p;
      if (p.name == "decoder.weight") decoder = &p;
    }
    if (!encoder || !decoder) throw ReduceError(options.zoo_path + ": family " + family + " has no encoder/decoder weights");
    TheoremZoo t;
    t.k = encoder->shape[0];
    t.d = encoder->shape[1];
    t.n = job.data.pool;
    t.p = job.data.inclusion;
    t.sigma = diagonal_matrix(job.data.gaussian_spectrum());
    TheoremRecord record;
    record.family = family;
    for (int64_t row : ok_rows(weights, records)) {
      const ModelRecord& model = *records.at(weights.model_ids[row]);
      const float* flat = weights.data.data() + row * weights.param_count();
      t.w1.insert(t.w1.end(), flat + encoder->offset, flat + encoder->offset + encoder->numel());
      t.w2.insert(t.w2.end(), flat + decoder->offset, flat + decoder->offset + decoder->numel());
      const std::vector<double> moments = subset_moments(dataset.train.pixels.data(), t.d, model.sample_indices);
      t.moments.insert(t.moments.end(), moments.begin(), moments.end());
      t.m.push_back(static_cast<int64_t>(model.sample_indices.size()));
      record.model_ids.push_back(model.id);
    }
    record.m = t.m;
    record.check = check_theorem(t, static_cast<int>(config.mi_neighbours), config.mi_steps, mix_seed(job.seed, 0x7468));
    record.pool = t.n;
    record.inclusion = t.p;
    record.dimension = t.d;
    record.code = t.k;
    data.theorem.push_back(std::move(record));
  }
  if (!regressions.empty()) compute_priors(options, job, config, zoo, records, regressions, data);
  write_reduce(reduce_output_path(options), data);
  return data;
}

}  // namespace


std::string reduce_output_path(const ReduceOptions& options) {
  if (!options.output_path.empty()) return options.output_path;
  return (std::filesystem::path(options.zoo_path).parent_path() / "reduce.h5").string();
}

ReduceData run_reduce(const ReduceOptions& options, Comm& comm) {
  const ZooData zoo = read_zoo(options.zoo_path);
  const Job job = options.config_path.empty() ? parse_job(zoo.attrs.job_toml, options.zoo_path + ":/job_toml")
                                              : load_job(options.config_path);
  if (job.data.gaussian()) return reduce_gaussian_zoo(options, job, zoo, comm);
  int64_t garbage = 0;
  const std::map<int64_t, const ModelRecord*> records = usable_models(zoo, options.include_garbage, &garbage);

  const ReduceConfig config = effective_reduce_config(job.reduce, options);
  const std::vector<std::string> names = config.features.empty() ? vectorization_names() : config.features;
  for (const std::string& name : names) find_vectorization(name);  // unknown names fail before any work
  // The families to reduce: the requested ones (each must exist), else all.
  std::set<std::string> families(options.families.begin(), options.families.end());
  std::vector<std::string> known;
  for (const auto& [family, weights] : zoo.weights) known.push_back(family);
  for (const std::string& family : families) {
    if (!zoo.weights.count(family)) throw ReduceError(options.zoo_path + ": no family " + family + " (it has: " + join(known) + ")");
  }
  if (families.empty()) {
    for (const auto& [family, weights] : zoo.weights) families.insert(family);
  }
  if (garbage > 0 && comm.rank() == 0) {  // said even with --quiet: it is about the result, not progress
    std::fprintf(stderr, "[reduce] left out %lld garbage model(s) (final loss above the trivial predictor's; "
                 "--include-garbage keeps them)\n", static_cast<long long>(garbage));
  }
  // A family too small for the embedding's split: an error when it was asked for by name, else it
  // gets features, probe and information but no embedding (and says so). Checked before any work.
  std::map<std::string, std::string> not_embedded;
  for (const std::string& family : families) {
    std::vector<EmbeddingModel> models;
    for (int64_t row : ok_rows(zoo.weights.at(family), records)) {
      models.push_back(embedding_model(*records.at(zoo.weights.at(family).model_ids[row])));
    }
    try {
      split_models(models, SplitOptions(config), family);
    } catch (const ReduceError& e) {
      if (!options.families.empty()) throw;
      not_embedded[family] = e.what();
      if (comm.rank() == 0) note(options, std::string("no embedding: ") + e.what());
    }
  }

  if (options.priors_only) {
    if (comm.rank() != 0) return ReduceData();
    const std::string path = reduce_output_path(options);
    ReduceData data = read_reduce(path);
    if (data.attrs.job_fingerprint != zoo.attrs.job_fingerprint) {
      throw ReduceError(path + ": reduced from another zoo (job fingerprint " + data.attrs.job_fingerprint + ", " +
                        options.zoo_path + " has " + zoo.attrs.job_fingerprint + ")");
    }
    compute_priors(options, job, config, zoo, records, families, data);
    write_reduce(path, data);
    return data;
  }

  // Families whose layout some probe-image vectorization applies to need the data set.
  bool needs_images = false;
  for (const std::string& name : names) {
    const Vectorization& v = find_vectorization(name);
    for (const std::string& family : families) {
      needs_images = needs_images || (v.needs_probe_images() && v.applies_to(family, zoo.weights.at(family).layout, nullptr));
    }
  }
  VectorizeContext context;
  if (needs_images) context = probe_context(options, job, config, zoo);

  ReduceData data;
  data.features = vectorize_zoo(options, names, families, zoo, records, context, comm);
  data.not_embedded = not_embedded;
  if (comm.rank() != 0) return ReduceData();
  for (const std::string& name : names) data.feature_descriptions[name] = find_vectorization(name).description();
  data.attrs = reduce_attributes(options, job, config, zoo);

  // Probes and encoders are tiny full-batch networks: one thread is fastest (measured on the quickstart
  // zoo: 9 s with one thread against 68 s with two, whose synchronization costs more than it saves).
  set_threads(1);
  note(options, "probe: cross-validating classifiers");
  run_probes(options, ProbeOptions(config, mix_seed(job.seed, 0x70726f6265)), data, records, data.probes);

  const EmbeddingOptions embedding(config, mix_seed(job.seed, 0x656d626564));
  std::map<std::string, double> best_validation;
  int64_t tasks = 0;
  for (const auto& [name, by_family] : data.features) tasks += static_cast<int64_t>(by_family.size());
  std::map<std::string, FeatureMatrix> combined;  // [family], embedded after the single vectorizations
  for (const std::string& family : families) {
    if (not_embedded.count(family)) continue;
    FeatureMatrix matrix = combined_features(data, family);
    if (matrix.dim > 0) combined.emplace(family, std::move(matrix));
  }
  Progress progress("embed", "encoders", static_cast<double>(tasks + static_cast<int64_t>(combined.size())), options.quiet);
  int64_t done = 0;
  const auto embed = [&](const FeatureMatrix& matrix) {
    EmbeddingRecord record{matrix.family, matrix.name, train_embedding(matrix, embedding_models(matrix, records), embedding)};
    const double validation = record.result.metrics.validation_angular_error_deg;
    if (!best_validation.count(matrix.family) || validation < best_validation[matrix.family]) {
      best_validation[matrix.family] = validation;
      data.selected_features[matrix.family] = matrix.name;
    }
    data.embeddings.push_back(std::move(record));
  };
  for (const auto& [name, by_family] : data.features) {
    for (const auto& [family, matrix] : by_family) {
      if (!not_embedded.count(family)) embed(matrix);

      // Information retained: realized proportions (K - 1 free coordinates) against the features.
      const int64_t n = matrix.rows(), k = static_cast<int64_t>(zoo.attrs.classes.size());
      if (n > 2 * config.mi_neighbours) {
        std::vector<double> proportions;
        for (int64_t id : matrix.model_ids) {
          const auto& counts = records.at(id)->counts;
          const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
          for (int64_t j = 0; j + 1 < k; ++j) proportions.push_back(static_cast<double>(counts[j]) / total);
        }
        InformationOptions mi;
        mi.estimators = config.mi_estimators;
        if (std::find(mi.estimators.begin(), mi.estimators.end(), "ksg_pca") == mi.estimators.end()) {
          mi.estimators.push_back("ksg_pca");  // mi_nats, always
        }
        mi.components = config.mi_components;
        mi.k = static_cast<int>(config.mi_neighbours);
        mi.steps = config.mi_steps;
        mi.seed = mix_seed(job.seed, 0x4d49);
        const InformationEstimates estimates = estimate_information(matrix.data, matrix.dim, proportions, k - 1, n, mi);
        InformationRecord info{family, name, estimates.nats.at("ksg_pca"), config.mi_neighbours, n, estimates.components,
                               estimates.nats, estimates.flow_heldout_nats, estimates.autoencoder_mse};
        data.information.push_back(info);
      }
      progress.update(static_cast<double>(++done));
    }
  }
  for (const auto& [family, matrix] : combined) {
    embed(matrix);
    progress.update(static_cast<double>(++done));
  }
  progress.finish();

  for (const auto& [family, feature] : data.selected_features) {
    for (const EmbeddingRecord& e : data.embeddings) {
      if (e.family != family || e.feature != feature) continue;
      const int64_t n = static_cast<int64_t>(e.result.model_ids.size());
      HierarchyRecord h{family, feature, e.result.model_ids,
                        average_linkage(euclidean_distances(e.result.u, n, e.result.classes), n)};
      data.hierarchies.push_back(std::move(h));
    }
  }

  compute_priors(options, job, config, zoo, records, families, data);
  write_reduce(reduce_output_path(options), data);
  return data;
}

}  // namespace genzoo
