#include "cvol/linear_equivalent.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/extent_map.h"
#include "cvol/status_macros.h"
#include "linux/dm-cvol.h"

namespace cvol {

absl::StatusOr<std::vector<DmLine>> LinearEquivalent(const DmLine& cvol_line) {
  if (cvol_line.target_type != CVOL_TARGET_NAME) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target type \"", cvol_line.target_type, "\": expected ", CVOL_TARGET_NAME));
  }
  ASSIGN_OR_RETURN(TableLine table, TableLine::Parse(cvol_line.params));

  const uint64_t es = table.extent_sectors;
  const uint64_t length = cvol_line.length;
  const uint64_t extents = length / es + (length % es != 0 ? 1 : 0);
  ASSIGN_OR_RETURN(ExtentMap map,
                   ExtentMap::FromRuns(extents, table.map_runs.value_or(std::vector<Run>{})));

  std::vector<DmLine> segments;
  const absl::string_view hole_target = table.unmapped_zero ? "zero" : "error";
  // Appends [vext, vext + count) clipped to the volume's length.
  auto append = [&](uint64_t vext, uint64_t count, absl::string_view type,
                    std::string params) {
    const uint64_t first = vext * es;
    const uint64_t sectors = std::min(count * es, length - first);
    segments.push_back(
        DmLine{cvol_line.start + first, sectors, std::string(type), std::move(params)});
  };

  uint64_t next_vext = 0;
  for (const Run& run : map.ToRuns()) {
    if (run.vext > next_vext) append(next_vext, run.vext - next_vext, hole_target, "");
    const DeviceSlot& slot = table.devices[run.dev];
    if (run.pext > (UINT64_MAX - slot.offset) / es) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run \"", ToString(run), "\": physical sector overflows 64 bits"));
    }
    const uint64_t sector = slot.offset + run.pext * es;
    append(run.vext, run.count, "linear", absl::StrCat(*slot.path, " ", sector));
    next_vext = run.vext + run.count;
  }
  if (next_vext < extents) append(next_vext, extents - next_vext, hole_target, "");
  return segments;
}

}  // namespace cvol
