// The progress of `clusterctl volume move --wait`: a bar redrawn in place on
// a terminal, plain lines otherwise (a pipe, a file, a log).
#ifndef CVOL_CLUSTERCTL_PROGRESS_BAR_H_
#define CVOL_CLUSTERCTL_PROGRESS_BAR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

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

// One move as a progress report carries it (docs/control-protocol.md, Move).
struct MoveProgress {
  uint64_t vext = 0;
  std::string phase;  // queued, copying, committing, done, failed, rolled_back
  uint64_t copied_regions = 0;
  uint64_t regions = 0;  // 0 until the kernel has said
  std::string error;
};

// The plain line of one move:
//   extent 4: copying 3/8        (regions copied of the extent's regions)
//   extent 4: copying            (the kernel has not said yet)
//   extent 4: queued | committing | done
//   extent 4: failed: <error>    extent 4: rolled back: <error>
std::string RenderMoveLine(const MoveProgress& move);

// Follows the successive reports of a move --wait, each the state of every
// move, and then the final result.
class ProgressPrinter {
 public:
  virtual ~ProgressPrinter() = default;
  virtual void Update(const std::vector<MoveProgress>& moves, absl::Time now) = 0;
  // Ends the output (the redrawn line on a terminal).
  virtual void Finish() {}
};

// On a terminal (`is_tty`): one RenderProgress line of `width` over the
// bytes of all the moves (`extent_bytes` each), redrawn with '\r'.
// Otherwise: a move's RenderMoveLine each time that line changes; an
// unchanged move prints nothing, and there is no bar and no '\r'.
std::unique_ptr<ProgressPrinter> MakeProgressPrinter(std::ostream& out, bool is_tty, int width,
                                                     uint64_t extent_bytes);

// The terminal's printer.
class ProgressBar : public ProgressPrinter {
 public:
  ProgressBar(std::ostream& out, int width, uint64_t extent_bytes);

  void Update(const std::vector<MoveProgress>& moves, absl::Time now) override;
  void Finish() override;

 private:
  std::ostream& out_;
  int width_;
  uint64_t extent_bytes_;
  std::optional<absl::Time> start_time_;
  uint64_t start_done_ = 0;
  bool drew_ = false;
};

// The printer for anything else.
class ProgressLog : public ProgressPrinter {
 public:
  explicit ProgressLog(std::ostream& out);

  void Update(const std::vector<MoveProgress>& moves, absl::Time now) override;

 private:
  std::ostream& out_;
  std::map<uint64_t, std::string> last_line_;  // by vext
};

}  // namespace cvol::clusterctl

#endif  // CVOL_CLUSTERCTL_PROGRESS_BAR_H_
