#include "dist/scheduler.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <thread>

#include "common/error.h"
#include "common/progress.h"
#include "dist/comm.h"

namespace genzoo {

namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void request_stop(int) { g_stop_requested.store(true); }

// Messages between ranks (tags separate the two directions).
constexpr int kTagToLeader = 11;
constexpr int kTagToWorker = 12;   // replies to requests
constexpr int kTagStop = 14;       // unsolicited stop (another rank was signalled); polled while running

struct WorkerMessage {
  enum Kind : int32_t { kRequest = 0, kReport = 1, kFinished = 2 };
  int32_t kind = kRequest;
  int64_t items_done = 0;    // items finished since the previous message
  double work_done = 0.0;    // their planned work (progress rate and ETA follow these)
  bool stopped = false;      // the worker stopped because of a signal
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & kind & items_done & work_done & stopped;
  }
};

struct LeaderMessage {
  enum Kind : int32_t { kAssign = 0, kNoMoreWork = 1, kStop = 2 };
  int32_t kind = kAssign;
  int64_t unit = -1;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & kind & unit;
  }
};

// Worker ranks: a stop from the leader (another rank was signalled) ends the unit in hand.
void poll_leader_for_stop(Comm& comm) {
  LeaderMessage message;
  int source = 0;
  while (comm.try_receive(kTagStop, message, source)) g_stop_requested.store(true);
}

// "These items are done" for the leader's progress count.
WorkerMessage report_of(const UnitRunner& runner, int64_t unit) {
  WorkerMessage report{WorkerMessage::kReport};
  report.items_done = runner.items_in(unit);
  report.work_done = runner.work_in(unit);
  return report;
}

int64_t run_worker(UnitRunner& runner, const PendingUnits& pending, const ScheduleOptions& options, Comm& comm) {
  int64_t items = 0;
  const auto poll = [&](double) { poll_leader_for_stop(comm); };
  if (options.schedule == "static") {
    for (size_t i = comm.rank(); i < pending.units.size() && !g_stop_requested; i += comm.size()) {
      if (!runner.run(pending.units[i], poll)) break;
      items += runner.items_in(pending.units[i]);
      comm.send(report_of(runner, pending.units[i]), 0, kTagToLeader);
    }
  } else {
    // The next unit is requested before the current one runs, so the answer (which rank 0 gives
    // between its own steps) is waiting when this rank needs it.
    comm.send(WorkerMessage{WorkerMessage::kRequest}, 0, kTagToLeader);
    auto reply = comm.receive<LeaderMessage>(0, kTagToWorker);
    while (reply.kind == LeaderMessage::kAssign && !g_stop_requested) {
      comm.send(WorkerMessage{WorkerMessage::kRequest}, 0, kTagToLeader);
      if (!runner.run(reply.unit, poll)) break;
      items += runner.items_in(reply.unit);
      comm.send(report_of(runner, reply.unit), 0, kTagToLeader);
      reply = comm.receive<LeaderMessage>(0, kTagToWorker);
    }
    if (reply.kind == LeaderMessage::kStop) g_stop_requested.store(true);
  }
  WorkerMessage finished{WorkerMessage::kFinished};
  finished.stopped = g_stop_requested.load();
  comm.send(finished, 0, kTagToLeader);
  return items;
}

