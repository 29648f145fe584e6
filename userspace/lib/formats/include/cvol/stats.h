// The load counters of target 1.1, per extent and per device:
//
//   stats <vext> <count> [clear]
//     -> <extents_per_entry> [<vext>:<reads>:<writes>:<read_sectors>:<write_sectors>:<seq_ios>]...
//   dev_stats [clear]
//     -> [<slot>:<reads>:<writes>:<read_sectors>:<write_sectors>:<read_ns>:<write_ns>:<seq_ios>:<errors>]...
//
// Extent entries whose counters are all zero are left out. A volume of
// more than CVOL_MAX_STATS_ENTRIES extents keeps one entry per
// power-of-two block of extents, so an entry then covers
// extents_per_entry extents starting at its (aligned) vext.
#ifndef CVOL_STATS_H_
#define CVOL_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

struct ExtentStats {
  uint64_t vext = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_sectors = 0;
  uint64_t write_sectors = 0;
  uint64_t seq_ios = 0;  // I/Os that continued where the previous one ended

  friend bool operator==(const ExtentStats&, const ExtentStats&) = default;
};

struct ExtentStatsResponse {
  uint64_t extents_per_entry = 1;
  std::vector<ExtentStats> entries;  // ascending vext

  friend bool operator==(const ExtentStatsResponse&, const ExtentStatsResponse&) = default;
};

struct DeviceStats {
  uint32_t slot = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_sectors = 0;
  uint64_t write_sectors = 0;
  uint64_t read_ns = 0;  // summed completion latency
  uint64_t write_ns = 0;
  uint64_t seq_ios = 0;
  uint64_t errors = 0;

  friend bool operator==(const DeviceStats&, const DeviceStats&) = default;
};

// `clear` resets the counters read (atomically with the read).
std::string FormatStats(uint64_t vext, uint64_t count, bool clear = false);
std::string FormatDevStats(bool clear = false);

// Checks that extents_per_entry is a power of two, every vext is a
// multiple of it, and the entries ascend without repeats.
absl::StatusOr<ExtentStatsResponse> ParseStatsResponse(absl::string_view response);

// One entry per present device slot, ascending, slots below
// CVOL_MAX_DEVS.
absl::StatusOr<std::vector<DeviceStats>> ParseDevStatsResponse(absl::string_view response);

}  // namespace cvol

#endif  // CVOL_STATS_H_
