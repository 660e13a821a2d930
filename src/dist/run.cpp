#include "dist/run.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <numeric>
#include <set>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "common/rng.h"
#include "common/text.h"
#include "data/dataset.h"
#include "data/gaussian_source.h"
#include "data/feature_net.h"
#include "dist/comm.h"
#include "dist/resources.h"
#include "dist/scheduler.h"
#include "job/job.h"
#include "kernels/isa.h"
#include "models/family.h"
#include "plan/plan.h"
#include "store/run_dir.h"
#include "store/zoo.h"
#include "train/trainer.h"

namespace genzoo {

namespace {

ZooAttributes attributes_for(const Job& job, const std::vector<int64_t>& classes) {
  ZooAttributes attrs;
  attrs.genzoo_version = GENZOO_VERSION;
  attrs.created_utc = utc_now();
  attrs.job_name = job.name;
  attrs.job_toml = job.text;
  attrs.job_fingerprint = fingerprint(job.text);
  attrs.dataset = job.data.gaussian() ? "gaussian" : "fashion-mnist";
  attrs.classes = classes;
  return attrs;
}

ModelRecord record_of(const ModelSpec& spec, const std::string& family, const TrainedModel& trained, int32_t rank) {
  ModelRecord r;
  r.id = spec.id;
  r.family = family;
  r.seed = spec.seed;
  r.init_group = spec.init_group;
  r.lr = spec.lr;
  r.counts = spec.counts;
  r.proportions = spec.proportions;
  r.sample_indices = spec.sample_indices;
  r.design = design_name(spec.design);
  r.design_group = spec.design_group;
  r.design_role = spec.design_role;
  r.probe_gap = spec.probe_gap;
  r.status = trained.status;
  r.final_loss = trained.final_loss;
  r.test_loss = trained.test_loss;
  r.train_seconds = trained.train_seconds;
  r.rank = rank;
  r.kernel_isa = trained.kernel_isa;
  r.metrics = trained.metrics;
  return r;
}

// The feature net is trained once per run and kept in featurenet.h5, so a resumed run (and every
// rank) selects the same classes. With classes given in the job, no feature net is trained.
std::optional<FeatureNetRecord> ensure_feature_net(const RunDir& run, const Job& job, const Dataset& dataset, bool quiet) {
  if (!job.data.classes.empty()) return std::nullopt;
  if (std::filesystem::exists(run.featurenet_path())) return read_zoo(run.featurenet_path()).featurenet;
  Progress progress("featurenet", "epochs", static_cast<double>(job.featurenet.epochs), quiet);
  ZooData zoo;
  zoo.featurenet = train_feature_net(dataset, job.featurenet, mix_seed(job.seed, 0xfea7ULL), job.data.num_classes,
                                     [&](int64_t epoch, int64_t) { progress.update(static_cast<double>(epoch)); });
  char note[96];
  std::snprintf(note, sizeof note, "test accuracy %.4f", zoo.featurenet->test_accuracy);
  progress.finish(note);
  zoo.attrs = attributes_for(job, zoo.featurenet->selected_classes);
  write_zoo(run.featurenet_path(), zoo);
  return zoo.featurenet;
}

std::string describe_classes(const std::vector<int64_t>& classes, const std::optional<FeatureNetRecord>& net) {
  std::string text;
  for (size_t i = 0; i < classes.size(); ++i) text += (i ? ", " : "") + std::to_string(classes[i]);
  if (net) {
    double min_distance = INFINITY;
    for (size_t i = 0; i < classes.size(); ++i)
      for (size_t j = i + 1; j < classes.size(); ++j)
        min_distance = std::min(min_distance, net->centroid_distances[classes[i] * 10 + classes[j]]);
    char buf[128];
    std::snprintf(buf, sizeof buf, " (feature net test accuracy %.4f, min centroid distance %.3f)", net->test_accuracy,
                  min_distance);
    text += buf;
  } else {
    text += " (given by the job)";
  }
  return text;
}

}  // namespace

namespace {

// Where a rank's time went (the scaling benchmark's breakdown).
struct RankTimings {
  int32_t rank = 0;
  double loop_seconds = 0;      // the scheduling loop: from the first chunk to the last
  double train_seconds = 0;     // inside train_chunk
  double hdf5_seconds = 0;      // writing shards
  double mpi_seconds = 0;       // inside MPI calls
  int64_t models = 0;
  std::string isa;              // the instruction set of the rank's hand-written kernels
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & rank & loop_seconds & train_seconds & hdf5_seconds & mpi_seconds & models & isa;
  }
};
constexpr int kTagTimings = 13;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Trains chunks into shards on one rank; the leader (rank 0) also schedules and reports progress.
class ChunkRunner : public UnitRunner {
 public:
  ChunkRunner(const Job& job, const Plan& plan, const RunDir& run, const EvalData& eval, TrainOptions train_options,
              Comm& comm)
      : job_(job), plan_(plan), run_(run), eval_(eval), options_(std::move(train_options)), comm_(comm) {
    options_.stop = &stop_requested();
  }

