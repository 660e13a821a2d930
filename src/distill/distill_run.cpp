#include "distill/distill_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include "common/error.h"
#include "common/rng.h"
#include "common/text.h"
#include "data/dataset.h"
#include "data/gaussian_source.h"
#include "data/image.h"
#include "dist/comm.h"
#include "dist/resources.h"
#include "dist/scheduler.h"
#include "distill/distill_file.h"
#include "distill/methods.h"
#include "distill/student_batch.h"
#include "distill/targets.h"
#include "job/job.h"
#include "models/family.h"
#include "models/torch_family.h"
#include "priors/code_basis.h"
#include "priors/students.h"
#include "reduce/reduce_file.h"
#include "store/run_dir.h"
#include "train/data_stream.h"
#include "store/zoo.h"

namespace genzoo::distill {

namespace {

namespace fs = std::filesystem;

// Whether alignment narrows a code it can rotate (linear_ae's and conv_ae's; not vae's stochastic one, not mlp).
bool narrows_a_linear_code(const FamilyConfig& teacher, const FamilyConfig& student) {
  if (teacher.name != "linear_ae" && teacher.name != "conv_ae") return false;
  for (const priors::UnitKind& kind : priors::unit_kinds(teacher, student)) {
    if (!kind.leaving_bias.empty() && kind.student_count < kind.teacher_count) return true;
  }
  return false;
}

// The structure key whose half is a family's default smaller student: the code width, or the first hidden layer of a layered net.
std::string narrowed_key(const std::string& family) { return family == "mlp" || family == "regressor" ? "hidden" : "latent"; }

bool classifier(const std::string& family) { return find_family(family).torch_impl().classifies(); }

constexpr uint64_t kUnitStream = 0x756e6974ULL;  // "unit"
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Unit {
  int64_t mixture = 0, size_index = 0, seed = 0;
};

uint64_t text_seed(const std::string& text) { return std::stoull(fingerprint(text), nullptr, 16); }

std::string shard_dir_of(const std::string& output) { return output + ".shards"; }
std::string shard_path(const std::string& dir, int64_t unit) {
  char name[64];
  std::snprintf(name, sizeof name, "/unit-%06lld.h5", static_cast<long long>(unit));
  return dir + name;
}

Job load_distill_job(const DistillOptions& options, const ZooAttributes& attrs) {
  Job job = options.config_path.empty() ? parse_job(attrs.job_toml, options.zoo_path + " (the job stored in it)")
                                        : load_job(options.config_path);
  DistillConfig& d = job.distill;
  if (!options.students.empty()) d.students = options.students;
  if (!options.methods.empty()) d.methods = options.methods;
  if (!options.sizes.empty()) d.sizes = options.sizes;
  if (options.seeds > 0) d.seeds = options.seeds;
  if (options.mixtures > 0) {
    d.mixtures = options.mixtures;
    d.proportions.clear();
  }
  if (options.steps > 0) d.steps = options.steps;
  if (d.methods.empty()) d.methods = default_method_names();
  for (const std::string& method : d.methods) find_method(method);
  for (int64_t n : d.sizes) {
    const auto held = static_cast<int64_t>(std::floor(d.validation * static_cast<double>(n)));
    if (n < 2 || held < 1 || held >= n) {
      throw DistillError("key 'distill.sizes': n = " + std::to_string(n) + " leaves isotropic no training or no validation image");
    }
  }
  return job;
}

// The stage's settings as provenance and as the shards' identity: the zoo it reads and [distill].
std::string identity_text(const Job& job, const ZooAttributes& attrs) {
  return "zoo_fingerprint = \"" + attrs.job_fingerprint + "\"\n" + section_toml(job, "distill");
}

FamilyConfig config_of(const StudentStructure& student) {
  return student_config(*student.teacher, StudentSpec{student.family, student.changes, student.name});
}

class DistillRunner : public UnitRunner {
 public:
  DistillRunner(const Job& job, const ZooData& zoo, const ReduceData& reduce, const Dataset& dataset,
                std::vector<StudentStructure> students, std::vector<std::vector<double>> mixtures,
                std::vector<std::vector<int64_t>> train_pools, std::vector<std::vector<int64_t>> test_pools,
                TrainSettings settings, std::string shard_dir, DistillData base)
      : job_(job), zoo_(zoo), reduce_(reduce), dataset_(dataset), students_(std::move(students)), mixtures_(std::move(mixtures)),
        train_pools_(std::move(train_pools)), test_pools_(std::move(test_pools)), settings_(std::move(settings)),
        shard_dir_(std::move(shard_dir)), base_(std::move(base)) {
    for (const std::string& name : job_.distill.methods) methods_.push_back(&find_method(name));
  }

