#include "progress_bar.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace cvol::clusterctl {
namespace {

int Percent(uint64_t done, uint64_t total) {
  if (total == 0 || done >= total) return 100;
  return static_cast<int>(static_cast<unsigned __int128>(done) * 100 / total);
}

std::string FormatEta(std::optional<absl::Duration> eta) {
  if (!eta.has_value() || *eta < absl::ZeroDuration() || *eta == absl::InfiniteDuration()) {
    return "--:--";
  }
  int64_t seconds = absl::ToInt64Seconds(absl::Ceil(*eta, absl::Seconds(1)));
  if (seconds >= 100 * 3600) return ">99h";
  if (seconds >= 3600) {
    return absl::StrFormat("%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
  }
  return absl::StrFormat("%d:%02d", seconds / 60, seconds % 60);
}

std::string FormatRate(double bytes_per_s) {
  if (!(bytes_per_s > 0)) return "--.- MiB/s";
  return absl::StrFormat("%.1f MiB/s", bytes_per_s / (1024.0 * 1024.0));
}

}  // namespace

std::string RenderProgress(uint64_t done, uint64_t total, double rate_bytes_per_s,
                           std::optional<absl::Duration> eta, int width) {
  int percent = Percent(done, total);
  std::string tail = absl::StrFormat(" %3d%%  %s  ETA %s", percent, FormatRate(rate_bytes_per_s),
                                     FormatEta(eta));
  // "[" + bar + "]" + tail; a bar under 10 cells says nothing, drop it.
  int bar_cells = width - 2 - static_cast<int>(tail.size());
  if (bar_cells < 10) return tail.substr(1);
  int filled = (total == 0 || done >= total)
                   ? bar_cells
                   : static_cast<int>(static_cast<unsigned __int128>(done) * bar_cells / total);
  return absl::StrCat("[", std::string(filled, '#'), std::string(bar_cells - filled, '-'), "]",
                      tail);
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool is_tty, int width)
    : out_(out), is_tty_(is_tty), width_(width) {}

void ProgressPrinter::Update(uint64_t done, uint64_t total, absl::Time now) {
  if (!start_time_.has_value()) {
    start_time_ = now;
    start_done_ = done;
  }
  // The average since the first sample: steadier than the last interval,
  // and the copier's throttle makes the rate even anyway.
  double rate = 0;
  std::optional<absl::Duration> eta;
  absl::Duration elapsed = now - *start_time_;
  if (elapsed > absl::ZeroDuration() && done > start_done_) {
    rate = static_cast<double>(done - start_done_) / absl::ToDoubleSeconds(elapsed);
    eta = absl::Seconds(static_cast<double>(total > done ? total - done : 0) / rate);
  } else if (done >= total) {
    eta = absl::ZeroDuration();
  }
  std::string line = RenderProgress(done, total, rate, eta, width_);
  if (is_tty_) {
    out_ << "\r" << line << std::flush;
    drew_ = true;
    return;
  }
  int percent = Percent(done, total);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  out_ << line << "\n" << std::flush;
}

void ProgressPrinter::Finish() {
  if (is_tty_ && drew_) out_ << "\n" << std::flush;
  drew_ = false;
}

}  // namespace cvol::clusterctl
