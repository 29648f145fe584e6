#include "progress_bar.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

std::string RenderMoveLine(const MoveProgress& move) {
  std::string line = absl::StrCat("extent ", move.vext, ": ");
  if ((move.phase == "copying" || move.phase == "recopying") && move.regions > 0) {
    absl::StrAppend(&line, move.phase, " ", std::min(move.copied_regions, move.regions), "/",
                    move.regions);
  } else if (move.phase == "failed" || move.phase == "rolled_back") {
    absl::StrAppend(&line, move.phase == "failed" ? "failed" : "rolled back",
                    move.error.empty() ? "" : ": ", move.error);
  } else {
    absl::StrAppend(&line, move.phase);
  }
  return line;
}

std::unique_ptr<ProgressPrinter> MakeProgressPrinter(std::ostream& out, bool is_tty, int width,
                                                     uint64_t extent_bytes) {
  if (is_tty) return std::make_unique<ProgressBar>(out, width, extent_bytes);
  return std::make_unique<ProgressLog>(out);
}

ProgressBar::ProgressBar(std::ostream& out, int width, uint64_t extent_bytes)
    : out_(out), width_(width), extent_bytes_(extent_bytes) {}

void ProgressBar::Update(const std::vector<MoveProgress>& moves, absl::Time now) {
  // Bytes copied and to copy: `extent_bytes_` a move, spread evenly over
  // its regions.
  uint64_t done = 0;
  uint64_t total = 0;
  for (const MoveProgress& move : moves) {
    total += extent_bytes_;
    if (move.regions == 0) {
      if (move.phase == "done") done += extent_bytes_;
      continue;
    }
    done += static_cast<uint64_t>(static_cast<unsigned __int128>(extent_bytes_) *
                                  std::min(move.copied_regions, move.regions) / move.regions);
  }
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
  out_ << "\r" << RenderProgress(done, total, rate, eta, width_) << std::flush;
  drew_ = true;
}

void ProgressBar::Finish() {
  if (drew_) out_ << "\n" << std::flush;
  drew_ = false;
}

ProgressLog::ProgressLog(std::ostream& out) : out_(out) {}

void ProgressLog::Update(const std::vector<MoveProgress>& moves, absl::Time /*now*/) {
  bool wrote = false;
  for (const MoveProgress& move : moves) {
    std::string line = RenderMoveLine(move);
    std::string& last = last_line_[move.vext];
    if (line == last) continue;
    last = line;
    out_ << line << "\n";
    wrote = true;
  }
  if (wrote) out_ << std::flush;
}

}  // namespace cvol::clusterctl
