#include "common/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace genzoo {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

Progress::Progress(std::string label, std::string unit, double total, bool quiet)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

void Progress::update(double done) {
  done_ = done;
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (since < (tty_ ? 0.5 : 10.0)) return;
  last_print_ = now;
  print(false, "");
}

void Progress::finish(const std::string& note) {
  if (quiet_) return;
  print(true, note);
}

void Progress::print(bool final_line, const std::string& note) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done_) / rate : NAN;
  char line[256];
  std::snprintf(line, sizeof line, "[%s] %.0f/%.0f %s  %.2f %s/s  %s %s%s%s", label_.c_str(), std::floor(done_), total_,
                unit_.c_str(), rate, unit_.c_str(), final_line ? "elapsed" : "ETA",
                format_duration(final_line ? elapsed : eta).c_str(), note.empty() ? "" : "  ", note.c_str());
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

}  // namespace genzoo