// Rank 0: runs units like a worker and, between its own steps, answers requests and counts progress.
int64_t run_leader(UnitRunner& runner, const PendingUnits& pending, int64_t total_items, const ScheduleOptions& options,
                   Comm& comm) {
  const bool dynamic = options.schedule != "static";
  std::deque<int64_t> queue;  // dynamic: every pending unit; static: this rank's share
  for (size_t i = 0; i < pending.units.size(); ++i) {
    if (dynamic || static_cast<int>(i % comm.size()) == 0) queue.push_back(pending.units[i]);
  }
  // The counter shows items; rate and ETA follow planned work (a GAN costs many linear autoencoders).
  const double total_work = runner.total_work();
  double finished_work = total_work;  // what the units still to run leave
  for (int64_t unit : pending.units) finished_work -= runner.work_in(unit);
  Progress progress(options.stage, options.items, static_cast<double>(total_items), ProgressWork{"GFLOP", 1e9, total_work},
                    options.quiet);
  double finished = static_cast<double>(pending.items_done);
  int64_t run_everywhere = 0;
  int workers_running = comm.size() - 1;
  std::vector<bool> stop_sent(comm.size(), false);
  progress.update(finished, finished_work);

  const auto serve = [&] {
    WorkerMessage message;
    int source = 0;
    while (comm.try_receive(kTagToLeader, message, source)) {
      finished += static_cast<double>(message.items_done);
      finished_work += message.work_done;
      run_everywhere += message.items_done;
      progress.update(finished, finished_work);
      if (message.kind == WorkerMessage::kFinished) {
        --workers_running;
        stop_sent[source] = true;  // nothing more to tell it
        if (message.stopped) g_stop_requested.store(true);
      } else if (message.kind == WorkerMessage::kRequest) {
        LeaderMessage reply{LeaderMessage::kNoMoreWork, -1};
        if (g_stop_requested) {
          reply.kind = LeaderMessage::kStop;
        } else if (!queue.empty()) {
          reply = {LeaderMessage::kAssign, queue.front()};
          queue.pop_front();
        }
        comm.send(reply, source, kTagToWorker);
        if (reply.kind == LeaderMessage::kStop) stop_sent[source] = true;
      }
    }
    if (g_stop_requested) {
      for (int rank = 1; rank < comm.size(); ++rank) {
        if (!stop_sent[rank]) {
          comm.send(LeaderMessage{LeaderMessage::kStop, -1}, rank, kTagStop);
          stop_sent[rank] = true;
        }
      }
    }
  };

  for (;;) {
    serve();
    if (!g_stop_requested && !queue.empty()) {
      const int64_t unit = queue.front();
      queue.pop_front();
      const double items = static_cast<double>(runner.items_in(unit));
      const double work = runner.work_in(unit);
      const bool done = runner.run(unit, [&](double fraction) {
        serve();
        progress.update(finished + items * fraction, finished_work + work * fraction);
      });
      if (done) {
        finished += items;
        finished_work += work;
        run_everywhere += runner.items_in(unit);
      }
      progress.update(finished, finished_work);
    } else if (workers_running == 0) {
      break;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  progress.finish(g_stop_requested ? "stopped by signal" : "");
  return run_everywhere;
}

}  // namespace

std::atomic<bool>& stop_requested() { return g_stop_requested; }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGTERM, SIGUSR1}) sigaction(signal, &action, nullptr);
}

void check_slurm_world_size(const Comm& comm) {
  const char* ntasks = std::getenv("SLURM_NTASKS");
  const char* ignore = std::getenv("GENZOO_IGNORE_SLURM_NTASKS");
  if (!ntasks || (ignore && std::string(ignore) == "1")) return;
  if (std::atoi(ntasks) != comm.size()) {
    throw MpiError("MPI world size is " + std::to_string(comm.size()) + " but SLURM_NTASKS is " + ntasks +
                   ": the MPI launch is broken (every task would start as its own rank 0). Launch with "
                   "`srun --mpi=pmix` (or --mpi=pmi2) or mpirun inside the allocation; set "
                   "GENZOO_IGNORE_SLURM_NTASKS=1 to override");
  }
}

int64_t run_units(UnitRunner& runner, const PendingUnits& pending, int64_t total_items, const ScheduleOptions& options,
                  Comm& comm) {
  return comm.rank() == 0 ? run_leader(runner, pending, total_items, options, comm) : run_worker(runner, pending, options, comm);
}

}  // namespace genzoo