  int64_t unit_count() const {
    return static_cast<int64_t>(mixtures_.size()) * static_cast<int64_t>(job_.distill.sizes.size()) * job_.distill.seeds;
  }
  Unit unit_of(int64_t index) const {
    const auto sizes = static_cast<int64_t>(job_.distill.sizes.size());
    const int64_t seeds = job_.distill.seeds;
    return {index / (sizes * seeds), (index / seeds) % sizes, index % seeds};
  }

  int64_t items_in(int64_t) const override {
    return static_cast<int64_t>(students_.size() * methods_.size());
  }
  double work_in(int64_t index) const override {
    const int64_t n = job_.distill.sizes[unit_of(index).size_index];
    double work = 0.0;
    for (const StudentStructure& student : students_) {
      const FamilyConfig config = config_of(student);
      work += find_family(config.name).flops_per_sample(config) * static_cast<double>(std::min(job_.distill.batch_size, n)) *
              static_cast<double>(job_.distill.steps) * static_cast<double>(batch_models());
    }
    return work;
  }
  double total_work() const override {
    double total = 0.0;
    for (int64_t unit = 0; unit < unit_count(); ++unit) total += work_in(unit);
    return total;
  }

  // n stays out of a unit's seed: the training sets of one (mixture, seed) are nested.
  uint64_t seed_of(int64_t mixture, int64_t seed) const {
    return mix_seed(mix_seed(job_.seed, kUnitStream), static_cast<uint64_t>(mixture) * 1000003u + static_cast<uint64_t>(seed));
  }
  std::vector<int64_t> samples_of(int64_t mixture, int64_t seed, int64_t n) const {
    return training_samples(mixtures_[mixture], n, train_pools_, mix_seed(seed_of(mixture, seed), 1));
  }

  // The student family's node prior nearest the mixture (targets.h); DistillError when reduce.h5 has none.
  const priors::PriorRecord& node_of(const StudentStructure& student, const std::vector<double>& proportions) const {
    const priors::PriorRecord* node = nearest_node(reduce_.priors, student.family, proportions);
    if (!node) {
      throw DistillError("distill: student " + student.name + " (distill.students): " + base_.attrs.reduce_path +
                         " has no node prior of " + student.family +
                         " (genzoo reduce computes them for init groups of at least reduce.prior_min_members models)");
    }
    return *node;
  }

  bool run(int64_t index, const std::function<void(double)>& on_fraction) override {
    const Unit unit = unit_of(index);
    const std::vector<double>& proportions = mixtures_[unit.mixture];
    const int64_t n = job_.distill.sizes[unit.size_index];
    const uint64_t unit_seed = seed_of(unit.mixture, unit.seed);
    const std::vector<int64_t> samples = samples_of(unit.mixture, unit.seed, n);
    const TestSet test{test_pools_, proportions};
    DistillData shard = base_;
    for (size_t s = 0; s < students_.size(); ++s) {
      if (stop_requested()) return false;
      on_fraction(static_cast<double>(s) / static_cast<double>(students_.size()));
      train_structure(students_[s], s, unit, index, unit_seed, samples, test, shard.results);
    }
    write_distill(shard_path(shard_dir_, index), shard);
    return true;
  }

 private:
  // The candidates of a method's prior strength, chosen on a validation split: isotropic's σ², or the
  // scale κ of a zoo prior N(m, κ Σ). One candidate: no choice to make.
  const std::vector<double>& candidates(const Method& method) const {
    static const std::vector<double> none = {kNaN};
    if (method.prior == PriorSource::kIsotropic) return job_.distill.isotropic_variances;
    if (method.prior == PriorSource::kNode || method.prior == PriorSource::kRoot) return job_.distill.prior_scales;
    return none;
  }
  // Models in one structure's batch: one per method, or with several candidates one per candidate on the
  // training part and one on the whole set.
  int64_t batch_models() const {
    int64_t count = 0;
    for (const Method* method : methods_) {
      const auto c = static_cast<int64_t>(candidates(*method).size());
      count += c > 1 ? 2 * c : 1;
    }
    return count;
  }

