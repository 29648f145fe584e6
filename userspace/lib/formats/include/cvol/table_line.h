// The parameters of a cvol table line (everything after "<start> <len>
// cvol"), as the kernel accepts them and as `dmsetup table` prints them:
//
//   <vol_uuid> <extent_sectors> <#devs> <dev|-> <offset>...
//       [<#feature_args> <feature>...]
//
// features: map_runs <#runs> <vext>:<dev>:<pext>:<count>...
//           map_gen <n> | region_sectors <n> | freeze_timeout_ms <n>
//           unmapped_zero | fenced
#ifndef CVOL_TABLE_LINE_H_
#define CVOL_TABLE_LINE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cvol/map_types.h"

namespace cvol {

// One device slot. An empty slot (printed "-") keeps the indexes of the
// other devices stable while a device is absent.
struct DeviceSlot {
  std::optional<std::string> path;  // a path or "major:minor"; empty: "-"
  uint64_t offset = 0;              // sectors before the data area (label)

  bool is_empty() const { return !path.has_value(); }
  friend bool operator==(const DeviceSlot&, const DeviceSlot&) = default;
};

struct TableLine {
  std::string vol_uuid;
  uint64_t extent_sectors = 0;
  std::vector<DeviceSlot> devices;

  // Features; unset ones are not printed and take the kernel's defaults.
  std::optional<uint64_t> map_gen;
  std::optional<std::vector<Run>> map_runs;  // "map_runs 0" is distinct from unset
  std::optional<uint64_t> region_sectors;
  std::optional<uint64_t> freeze_timeout_ms;
  bool unmapped_zero = false;
  // (1.5) A volume this line creates starts fenced, its I/O held until
  // `unfence <epoch>`; no effect on a reload of a live volume.
  bool fenced = false;

  // Strict parse of the parameters: decimal numbers only, every limit of
  // the kernel ABI checked, duplicate features and a wrong <#feature_args>
  // rejected, runs checked against the device list and for overlap. The
  // error names the offending token.
  static absl::StatusOr<TableLine> Parse(absl::string_view params);

  // The parameters in canonical form, features ordered map_gen, map_runs,
  // region_sectors, freeze_timeout_ms, unmapped_zero, fenced.
  // Parse(Format()) of a valid line gives the same line back.
  std::string Format() const;

  // The checks Parse applies to the values (not to the spelling).
  absl::Status Validate() const;

  friend bool operator==(const TableLine&, const TableLine&) = default;
};

}  // namespace cvol

#endif  // CVOL_TABLE_LINE_H_
