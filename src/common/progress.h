// Progress of long work on stderr: done/total, rate, ETA. Redraws one line on a terminal, prints a
// line every few seconds otherwise (logs of batch jobs). Silent when quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace genzoo {

class Progress {
 public:
  Progress(std::string label, std::string unit, double total, bool quiet);
  // Sets the amount done so far (may be fractional: models partly through their steps).
  void update(double done);
  // Prints the final line (always, unless quiet).
  void finish(const std::string& note = "");

 private:
  void print(bool final_line, const std::string& note);

  std::string label_, unit_;
  double total_ = 0.0, done_ = 0.0;
  bool quiet_ = false, tty_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

std::string format_duration(double seconds);

}  // namespace genzoo
