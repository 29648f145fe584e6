// Generated extent maps for tests and benchmarks: the same volume laid out
// linearly, striped, or scattered, reproducibly from a seed.
#ifndef CVOL_LAYOUT_H_
#define CVOL_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cvol/extent_map.h"

namespace cvol {

enum class LayoutKind {
  kLinear,    // fill device 0 from pext 0, then device 1, ...
  kStriped,   // round robin over devices: vext i on device i % n
  kRandom,    // distinct physical extents drawn from all devices' capacity
  kShuffled,  // the linear layout's physical extents in random order
};

absl::StatusOr<LayoutKind> ParseLayoutKind(absl::string_view name);
absl::string_view LayoutKindName(LayoutKind kind);

struct LayoutSpec {
  LayoutKind kind = LayoutKind::kLinear;
  uint64_t extents = 0;                 // virtual extents in the volume
  std::vector<uint64_t> device_extents;  // capacity per slot; 0: not used
  uint64_t seed = 1;
  // Percentage of virtual extents left unmapped, chosen from the seed.
  uint32_t unmapped_percent = 0;
};

// Fails if the devices cannot hold the mapped extents. The same spec always
// gives the same map (the generator is mt19937_64 with our own sampling,
// not the implementation-defined std distributions).
absl::StatusOr<ExtentMap> GenerateLayout(const LayoutSpec& spec);

}  // namespace cvol

#endif  // CVOL_LAYOUT_H_