  // The prior record aligned to the student (cached per rank: a node's alignment serves every unit).
  const priors::AlignedPrior& aligned(const priors::PriorRecord& record, const StudentStructure& student) {
    const auto key = std::make_pair(record.family + "/" + record.name, student.name);
    const auto found = cache_.find(key);
    if (found != cache_.end()) return found->second;
    const Layout teacher_layout = find_family(student.family).layout(*student.teacher);
    if (record.gaussian.size() != layout_size(teacher_layout)) {
      throw DistillError("distill: reduce.h5's prior " + record.family + "/" + record.name + " covers " +
                         std::to_string(record.gaussian.size()) + " weights, the job's " + student.family + " has " +
                         std::to_string(layout_size(teacher_layout)) + " (another job's reduce.h5?)");
    }
    priors::AlignedPrior prior{record.gaussian.gaussian(), teacher_layout, {}};
    if (!student.changes.empty()) {
      const FamilyConfig student_config = config_of(student);
      std::optional<priors::CodeBasis> basis;
      if (job_.distill.code_basis == "principal" && narrows_a_linear_code(*student.teacher, student_config)) {
        basis = principal_basis(*student.teacher, prior.gaussian.mean);
      }
      prior = priors::align(prior.gaussian, *student.teacher, student_config, job_.distill.order,
                            mix_seed(job_.seed, text_seed(record.name)), {}, basis ? &*basis : nullptr);
    }
    return cache_.emplace(key, std::move(prior)).first->second;
  }

  // The principal basis of the codes of the teacher's weights `mean` on the first 100 training images of
  // every zoo class (images the zoo trained on, none of the students' test images).
  priors::CodeBasis principal_basis(const FamilyConfig& teacher, const std::vector<double>& mean) const {
    constexpr int64_t kImagesPerClass = 100;
    std::vector<int64_t> indices;
    for (int64_t label : zoo_.attrs.classes) {
      int64_t taken = 0;
      for (int64_t i = 0; i < dataset_.train.size() && taken < kImagesPerClass; ++i) {
        if (dataset_.train.labels[i] == label) indices.push_back(i), ++taken;
      }
    }
    const auto count = static_cast<int64_t>(indices.size());
    torch::NoGradGuard no_grad;
    const Layout layout = find_family(teacher.name).layout(teacher);
    const auto flat = torch::tensor(mean, torch::kDouble).to(torch::kFloat).reshape({1, -1});
    auto x = torch::empty({1, count, dataset_.train.dim()});
    gather_images(dataset_.train, indices.data(), count, x.data_ptr<float>());
    const auto codes = find_family(teacher.name).torch_impl().codes(view_params(flat, layout), x)[0].to(torch::kDouble).contiguous();
    const std::vector<double> values(codes.data_ptr<double>(), codes.data_ptr<double>() + codes.numel());
    return priors::principal_code_basis(values, count, codes.size(1));
  }

  // τ²: [distill] noise_variance, or the mean final loss of the node's members.
  double pixel_variance(const priors::PriorRecord& node) const {
    if (job_.distill.noise_variance > 0.0) return job_.distill.noise_variance;
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t id : node.member_ids) {
      const auto it = std::lower_bound(zoo_.models.begin(), zoo_.models.end(), id,
                                       [](const ModelRecord& m, int64_t v) { return m.id < v; });
      if (it != zoo_.models.end() && it->id == id && std::isfinite(it->final_loss)) {
        sum += it->final_loss;
        ++count;
      }
    }
    if (count == 0 || !(sum > 0.0)) {
      throw DistillError("distill: the members of prior " + node.family + "/" + node.name +
                         " have no final loss in zoo.h5; set distill.noise_variance");
    }
    return sum / static_cast<double>(count);
  }