  // Trains one chunk and writes its shard; false when a stop request abandoned it.
  bool run(int64_t chunk_index, const std::function<void(double)>& on_fraction) override {
    const Chunk& chunk = plan_.chunks[chunk_index];
    const FamilyConfig& config = job_.families[chunk.family_index];
    std::vector<const ModelSpec*> specs;
    for (int64_t id : chunk.model_ids) specs.push_back(&plan_.models[id]);
    options_.on_step = [&](int64_t step) { on_fraction(static_cast<double>(step) / static_cast<double>(config.steps)); };
    std::vector<TrainedModel> trained;
    const auto train_start = std::chrono::steady_clock::now();
    try {
      trained = train_chunk(config, specs, eval_, options_);
    } catch (const ChunkAbandoned&) {
      return false;
    }
    timings.train_seconds += seconds_since(train_start);
    ZooData shard;
    shard.attrs = attributes_for(job_, plan_.classes);
    FamilyWeights& weights = shard.weights[config.name];
    weights.family = config.name;
    weights.layout = find_family(config.name).layout(config);
    weights.checkpoint_steps = config.checkpoint_steps;
    weights.samples_per_model = static_cast<int64_t>(trained.front().samples.size()) / kSampleImagePixels;
    for (size_t i = 0; i < specs.size(); ++i) {
      shard.models.push_back(record_of(*specs[i], config.name, trained[i], comm_.rank()));
      weights.model_ids.push_back(specs[i]->id);
      weights.data.insert(weights.data.end(), trained[i].weights.begin(), trained[i].weights.end());
      weights.checkpoints.insert(weights.checkpoints.end(), trained[i].checkpoints.begin(), trained[i].checkpoints.end());
      weights.samples.insert(weights.samples.end(), trained[i].samples.begin(), trained[i].samples.end());
    }
    const auto write_start = std::chrono::steady_clock::now();
    write_zoo(run_.shard_path(chunk.index), shard, WeightStorage::kFast);
    timings.hdf5_seconds += seconds_since(write_start);
    timings.models += static_cast<int64_t>(specs.size());
    return true;
  }

  int64_t items_in(int64_t chunk_index) const override {
    return static_cast<int64_t>(plan_.chunks[chunk_index].model_ids.size());
  }
  // Planned training FLOPs of a chunk's models.
  double work_in(int64_t chunk_index) const override {
    const Chunk& chunk = plan_.chunks[chunk_index];
    return training_flops(job_.families[chunk.family_index]) * static_cast<double>(chunk.model_ids.size());
  }
  double total_work() const override {
    double total = 0.0;
    for (const Chunk& chunk : plan_.chunks) total += work_in(chunk.index);
    return total;
  }

  RankTimings timings;

