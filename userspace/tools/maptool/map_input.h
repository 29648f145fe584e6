// Reading the maps cvol-maptool works on from files or stdin, whatever
// form the test has at hand: `dmsetup table` output, bare table params, or
// runs as printed by map_get / `cvol-maptool runs`.
#ifndef CVOL_MAPTOOL_MAP_INPUT_H_
#define CVOL_MAPTOOL_MAP_INPUT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cvol/dm_line.h"
#include "cvol/extent_map.h"
#include "cvol/table_line.h"

namespace cvol::maptool {

struct MapInput {
  ExtentMap map;
  std::optional<DmLine> dm_line;  // the input was "<start> <len> cvol ..."
  std::optional<TableLine> table;  // the input was a table (with or without dm line)
};

// The whole content of `path`, or of stdin for "-".
absl::StatusOr<std::string> ReadInput(const std::string& path);

// Accepts, in this order of detection:
//   runs:     "<vext>:<dev>:<pext>:<count> ..." (any whitespace, may be empty)
//   dm line:  "[<name>:] <start> <len> cvol <params>"
//   params:   "<vol_uuid> <extent_sectors> ..."
// The map has `extents` entries if given; otherwise the dm line's length
// decides, and for runs or bare params the end of the last run does.
absl::StatusOr<MapInput> ParseMapInput(absl::string_view text,
                                       std::optional<uint64_t> extents);

}  // namespace cvol::maptool

#endif  // CVOL_MAPTOOL_MAP_INPUT_H_
