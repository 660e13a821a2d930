// Progress of long work on stderr: done/total, rate, ETA. Redraws one line on a terminal, prints a
// line every few seconds otherwise (logs of batch jobs). Silent when quiet.
//
// The counter shows units (models, epochs); when units differ in cost (a linear autoencoder and a GAN),
// rate and ETA follow the work behind them instead (ProgressWork, e.g. planned training FLOPs), so cheap
// units done first do not make the ETA promise too little.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace genzoo {

// The amount of work behind a counter whose units differ in cost.
struct ProgressWork {
  std::string unit;    // shown in the rate, e.g. "GFLOP"
  double scale = 1.0;  // amount of work in one displayed unit, e.g. 1e9 FLOPs per GFLOP
  double total = 0.0;  // in the caller's amounts (not scaled)
};

// Seconds since a fixed origin; injectable for tests.
using ProgressClock = std::function<double()>;

// Seconds left when `done` of `total` work took `elapsed` seconds at a steady rate:
// elapsed (total - done) / done. NaN before any work is done or any time has passed (no rate yet).
double eta_seconds(double done, double total, double elapsed);

class Progress {
 public:
  // Units of equal cost: rate and ETA follow the counter.
  Progress(std::string label, std::string unit, double total, bool quiet, ProgressClock clock = {});
  // Units of different cost: rate and ETA follow `work`; update() takes both amounts.
  Progress(std::string label, std::string unit, double total, ProgressWork work, bool quiet, ProgressClock clock = {});
  // Sets the amount done so far (may be fractional: models partly through their steps); with equal-cost
  // units the work done is the same amount.
  void update(double done);
  void update(double done, double work_done);
  // Prints the final line (always, unless quiet).
  void finish(const std::string& note = "");
  // The line print() writes, e.g. "[train] 40/112 models  cost 12%  2.31 GFLOP/s  ETA 3:05".
  std::string line(bool final_line, const std::string& note = "") const;

 private:
  void print(bool final_line, const std::string& note);

  std::string label_, unit_;
  double total_ = 0.0, done_ = 0.0;
  bool weighted_ = false;  // work_ differs from the counter
  ProgressWork work_;
  double work_done_ = 0.0;
  bool quiet_ = false, tty_ = false;
  ProgressClock clock_;
  double start_ = 0.0, last_print_ = 0.0;
};

std::string format_duration(double seconds);

}  // namespace genzoo
