// The INFO status of the cvol target (`dmsetup status` after "<start>
// <len> cvol"):
//
//   1.0: <map_gen> <mapped>/<total> <health chars>
//   1.1: ... <#freezes> [<id>:<vext>:<count>:<draining|drained>]...
//            <#migrations> [<vext>:<state>:<copied>/<regions>:<errors>]...
//            <event_seq> <events_lost> <none|armed|fenced>
//   1.2: the same words; <#migrations> may now be non-zero (a 1.1 target
//        always prints 0), state is start|copy|ready|failed|abort.
//
// Later target versions append fields at the end only, so unknown trailing
// words are kept but not interpreted.
#ifndef CVOL_STATUS_H_
#define CVOL_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

// One character per device slot.
enum class DeviceHealth : char {
  kAlive = 'A',
  kIoErrors = 'D',
  kDestinationWriteErrors = 'W',
  kEmptySlot = '-',
};

enum class FreezeState { kDraining, kDrained };

struct FreezeStatus {
  uint64_t id = 0;
  uint64_t vext = 0;
  uint64_t count = 0;
  FreezeState state = FreezeState::kDraining;

  friend bool operator==(const FreezeStatus&, const FreezeStatus&) = default;
};

// Where a migration of one extent stands (docs/target.md, migrate_start).
enum class MigrationState {
  kStart,   // marked migrating, draining the I/O from before it
  kCopy,    // copying regions; writes to copied regions are dual-written
  kReady,   // every region copied and the destination flushed
  kFailed,  // ending after too many copy errors; the source is authoritative
  kAbort,   // ending after migrate_abort
};

struct MigrationStatus {
  uint64_t vext = 0;
  MigrationState state = MigrationState::kStart;
  uint64_t copied_regions = 0;
  uint64_t regions = 0;
  uint64_t errors = 0;

  friend bool operator==(const MigrationStatus&, const MigrationStatus&) = default;
};

enum class LeaseState { kNone, kArmed, kFenced };

// The fields target 1.1 appended (1.2 fills `migrations`).
struct StatusV1_1 {
  std::vector<FreezeStatus> freezes;
  std::vector<MigrationStatus> migrations;
  uint64_t event_seq = 0;
  uint64_t events_lost = 0;
  LeaseState lease = LeaseState::kNone;

  friend bool operator==(const StatusV1_1&, const StatusV1_1&) = default;
};

// Which fields Parse expects after the health characters.
enum class StatusFormat {
  // The 1.1 fields (migrations allowed, as in 1.2) when the words there
  // form them; otherwise (a 1.0 line, or a version this library does not
  // know) they all stay in trailing_fields and v1_1 is empty. For
  // display, not for decisions.
  kAny,
  kV1_0,  // nothing: every further word goes to trailing_fields
  kV1_1,  // the 1.1 fields are required; a malformed one is an error, and
          // so is a migration (a 1.1 target has none: a caller that says
          // 1.1 about a 1.2 target should hear it)
  kV1_2,  // as kV1_1, migration entries allowed
};

// The format a target of this version prints (from `dmsetup targets`).
StatusFormat StatusFormatOf(uint32_t major, uint32_t minor);

struct TargetStatus {
  uint64_t map_gen = 0;
  uint64_t mapped_extents = 0;
  uint64_t total_extents = 0;
  std::vector<DeviceHealth> health;  // indexed by device slot
  std::optional<StatusV1_1> v1_1;
  std::vector<std::string> trailing_fields;

  static absl::StatusOr<TargetStatus> Parse(absl::string_view info,
                                            StatusFormat format = StatusFormat::kAny);

  friend bool operator==(const TargetStatus&, const TargetStatus&) = default;
};

const char* FreezeStateName(FreezeState state);
const char* LeaseStateName(LeaseState state);
const char* MigrationStateName(MigrationState state);
// The inverse of MigrationStateName; an unknown word is an error.
absl::StatusOr<MigrationState> ParseMigrationState(absl::string_view word);

}  // namespace cvol

#endif  // CVOL_STATUS_H_