  std::vector<float> teacher_targets(const StudentStructure& student, const std::vector<double>& proportions,
                                     const std::vector<int64_t>& samples) const {
    const ModelRecord* teacher = nearest_model(zoo_.models, student.family, proportions);
    const auto weights = zoo_.weights.find(student.family);
    if (!teacher || weights == zoo_.weights.end()) {
      throw DistillError("distill: hinton needs a trained " + student.family + " model in zoo.h5");
    }
    const FamilyWeights& w = weights->second;
    const auto row = std::find(w.model_ids.begin(), w.model_ids.end(), teacher->id) - w.model_ids.begin();
    const int64_t p = w.param_count();
    const std::vector<float> one(w.data.begin() + row * p, w.data.begin() + (row + 1) * p);
    return teacher_outputs(*student.teacher, one, dataset_.train, samples, settings_.hinton_temperature, settings_.device);
  }

  void train_structure(const StudentStructure& student, size_t index, const Unit& unit, int64_t unit_index, uint64_t unit_seed,
                       const std::vector<int64_t>& samples, const TestSet& test, std::vector<DistillResult>& results) {
    const FamilyConfig config = config_of(student);
    const Layout layout = find_family(config.name).layout(config);
    const int64_t params = layout_size(layout), n = static_cast<int64_t>(samples.size());
    const std::vector<double>& proportions = test.proportions;
    const priors::PriorRecord* node = &node_of(student, proportions);
    const priors::AlignedPrior& node_prior = aligned(*node, student);
    const priors::PriorRecord* root = root_of(reduce_.priors, *node);
    const bool classifies = classifier(student.family);
    const double tau2 = classifies ? kNaN : pixel_variance(*node);  // a classifier's likelihood has no noise level
    std::vector<float> init(params);
    init_flat_params(init.data(), layout, mix_seed(unit_seed, 100 + index));
    const uint64_t stream_seed = mix_seed(unit_seed, 200 + index);
    const auto held = static_cast<int64_t>(std::floor(job_.distill.validation * static_cast<double>(n)));
    const std::vector<int64_t> train_part(samples.begin(), samples.end() - held), validation(samples.end() - held, samples.end());
    const std::vector<float> mean(node_prior.gaussian.mean.begin(), node_prior.gaussian.mean.end());

    struct Row {
      const Method* method;
      const priors::AlignedPrior* prior = nullptr;  // the zoo prior it starts from or trains under
      double candidate = kNaN;                      // isotropic σ² or the prior scale κ
      bool validation_part = false;                 // trained on the training part to choose the candidate
    };
    std::vector<StudentJob> jobs;
    std::vector<Row> rows;
    std::deque<priors::LowRankGaussian> candidate_priors;  // stable addresses for the jobs
    for (const Method* method : methods_) {
      StudentJob job;
      job.method = method;
      job.samples = samples;
      job.seed = stream_seed;
      job.pixel_variance = tau2;
      job.start = method->starts_at_prior_mean ? mean : init;
      const priors::AlignedPrior* prior = method->starts_at_prior_mean ? &node_prior : nullptr;
      if (method->prior == PriorSource::kRoot) {
        if (!root) throw DistillError("distill: vi_root needs the root prior of " + node->family + " init group " +
                                      std::to_string(node->init_group) + " in reduce.h5");
        prior = &aligned(*root, student);
        job.start.assign(prior->gaussian.mean.begin(), prior->gaussian.mean.end());
      }
      if (method->teacher_outputs) job.teacher_targets = teacher_targets(student, proportions, samples);
      const std::vector<double>& values = candidates(*method);
      for (double value : values) {
        if (method->prior == PriorSource::kIsotropic) {
          candidate_priors.push_back(priors::isotropic(std::vector<double>(init.begin(), init.end()), value));
        } else if (method->prior == PriorSource::kStandard) {
          candidate_priors.push_back(priors::isotropic(std::vector<double>(params, 0.0), 1.0));
        } else if (method->prior == PriorSource::kNodeMean) {
          candidate_priors.push_back(priors::isotropic(node_prior.gaussian.mean, 1.0));
        } else if (method->bayesian()) {
          priors::LowRankGaussian scaled = prior->gaussian;  // N(m, κ Σ)
          for (double& d : scaled.diag) d *= value;
          for (double& f : scaled.factor) f *= std::sqrt(value);
          candidate_priors.push_back(std::move(scaled));
        }
        if (method->bayesian()) job.prior = &candidate_priors.back();
        for (bool part : values.size() > 1 ? std::vector<bool>{true, false} : std::vector<bool>{false}) {
          StudentJob candidate = job;
          if (part) {
            candidate.scored = false;  // only its validation loss matters
            candidate.samples = train_part;
            if (method->teacher_outputs) candidate.teacher_targets.resize(train_part.size() * target_width(config));
          }
          jobs.push_back(std::move(candidate));
          rows.push_back({method, prior, value, part});
        }
      }
    }

    const auto start = std::chrono::steady_clock::now();
    const std::vector<StudentOutcome> outcomes = train_students(config, jobs, dataset_, test, settings_);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // Per method, the candidate whose training-part student fits the validation images best.
    std::map<const Method*, std::pair<double, double>> chosen;  // method -> (validation loss, candidate)
    for (size_t r = 0; r < rows.size(); ++r) {
      if (!rows[r].validation_part) continue;
      const double loss = sample_losses(config, outcomes[r].weights, 1, dataset_.train, validation, settings_.device).front();
      const auto found = chosen.find(rows[r].method);
      if (found == chosen.end() || loss < found->second.first || std::isnan(found->second.first)) {
        chosen[rows[r].method] = {loss, rows[r].candidate};
      }
    }
    const double reported = static_cast<double>(methods_.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      const Row& row = rows[r];
      if (row.validation_part) continue;
      const auto choice = chosen.find(row.method);
      if (choice != chosen.end() && row.candidate != choice->second.second) continue;
      const StudentOutcome& outcome = outcomes[r];
      DistillResult result;
      result.unit = unit_index;
      result.mixture = unit.mixture;
      result.n = n;
      result.seed = unit.seed;
      result.family = student.family;
      result.student = student.name;
      result.method = row.method->name;
      result.test_loss = outcome.test_loss;
      result.test_loss_sampled = outcome.test_loss_sampled;
      result.train_loss = outcome.train_loss;
      result.curve = outcome.curve;
      result.weights = outcome.weights;
      result.std = outcome.std;
      result.pixel_variance = row.method->bayesian() ? tau2 : kNaN;  // NaN for classifiers
      result.prior_variance = row.method->prior == PriorSource::kIsotropic ? row.candidate : kNaN;
      result.prior_scale = row.method->bayesian() && row.method->prior != PriorSource::kIsotropic ? row.candidate : kNaN;
      result.train_seconds = seconds / reported;
      if (row.prior) {
        result.prior = row.prior == &node_prior ? node->name : root->name;
        result.prior_steps = join(row.prior->steps, "; ");
      }
      const bool finite = std::isfinite(result.test_loss) &&
                          std::all_of(result.weights.begin(), result.weights.end(), [](float v) { return std::isfinite(v); });
      result.status = finite ? "ok" : "diverged";
      results.push_back(std::move(result));
    }
  }

