// The INFO status of the cvol target (`dmsetup status` after "<start>
// <len> cvol"):
//
//   <map_gen> <mapped>/<total> <health chars> [fields of later versions]...
//
// Later target versions append fields at the end only, so unknown trailing
// words are kept but not interpreted.
#ifndef CVOL_STATUS_H_
#define CVOL_STATUS_H_

#include <cstdint>
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

struct TargetStatus {
  uint64_t map_gen = 0;
  uint64_t mapped_extents = 0;
  uint64_t total_extents = 0;
  std::vector<DeviceHealth> health;  // indexed by device slot
  std::vector<std::string> trailing_fields;

  static absl::StatusOr<TargetStatus> Parse(absl::string_view info);

  friend bool operator==(const TargetStatus&, const TargetStatus&) = default;
};

}  // namespace cvol

#endif  // CVOL_STATUS_H_
