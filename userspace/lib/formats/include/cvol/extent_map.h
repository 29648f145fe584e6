// The mapping of a volume's virtual extents to device extents, held one
// entry per virtual extent so that diffs and checks are simple loops. The
// compact forms (runs, map_set items) are conversions of this.
#ifndef CVOL_EXTENT_MAP_H_
#define CVOL_EXTENT_MAP_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cvol/map_types.h"

namespace cvol {

class ExtentMap {
 public:
  // Refuses maps larger than this: one entry costs 24 bytes, and a larger
  // count is almost certainly a wrong length or extent size.
  static constexpr uint64_t kMaxExtents = uint64_t{1} << 28;

  // An empty map (every extent unmapped). Use Create() for sizes that come
  // from input; this constructor trusts `extent_count` <= kMaxExtents.
  explicit ExtentMap(uint64_t extent_count = 0);

  static absl::StatusOr<ExtentMap> Create(uint64_t extent_count);
  // Builds a map from runs; runs must lie inside the map and not overlap.
  static absl::StatusOr<ExtentMap> FromRuns(uint64_t extent_count,
                                            absl::Span<const Run> runs);

  uint64_t size() const { return entries_.size(); }
  uint64_t MappedCount() const;

  // Out-of-range `vext` reads as unmapped.
  std::optional<Location> Get(uint64_t vext) const;
  // Requires vext < size().
  void Set(uint64_t vext, std::optional<Location> location);

  // Maximal runs in ascending vext order: consecutive mapped extents on the
  // same device with consecutive pexts form one run.
  std::vector<Run> ToRuns() const;

  // Applies map_set items. Validates all of them first, so on error the map
  // is unchanged (as the kernel does).
  absl::Status Apply(absl::Span<const MapSetItem> items);

  friend bool operator==(const ExtentMap&, const ExtentMap&) = default;

 private:
  std::vector<std::optional<Location>> entries_;
};

// The map_set items that turn `from` into `to`, in ascending vext order,
// each as long as possible; extents equal in both are not mentioned.
// Unmapped-in-`to` extents become unmap items. Both maps must have the
// same size.
absl::StatusOr<std::vector<MapSetItem>> Diff(const ExtentMap& from,
                                             const ExtentMap& to);

}  // namespace cvol

#endif  // CVOL_EXTENT_MAP_H_