  const Job& job_;
  const ZooData& zoo_;
  const ReduceData& reduce_;
  const Dataset& dataset_;
  std::vector<StudentStructure> students_;
  std::vector<std::vector<double>> mixtures_;
  std::vector<std::vector<int64_t>> train_pools_, test_pools_;
  TrainSettings settings_;
  std::string shard_dir_;
  DistillData base_;
  std::vector<const Method*> methods_;
  std::map<std::pair<std::string, std::string>, priors::AlignedPrior> cache_;
};

}  // namespace

std::vector<StudentStructure> resolve_students(const Job& job) {
  const auto teacher_of = [&](const std::string& family) -> const FamilyConfig* {
    for (const FamilyConfig& f : job.families) {
      if (f.name == family) return &f;
    }
    return nullptr;
  };
  const std::vector<std::string>& families = distill_families();
  const auto distillable = [&](const std::string& family) {
    return std::find(families.begin(), families.end(), family) != families.end();
  };
  std::vector<StudentStructure> out;
  if (job.distill.students.empty()) {
    for (const FamilyConfig& f : job.families) {
      if (!distillable(f.name) || teacher_of(f.name) != &f) continue;
      out.push_back({f.name, f.name, &f, {}});
      const std::string key = narrowed_key(f.name);
      const int64_t half = structure_key(f, key) / 2;
      if (half >= 1) out.push_back({f.name + ":" + key + "=" + std::to_string(half), f.name, &f, {{key, half}}});
    }
    if (out.empty()) throw DistillError("key 'distill.students': the job has no " + join(families, " or ") + " family to distill");
    return out;
  }
  for (size_t i = 0; i < job.distill.students.size(); ++i) {
    const std::string& text = job.distill.students[i];
    const std::string key = "key 'distill.students[" + std::to_string(i) + "]': ";
    const std::string family = text.substr(0, text.find(':'));
    if (!distillable(family)) throw DistillError(key + "distill trains " + join(families) + " students, got \"" + family + "\"");
    const FamilyConfig* teacher = teacher_of(family);
    if (!teacher) throw DistillError(key + "the job has no family " + family);
    if (text.find(':') == std::string::npos) {
      out.push_back({family, family, teacher, {}});
      continue;
    }
    StudentSpec spec;
    try {
      spec = parse_student_spec(text);
    } catch (const JobError& e) {
      throw DistillError(key + e.what());
    }
    try {
      priors::check_alignable(*teacher, student_config(*teacher, spec));
    } catch (const ReduceError& e) {
      throw DistillError(key + e.what());
    }
    out.push_back({family + ":" + spec.name, family, teacher, spec.changes});
  }
  return out;
}

