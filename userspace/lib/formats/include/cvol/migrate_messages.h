// The migration messages of target 1.2: move one mapped extent online to
// a new physical extent (background copy with dual-writes), then switch
// it over or give up. Target 1.3 adds `follow` and migrate_dirty.
//
//   migrate_start <vext> <dst_dev> <dst_pext> [follow]   -> (nothing)
//   migrate_commit <vext>                                -> <new generation>
//   migrate_abort <vext>                                 -> (nothing)
//   migrate_throttle <regions_in_flight> [<max_migrations>]
//                                                        -> <regions> <migrations>
//   migrate_dirty <vext> [clear]   -> <region_sectors> <nr_regions> [<r0>:<count>]...
//   migrate_recopy <vext> <r0>:<count>...                -> (nothing)   (1.5)
//
// In a cluster one host copies (kCopy) and every other host serving the
// volume follows (kFollow: dual-writes only, no copy). A follower's write
// may race the copier's copy of its region, so at the cutover, under a
// drained freeze of the extent on every host, the copier's kernel copies
// the regions migrate_dirty lists on the followers again (migrate_recopy:
// the copy stops at that host's fence like any other), then every host
// commits. Followers start (and reach ready) before the copier starts.
//
// Progress is in the status (MigrationStatus) and in the migrate_* events.
// Refusals (EBUSY, EEXIST, EAGAIN from a commit that is not ready, ...)
// come back as a failed message, not as a response. migrate_start and
// migrate_abort answer nothing: check them with ParseEmptyResponse.
#ifndef CVOL_MIGRATE_MESSAGES_H_
#define CVOL_MIGRATE_MESSAGES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cvol/map_types.h"

namespace cvol {

// The copy engine's bounds as migrate_throttle sets and reports them.
struct MigrateThrottle {
  uint32_t regions_in_flight = 0;  // 1..CVOL_MAX_COPY_REGIONS
  uint32_t max_migrations = 0;     // 1..CVOL_MAX_MIGRATIONS

  friend bool operator==(const MigrateThrottle&, const MigrateThrottle&) = default;
};

enum class MigrateMode {
  kCopy,    // this host copies
  kFollow,  // another host copies; this one only dual-writes (target 1.3)
};

// A run of consecutive regions written through a migration.
struct DirtyRun {
  uint32_t first = 0;
  uint32_t count = 0;  // >= 1

  friend bool operator==(const DirtyRun&, const DirtyRun&) = default;
};

// The migrate_dirty response.
struct MigrateDirty {
  uint64_t region_sectors = 0;  // the unit of `runs`, in sectors
  uint32_t nr_regions = 0;      // regions of the extent
  std::vector<DirtyRun> runs;   // ascending, maximal (never adjacent)

  friend bool operator==(const MigrateDirty&, const MigrateDirty&) = default;
};

// The builders refuse what the target would refuse for range alone
// (vext beyond CVOL_MAX_EXTENTS, a slot beyond CVOL_MAX_DEVS, a pext
// beyond CVOL_MAX_PEXT), so a caller's bug shows as a Status naming the
// value instead of an ERANGE from the kernel. Whether the extent is
// mapped, the slot present or the destination free only the target knows.
absl::StatusOr<std::string> FormatMigrateStart(uint64_t vext, const Location& dst,
                                               MigrateMode mode = MigrateMode::kCopy);
absl::StatusOr<std::string> FormatMigrateCommit(uint64_t vext);
absl::StatusOr<std::string> FormatMigrateAbort(uint64_t vext);

// Without max_migrations the target keeps its current cap. 0 is refused
// (the target refuses "migrate_throttle 0": it would stop every copy).
absl::StatusOr<std::string> FormatMigrateThrottle(
    uint64_t regions_in_flight, std::optional<uint64_t> max_migrations = std::nullopt);

// With clear the target empties the set in the same step it reads it.
absl::StatusOr<std::string> FormatMigrateDirty(uint64_t vext, bool clear = false);

// The runs of regions to copy again: at least one, each count >= 1 and
// inside CVOL_MAX_REGIONS (the target checks them against the extent).
absl::StatusOr<std::string> FormatMigrateRecopy(uint64_t vext, const std::vector<DirtyRun>& runs);

// The migrate_commit response: the map generation after the cutover.
absl::StatusOr<uint64_t> ParseMigrateCommitResponse(absl::string_view response);

// The migrate_throttle response: the two values in force, each within
// the range the builder accepts.
absl::StatusOr<MigrateThrottle> ParseMigrateThrottleResponse(absl::string_view response);

// The migrate_dirty response, strictly: region_sectors a multiple of 8 in
// [8, CVOL_MAX_EXTENT_SECTORS], nr_regions in [1, CVOL_MAX_REGIONS], runs
// "<first>:<count>" with count >= 1, inside the extent, ascending and
// separated by at least one clean region (the target prints maximal runs).
absl::StatusOr<MigrateDirty> ParseMigrateDirtyResponse(absl::string_view response);

}  // namespace cvol

#endif  // CVOL_MIGRATE_MESSAGES_H_
