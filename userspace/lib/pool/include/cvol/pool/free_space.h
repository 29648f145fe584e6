// The free extents of one physical volume, kept as sorted disjoint runs so
// that a large, mostly empty device costs a few entries, not one per extent.
// Every change is checked strictly: allocating an extent in use, freeing an
// extent already free, or naming one outside the device is an error and
// changes nothing. Accounting that tolerated a double free would hand the
// same extent to two volumes later.
#ifndef CVOL_POOL_FREE_SPACE_H_
#define CVOL_POOL_FREE_SPACE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "linux/dm-cvol.h"

namespace cvol::pool {

// `count` consecutive physical extents from `start` on one physical volume.
struct ExtentRange {
  uint64_t start = 0;
  uint64_t count = 0;

  // One past the last extent; callers check that it does not wrap.
  uint64_t end() const { return start + count; }
  friend bool operator==(const ExtentRange&, const ExtentRange&) = default;
};

// "7" for one extent, "7-9" for several (inclusive, as people say it).
std::string ToString(const ExtentRange& range);
std::ostream& operator<<(std::ostream& os, const ExtentRange& range);

class FreeSpace {
 public:
  // A physical extent number must fit the kernel's map entry.
  static constexpr uint64_t kMaxExtents = CVOL_MAX_PEXT + 1;

  // `extent_count` extents, all free. Use Create() for counts that come
  // from input; this constructor trusts extent_count <= kMaxExtents.
  explicit FreeSpace(uint64_t extent_count = 0);
  static absl::StatusOr<FreeSpace> Create(uint64_t extent_count);

  uint64_t extent_count() const { return extent_count_; }
  uint64_t FreeCount() const { return free_count_; }
  uint64_t UsedCount() const { return extent_count_ - free_count_; }
  // Number of maximal free runs: a measure of fragmentation.
  size_t RunCount() const { return runs_.size(); }

  // False for extents outside the device.
  bool IsFree(uint64_t pext) const;
  // Whether every extent of a non-empty range inside the device is free,
  // or every one is in use.
  bool IsFree(ExtentRange range) const;
  bool IsUsed(ExtentRange range) const;

  // The maximal free runs, in ascending order.
  std::vector<ExtentRange> FreeRuns() const;
  // The maximal free run containing `pext`, if `pext` is free.
  std::optional<ExtentRange> FreeRunAt(uint64_t pext) const;
  // The longest free run; among equals, the lowest.
  std::optional<ExtentRange> LargestRun() const;
  // The shortest free run of at least `count` extents (best fit); among
  // equals, the lowest. Empty if none is long enough.
  std::optional<ExtentRange> BestFit(uint64_t count) const;

  // The checks of Allocate() and Free() without the change, so that a
  // caller spanning several devices can validate all of them first. The
  // ranges must be non-empty, inside the device and pairwise disjoint.
  absl::Status CheckAllocate(absl::Span<const ExtentRange> ranges) const;
  absl::Status CheckFree(absl::Span<const ExtentRange> ranges) const;

  // Marks free ranges as used / used ranges as free. All or nothing: on
  // error nothing changes.
  absl::Status Allocate(ExtentRange range);
  absl::Status Allocate(absl::Span<const ExtentRange> ranges);
  absl::Status Free(ExtentRange range);
  absl::Status Free(absl::Span<const ExtentRange> ranges);

 private:
  enum class Want { kFree, kUsed };

  absl::Status Check(absl::Span<const ExtentRange> ranges, Want want) const;
  // The first extent of `range` that is in use / free, if any.
  std::optional<uint64_t> FirstUsed(ExtentRange range) const;
  std::optional<uint64_t> FirstFree(ExtentRange range) const;
  // Unchecked changes; Check() has vouched for them.
  void Take(ExtentRange range);
  void Give(ExtentRange range);
  void AddRun(uint64_t start, uint64_t count);
  void RemoveRun(absl::btree_map<uint64_t, uint64_t>::iterator it);

  uint64_t extent_count_;
  uint64_t free_count_;
  // start -> length of each maximal free run.
  absl::btree_map<uint64_t, uint64_t> runs_;
  // (length, start) of the same runs, for best fit and the largest run.
  absl::btree_set<std::pair<uint64_t, uint64_t>> by_length_;
};

}  // namespace cvol::pool

#endif  // CVOL_POOL_FREE_SPACE_H_
