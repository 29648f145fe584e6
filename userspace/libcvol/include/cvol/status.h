// The INFO status of the cvol target (`dmsetup status` after "<start>
// <len> cvol"):
//
//   1.0: <map_gen> <mapped>/<total> <health chars>
//   1.1: ... <#freezes> [<id>:<vext>:<count>:<draining|drained>]...
//            <#migrations> [<vext>:<state>:<copied>/<regions>:<errors>]...
//            <event_seq> <events_lost> <none|armed|fenced>
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

struct MigrationStatus {
  uint64_t vext = 0;
  std::string state;  // a lower-case word; the set grows with the target
  uint64_t copied_regions = 0;
  uint64_t regions = 0;
  uint64_t errors = 0;

  friend bool operator==(const MigrationStatus&, const MigrationStatus&) = default;
};

enum class LeaseState { kNone, kArmed, kFenced };

// The fields target 1.1 appended.
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
  // The 1.1 fields when the words there form them; otherwise (a 1.0 line,
  // or a version this library does not know) they all stay in
  // trailing_fields and v1_1 is empty. For display, not for decisions.
  kAny,
  kV1_0,  // nothing: every further word goes to trailing_fields
  kV1_1,  // the 1.1 fields are required; a malformed one is an error
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

}  // namespace cvol

#endif  // CVOL_STATUS_H_
