// Work split into units handed to MPI ranks: train's chunks of models, distill's (mixture, n, seed)
// units. Rank 0 hands units to ranks that ask and runs units too (dynamic), or every rank takes a fixed
// round-robin share (static). SIGTERM / SIGUSR1 (what Slurm sends before a time limit or preemption)
// stop every rank after the unit in hand is dropped, so a requeued job resumes from what was written.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/serialization/vector.hpp>

namespace genzoo {

class Comm;

// Set asynchronously by SIGTERM / SIGUSR1 once install_stop_handlers() ran; units poll it.
std::atomic<bool>& stop_requested();
void install_stop_handlers();

// A broken PMI launch starts N lone "rank 0 of 1" processes that would all do the same work: refuses a
// world size other than SLURM_NTASKS under Slurm (GENZOO_IGNORE_SLURM_NTASKS=1 overrides).
void check_slurm_world_size(const Comm& comm);

// What a stage does with one unit; implemented by train and distill.
class UnitRunner {
 public:
  virtual ~UnitRunner() = default;
  // Runs one unit and writes its result; false when a stop request abandoned it. on_fraction(f) reports
  // progress within the unit (and lets the leader answer other ranks meanwhile).
  virtual bool run(int64_t unit, const std::function<void(double)>& on_fraction) = 0;
  // What the progress counter counts (models) and what rate and ETA follow (planned FLOPs).
  virtual int64_t items_in(int64_t unit) const = 0;
  virtual double work_in(int64_t unit) const = 0;
  virtual double total_work() const = 0;  // of every unit of the stage, done or not
};

struct PendingUnits {
  int64_t items_done = 0;       // items already written before this invocation
  std::vector<int64_t> units;   // units still to run
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & items_done & units;
  }
};

struct ScheduleOptions {
  std::string schedule = "dynamic";  // dynamic | static
  std::string stage = "train";       // the progress line's label
  std::string items = "models";
  bool quiet = false;
};

// Runs the pending units on every rank of comm. Rank 0 returns the items run by all ranks (and shows
// progress), other ranks the items they ran. Every rank must call it with the same pending units.
int64_t run_units(UnitRunner& runner, const PendingUnits& pending, int64_t total_items, const ScheduleOptions& options,
                  Comm& comm);

}  // namespace genzoo
