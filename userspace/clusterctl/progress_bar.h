// The progress bar of `clusterctl volume move --wait`.
#ifndef CVOL_CLUSTERCTL_PROGRESS_BAR_H_
#define CVOL_CLUSTERCTL_PROGRESS_BAR_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/time/time.h"

namespace cvol::clusterctl {

// One line of exactly `width` characters (or less when width is too small
// for a bar):
//   [##########----------]  50%  12.5 MiB/s  ETA 0:42
// `rate_bytes_per_s` <= 0 or an absent `eta` mean "not known yet" and show
// as "--.- MiB/s" and "ETA --:--". done > total shows as 100%; total 0 is
// complete.
std::string RenderProgress(uint64_t done, uint64_t total, double rate_bytes_per_s,
                           std::optional<absl::Duration> eta, int width);

// Feeds RenderProgress from successive (done, total) samples and writes
// it: on a terminal one line redrawn with '\r'; otherwise a new line each
// time the whole percentage changes (so a log gets at most ~101 lines).
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool is_tty, int width);

  void Update(uint64_t done, uint64_t total, absl::Time now);
  // Ends the redrawn line on a terminal.
  void Finish();

 private:
  std::ostream& out_;
  bool is_tty_;
  int width_;
  std::optional<absl::Time> start_time_;
  uint64_t start_done_ = 0;
  int last_percent_ = -1;
  bool drew_ = false;
};

}  // namespace cvol::clusterctl

#endif  // CVOL_CLUSTERCTL_PROGRESS_BAR_H_