std::string distill_output_path(const DistillOptions& options) {
  if (!options.output_path.empty()) return options.output_path;
  return (fs::path(options.zoo_path).parent_path() / "distill.h5").string();
}

DistillSummary run_distill(const DistillOptions& options, Comm& comm) {
  check_slurm_world_size(comm);
  install_stop_handlers();
  const bool leader = comm.rank() == 0;
  const bool quiet = options.quiet || !leader;
  const auto note = [&](const std::string& text) {
    if (!quiet) std::fprintf(stderr, "[distill] %s\n", text.c_str());
  };
  const ZooData zoo = read_zoo(options.zoo_path);
  const std::string reduce_path = options.reduce_path.empty()
                                      ? (fs::path(options.zoo_path).parent_path() / "reduce.h5").string()
                                      : options.reduce_path;
  if (!fs::exists(reduce_path)) {
    throw DistillError(reduce_path + ": no such file (run `genzoo reduce " + options.zoo_path + "` first, or pass --reduce)");
  }
  const ReduceData reduce = read_reduce(reduce_path);
  if (reduce.attrs.job_fingerprint != zoo.attrs.job_fingerprint) {
    throw DistillError(reduce_path + ": reduced from another zoo (job fingerprint " + reduce.attrs.job_fingerprint + ", " +
                       options.zoo_path + " has " + zoo.attrs.job_fingerprint + ")");
  }
  const Job job = load_distill_job(options, zoo.attrs);
  if (job.data.gaussian() && !job.data.regression()) {
    throw DistillError(options.zoo_path + ": job '" + zoo.attrs.job_name + "' has data.source = \"gaussian\" without a target; "
                       "distill takes image zoos and regression zoos (data.target = \"linear\")");
  }
  const std::vector<StudentStructure> students = resolve_students(job);
  const auto k = static_cast<int64_t>(zoo.attrs.classes.size());
  const std::vector<std::vector<double>> mixtures = target_mixtures(job.distill, k, job.data.alpha, job.seed);
  if (mixtures.empty() || static_cast<int64_t>(mixtures.front().size()) != k) {
    throw DistillError("key 'distill.proportions': expected mixtures of " + std::to_string(k) + " classes (the zoo's)");
  }
  // The gaussian source's one class is its pool: a regression student's samples come from it, its test
  // loss from the first test_images held-out vectors.
  const Dataset dataset = load_job_dataset(job, options.data_dir);
  std::vector<std::vector<int64_t>> train_pools, test_pools;
  for (int64_t label : zoo.attrs.classes) {
    train_pools.push_back(dataset.train.indices_of_class(static_cast<int>(label)));
    auto test = dataset.test.indices_of_class(static_cast<int>(label));
    test.resize(std::min<size_t>(test.size(), static_cast<size_t>(job.distill.test_images)));
    test_pools.push_back(std::move(test));
  }

  set_threads(owned_cores());
  TrainSettings settings;
  settings.steps = job.distill.steps;
  settings.batch_size = job.distill.batch_size;
  settings.lr = job.distill.lr;
  settings.prior_lr = job.distill.prior_lr;
  settings.hinton_weight = job.distill.hinton_weight;
  settings.hinton_temperature = job.distill.hinton_temperature;
  settings.curve_points = job.distill.curve_points;
  settings.vi_samples = job.distill.vi_samples;
  settings.vi_gradient_samples = job.distill.vi_gradient_samples;
  settings.device = resolve_device(options.device);
  settings.kernels = options.kernels;

  DistillData base;
  base.attrs.genzoo_version = GENZOO_VERSION;
  base.attrs.zoo_path = options.zoo_path;
  base.attrs.reduce_path = reduce_path;
  base.attrs.job_name = job.name;
  base.attrs.job_fingerprint = zoo.attrs.job_fingerprint;
  base.attrs.distill_config = identity_text(job, zoo.attrs);
  base.attrs.classes = zoo.attrs.classes;
  base.mixtures = mixtures;
  base.curve_steps = curve_steps(job.distill.steps, job.distill.curve_points);

  for (const StudentStructure& student : students) {
    base.student_layouts[student.name] = find_family(student.family).layout(config_of(student));
  }

  DistillSummary summary;
  summary.output_path = distill_output_path(options);
  const std::string shards = shard_dir_of(summary.output_path);
  DistillRunner runner(job, zoo, reduce, dataset, students, mixtures, train_pools, test_pools, settings, shards, base);
  summary.units = runner.unit_count();

  // What would fail inside a unit fails here, before anything is written: a family without a node
  // prior, a student alignment cannot reach, a size beyond a class's pool.
  for (const StudentStructure& student : students) {
    for (const auto& p : mixtures) runner.node_of(student, p);
  }
  const int64_t largest = *std::max_element(job.distill.sizes.begin(), job.distill.sizes.end());
  for (int64_t x = 0; x < static_cast<int64_t>(mixtures.size()); ++x) {
    for (int64_t seed = 0; seed < job.distill.seeds; ++seed) runner.samples_of(x, seed, largest);
  }

  // Rank 0 claims the shard directory for this configuration (or refuses another's) and finds what is done.
  PendingUnits pending;
  if (leader) {
    const std::string identity_path = shards + "/distill_config.toml";
    if (fs::exists(identity_path)) {
      if (read_text_file(identity_path) != base.attrs.distill_config) {
        throw DistillError(shards + " holds units of another [distill] configuration or zoo; remove it (or pass --output) "
                           "to distill with these settings");
      }
    } else {
      fs::create_directories(shards);
      write_file_atomically(identity_path, base.attrs.distill_config);
    }
    for (int64_t unit = 0; unit < summary.units; ++unit) {
      if (fs::exists(shard_path(shards, unit))) {
        pending.items_done += runner.items_in(unit);
        ++summary.units_done_before;
      } else {
        pending.units.push_back(unit);
      }
    }
    note(std::to_string(students.size()) + " student structures x " + std::to_string(job.distill.methods.size()) + " methods; " +
         std::to_string(summary.units) + " units (" + std::to_string(mixtures.size()) + " mixtures x " +
         std::to_string(job.distill.sizes.size()) + " sizes x " + std::to_string(job.distill.seeds) + " seeds)" +
         (summary.units_done_before ? ", " + std::to_string(summary.units_done_before) + " already in shards" : ""));
  }
  if (const std::string warning = blas_core_warning(); !warning.empty()) note("warning: " + warning);
  pending = comm.broadcast(pending);
  comm.barrier();
  const int64_t total_items = summary.units * runner.items_in(0);
  run_units(runner, pending, total_items, {options.schedule, "distill", "students", quiet}, comm);
  summary.interrupted = comm.broadcast(static_cast<bool>(stop_requested().load()));
  comm.barrier();
  if (summary.interrupted || !leader) return summary;

  DistillData merged = base;
  merged.attrs.created_utc = utc_now();
  for (int64_t unit = 0; unit < summary.units; ++unit) {
    const std::string path = shard_path(shards, unit);
    if (!fs::exists(path)) throw StorageError(path + ": missing unit shard after distill finished");
    DistillData shard = read_distill(path);
    if (shard.attrs.distill_config != base.attrs.distill_config) {
      throw StorageError(path + ": a unit of another [distill] configuration");
    }
    for (DistillResult& result : shard.results) merged.results.push_back(std::move(result));
  }
  write_distill(summary.output_path, merged);
  summary.results = static_cast<int64_t>(merged.results.size());
  return summary;
}

}  // namespace genzoo::distill
