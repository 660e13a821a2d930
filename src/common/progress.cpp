#include "common/progress.h"

#include <unistd.h>

#include <algorithm>
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

double eta_seconds(double done, double total, double elapsed) {
  if (!(done > 0.0) || !(elapsed > 0.0)) return NAN;
  return elapsed * std::max(0.0, total - done) / done;
}

namespace {
ProgressClock steady_clock_or(ProgressClock clock) {
  if (clock) return clock;
  return [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
}
}  // namespace

Progress::Progress(std::string label, std::string unit, double total, bool quiet, ProgressClock clock)
    : Progress(std::move(label), unit, total, ProgressWork{unit, 1.0, total}, quiet, std::move(clock)) {
  weighted_ = false;
}

Progress::Progress(std::string label, std::string unit, double total, ProgressWork work, bool quiet,
                   ProgressClock clock)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), weighted_(true), work_(std::move(work)),
      quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), clock_(steady_clock_or(std::move(clock))),
      start_(clock_()), last_print_(start_) {}

void Progress::update(double done) { update(done, weighted_ ? work_done_ : done); }

void Progress::update(double done, double work_done) {
  done_ = done;
  work_done_ = work_done;
  if (quiet_) return;
  const double now = clock_();
  if (now - last_print_ < (tty_ ? 0.5 : 10.0)) return;
  last_print_ = now;
  print(false, "");
}

void Progress::finish(const std::string& note) {
  if (quiet_) return;
  print(true, note);
}

std::string Progress::line(bool final_line, const std::string& note) const {
  const double elapsed = clock_() - start_;
  const double rate = elapsed > 0 ? work_done_ / work_.scale / elapsed : 0.0;
  const double eta = eta_seconds(work_done_, work_.total, elapsed);
  std::string share;
  if (weighted_) {
    char buf[32];
    // Rounded down: 100% only when all of it is done.
    const double percent = work_.total > 0 ? std::floor(100.0 * work_done_ / work_.total) : 100.0;
    std::snprintf(buf, sizeof buf, "  cost %.0f%%", percent);
    share = buf;
  }
  char text[320];
  std::snprintf(text, sizeof text, "[%s] %.0f/%.0f %s%s  %.2f %s/s  %s %s%s%s", label_.c_str(), std::floor(done_),
                total_, unit_.c_str(), share.c_str(), rate, work_.unit.c_str(), final_line ? "elapsed" : "ETA",
                format_duration(final_line ? elapsed : eta).c_str(), note.empty() ? "" : "  ", note.c_str());
  return text;
}

void Progress::print(bool final_line, const std::string& note) {
  const std::string text = line(final_line, note);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", text.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

}  // namespace genzoo
