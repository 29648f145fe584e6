// Text forms of runs (table map_runs, map_get responses) and of map_set
// items, and the checks every list of runs must pass.
#ifndef CVOL_RUN_CODEC_H_
#define CVOL_RUN_CODEC_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cvol/map_types.h"

namespace cvol {

// <vext>:<dev>:<pext>:<count>, count >= 1, and neither the virtual nor the
// physical range may wrap around 2^64.
absl::StatusOr<Run> ParseRun(absl::string_view token);
std::string FormatRun(const Run& run);

// <vext>:<dev>:<pext>[:<count>] or <vext>:-:0[:<count>]; count defaults to
// 1. Formatting omits ":1" to keep messages short.
absl::StatusOr<MapSetItem> ParseMapSetItem(absl::string_view token);
std::string FormatMapSetItem(const MapSetItem& item);

// Fails if two runs cover the same virtual extent, naming both runs.
absl::Status CheckRunsDisjoint(absl::Span<const Run> runs);

}  // namespace cvol

#endif  // CVOL_RUN_CODEC_H_