 private:
  const Job& job_;
  const Plan& plan_;
  const RunDir& run_;
  const EvalData& eval_;
  TrainOptions options_;
  Comm& comm_;
};

// Rank 0 prints one line per rank: "timings rank=R loop_s=.. train_s=.. hdf5_s=.. mpi_s=.. models=.. isa=..".
void report_timings(const RankTimings& own, Comm& comm) {
  if (comm.rank() != 0) {
    comm.send(own, 0, kTagTimings);
    return;
  }
  std::vector<RankTimings> all{own};
  for (int rank = 1; rank < comm.size(); ++rank) all.push_back(comm.receive<RankTimings>(rank, kTagTimings));
  for (const auto& t : all) {
    std::printf("timings rank=%d loop_s=%.3f train_s=%.3f hdf5_s=%.3f mpi_s=%.3f models=%lld isa=%s\n", t.rank,
                t.loop_seconds, t.train_seconds, t.hdf5_seconds, t.mpi_seconds, static_cast<long long>(t.models),
                t.isa.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

RunSummary train_run(const Job& job, const RunOptions& options) {
  Comm& comm = Comm::world();
  check_slurm_world_size(comm);
  check_family_layouts(job.families, job.source);
  install_stop_handlers();
  RunSummary summary;
  summary.total_models = job.total_models();
  const RunDir run(options.run_dir);
  const bool leader = comm.rank() == 0;
  // Data first: a missing or corrupt data directory fails before the run directory is touched.
  const Dataset dataset = load_job_dataset(job, options.data_dir);
  const bool quiet = options.quiet || !leader;

  // Rank 0 claims the directory (or refuses it) before anyone reads from it.
  bool complete = false;
  if (leader) {
    run.claim(job);
    run.remove_stale_temporaries();
    complete = std::filesystem::exists(run.zoo_path()) &&
               static_cast<int64_t>(read_model_ids(run.zoo_path()).size()) == summary.total_models;
  }
  complete = comm.broadcast(complete);
  if (!leader) run.claim(job);
  if (complete) {
    summary.was_complete = true;
    summary.already_done = summary.total_models;
    return summary;
  }

  set_threads(owned_cores());
  TrainOptions train_options;
  train_options.device = resolve_device(options.device);
  train_options.kernels = options.kernels;
  train_options.rank = comm.rank();
  if (options.fault_rank < 0 || options.fault_rank == comm.rank()) train_options.fault_model = options.fault_model;

  std::optional<FeatureNetRecord> net;
  if (leader) net = ensure_feature_net(run, job, dataset, quiet);
  comm.barrier();
  if (!leader) net = ensure_feature_net(run, job, dataset, true);  // reads what rank 0 stored
  const std::vector<int64_t> classes = net ? net->selected_classes : job.data.classes;
  if (!quiet) std::fprintf(stderr, "[train] classes %s\n", describe_classes(classes, net).c_str());
  if (const std::string warning = blas_core_warning(); !quiet && !warning.empty()) {
    std::fprintf(stderr, "[train] warning: %s\n", warning.c_str());
  }

  std::vector<std::vector<int64_t>> train_pools, test_pools;
  for (int64_t label : classes) {
    train_pools.push_back(dataset.train.indices_of_class(static_cast<int>(label)));
    test_pools.push_back(dataset.test.indices_of_class(static_cast<int>(label)));
  }
  const Plan plan = make_plan(job, classes, train_pools);
  const EvalData eval{&dataset, test_pools, net ? &*net : nullptr};
  train_options.class_labels = classes;

  PendingUnits work;
  if (leader) {
    std::set<int64_t> done;
    for (const auto& shard : run.shard_files()) {
      for (int64_t id : read_model_ids(shard)) done.insert(id);
    }
    work.items_done = static_cast<int64_t>(done.size());
    for (const Chunk& chunk : plan.chunks) {
      const bool chunk_done = std::all_of(chunk.model_ids.begin(), chunk.model_ids.end(),
                                          [&](int64_t id) { return done.count(id) > 0; });
      if (!chunk_done) work.units.push_back(chunk.index);
    }
    if (!quiet && work.items_done > 0) {
      std::fprintf(stderr, "[train] resuming: %lld of %lld models already in shards\n",
                   static_cast<long long>(work.items_done), static_cast<long long>(summary.total_models));
    }
  }
  work = comm.broadcast(work);
  summary.already_done = work.items_done;

  ChunkRunner runner(job, plan, run, eval, train_options, comm);
  const double mpi_before = comm.seconds_in_mpi();
  const auto loop_start = std::chrono::steady_clock::now();
  summary.trained = run_units(runner, work, summary.total_models, {options.schedule, "train", "models", options.quiet}, comm);
  runner.timings.rank = comm.rank();
  runner.timings.isa = kernels::isa();
  runner.timings.loop_seconds = seconds_since(loop_start);
  runner.timings.mpi_seconds = comm.seconds_in_mpi() - mpi_before;
  if (options.timings) report_timings(runner.timings, comm);
  // Every rank learns whether any rank was stopped, so all exit the same way.
  summary.interrupted = comm.broadcast(static_cast<bool>(stop_requested().load()));
  comm.barrier();
  if (summary.interrupted) return summary;
  if (leader) {
    merge_run(options.run_dir, quiet);
    summary.merged = true;
  }
  return summary;
}

void merge_run(const std::string& run_dir, bool quiet) {
  const RunDir run(run_dir);
  const std::string job_text = run.stored_job_text();
  const Job job = parse_job(job_text, run.job_path());
  const std::string expected_fingerprint = fingerprint(job_text);

  ZooData zoo;
  if (std::filesystem::exists(run.featurenet_path())) zoo.featurenet = read_zoo(run.featurenet_path()).featurenet;
  std::map<int64_t, std::string> owner;  // model id -> shard holding it
  for (const auto& path : run.shard_files()) {
    ZooData shard;
    try {
      shard = read_zoo(path);
    } catch (const StorageError& e) {
      throw StorageError("merge: shard " + path + " is unreadable: " + e.what());
    }
    if (shard.attrs.job_fingerprint != expected_fingerprint) {
      throw StorageError("merge: shard " + path + " belongs to another job ('" + shard.attrs.job_name + "', fingerprint " +
                         shard.attrs.job_fingerprint + "); remove it or use its own run directory");
    }
    if (zoo.models.empty()) zoo.attrs = shard.attrs;
    for (auto& model : shard.models) {
      auto [it, inserted] = owner.emplace(model.id, path);
      if (!inserted) throw StorageError("merge: model " + std::to_string(model.id) + " is in both " + it->second + " and " + path);
      zoo.models.push_back(std::move(model));
    }
    for (auto& [family, part] : shard.weights) {
      FamilyWeights& merged = zoo.weights[family];
      if (merged.layout.empty()) {
        merged.family = family;
        merged.layout = part.layout;
        merged.checkpoint_steps = part.checkpoint_steps;
        merged.samples_per_model = part.samples_per_model;
      } else if (layout_size(merged.layout) != layout_size(part.layout) || merged.checkpoint_steps != part.checkpoint_steps ||
                 merged.samples_per_model != part.samples_per_model) {
        throw StorageError("merge: shard " + path + " has a different layout for family " + family);
      }
      merged.model_ids.insert(merged.model_ids.end(), part.model_ids.begin(), part.model_ids.end());
      merged.data.insert(merged.data.end(), part.data.begin(), part.data.end());
      merged.checkpoints.insert(merged.checkpoints.end(), part.checkpoints.begin(), part.checkpoints.end());
      merged.samples.insert(merged.samples.end(), part.samples.begin(), part.samples.end());
    }
  }
  const int64_t expected = job.total_models();
  if (static_cast<int64_t>(zoo.models.size()) != expected) {
    throw StorageError("merge: " + run_dir + " holds " + std::to_string(zoo.models.size()) + " of " +
                       std::to_string(expected) + " models; rerun `genzoo train` with the same job to finish it");
  }
  // Rows sorted by model id: the merged file does not depend on ranks, schedule or shard order.
  std::sort(zoo.models.begin(), zoo.models.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (auto& [family, weights] : zoo.weights) {
    const int64_t rows = static_cast<int64_t>(weights.model_ids.size());
    const int64_t p = weights.param_count(), t = static_cast<int64_t>(weights.checkpoint_steps.size());
    const int64_t s = weights.samples_per_model * kSampleImagePixels;
    std::vector<int64_t> order(rows);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return weights.model_ids[a] < weights.model_ids[b]; });
    FamilyWeights sorted = weights;
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t from = order[row];
      sorted.model_ids[row] = weights.model_ids[from];
      std::copy_n(weights.data.begin() + from * p, p, sorted.data.begin() + row * p);
      std::copy_n(weights.checkpoints.begin() + from * t * p, t * p, sorted.checkpoints.begin() + row * t * p);
      std::copy_n(weights.samples.begin() + from * s, s, sorted.samples.begin() + row * s);
    }
    weights = std::move(sorted);
  }
  zoo.attrs.created_utc = utc_now();
  write_zoo(run.zoo_path(), zoo);
  if (!quiet) std::fprintf(stderr, "[merge] %s: %zu models\n", run.zoo_path().c_str(), zoo.models.size());
}

}  // namespace genzoo
