// The migration messages of target 1.2: move one mapped extent online to
// a new physical extent (background copy with dual-writes), then switch
// it over or give up.
//
//   migrate_start <vext> <dst_dev> <dst_pext>            -> (nothing)
//   migrate_commit <vext>                                -> <new generation>
//   migrate_abort <vext>                                 -> (nothing)
//   migrate_throttle <regions_in_flight> [<max_migrations>]
//                                                        -> <regions> <migrations>
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

// The builders refuse what the target would refuse for range alone
// (vext beyond CVOL_MAX_EXTENTS, a slot beyond CVOL_MAX_DEVS, a pext
// beyond CVOL_MAX_PEXT), so a caller's bug shows as a Status naming the
// value instead of an ERANGE from the kernel. Whether the extent is
// mapped, the slot present or the destination free only the target knows.
absl::StatusOr<std::string> FormatMigrateStart(uint64_t vext, const Location& dst);
absl::StatusOr<std::string> FormatMigrateCommit(uint64_t vext);
absl::StatusOr<std::string> FormatMigrateAbort(uint64_t vext);

// Without max_migrations the target keeps its current cap. 0 is refused
// (the target refuses "migrate_throttle 0": it would stop every copy).
absl::StatusOr<std::string> FormatMigrateThrottle(
    uint64_t regions_in_flight, std::optional<uint64_t> max_migrations = std::nullopt);

// The migrate_commit response: the map generation after the cutover.
absl::StatusOr<uint64_t> ParseMigrateCommitResponse(absl::string_view response);

// The migrate_throttle response: the two values in force, each within
// the range the builder accepts.
absl::StatusOr<MigrateThrottle> ParseMigrateThrottleResponse(absl::string_view response);

}  // namespace cvol

#endif  // CVOL_MIGRATE_MESSAGES_H_
