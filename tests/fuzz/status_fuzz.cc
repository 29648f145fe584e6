// The target's status line (TargetStatus::Parse), in each StatusFormat:
// the first byte picks the format, the rest is the line `dmsetup status`
// printed after "<start> <len> cvol".
#include <cstddef>
#include <cstdint>

#include "cvol/status.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  static constexpr cvol::StatusFormat kFormats[] = {
      cvol::StatusFormat::kAny, cvol::StatusFormat::kV1_0, cvol::StatusFormat::kV1_1,
      cvol::StatusFormat::kV1_2};
  const cvol::StatusFormat format = kFormats[in.Select(4)];
  absl::StatusOr<cvol::TargetStatus> status = cvol::TargetStatus::Parse(in.absl_rest(), format);
  if (status.ok() && status->mapped_extents > status->total_extents) {
    cvol::fuzz::Violated("more mapped extents than total");
  }
  return 0;
}
