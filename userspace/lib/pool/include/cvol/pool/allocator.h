// A pool's physical volumes and the allocator that places volumes on them.
//
// The pool only accounts for space; it does not own volume maps. The
// daemon keeps those (in etcd) and hands them back here to grow or free a
// volume, and on start rebuilds the free space from all of them (Restore).
// Maps are libcvol runs whose `dev` is the pool's pv index: the daemon
// lists a pool's pvs in pool order as the volume's device slots.
//
// Placement, in order of preference:
//  - one contiguous run on one pv, the shortest free run that fits (best
//    fit keeps long runs for volumes that need them); among equally short
//    runs, the pv with the most free space (to even out the pvs), then
//    the lowest pv index and extent;
//  - otherwise the volume is spread over the longest free runs, longest
//    first, and the last piece takes the best fit for what remains: this
//    uses the fewest runs possible, which keeps the map (and every map_set
//    and table line) short.
// Growing a volume first extends its last run in place when the extents
// after it are free. Every operation is all or nothing.
#ifndef CVOL_POOL_ALLOCATOR_H_
#define CVOL_POOL_ALLOCATOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cvol/map_types.h"
#include "cvol/pool/free_space.h"
#include "linux/dm-cvol.h"

namespace cvol::pool {

enum class Placement {
  kNormal,      // contiguous if some pv has a run that fits, else spread
  kContiguous,  // one physical run (for Grow: the added extents), or fail
};

// Where a single extent (a migration destination) may go.
enum class PvHint {
  kAny,      // best fit over all pvs
  kPrefer,   // on the given pv if it has a free extent, else as kAny
  kExclude,  // anywhere but the given pv (moving an extent off it)
};

// A volume's map as the daemon stores it: Restore() names volumes in its
// errors.
struct VolumeRuns {
  std::string name;
  std::vector<Run> runs;
};

class Pool {
 public:
  // Device slots per volume: a pv index is a slot.
  static constexpr uint32_t kMaxPvs = CVOL_MAX_DEVS;
  // Extents per volume (the kernel's limit).
  static constexpr uint64_t kMaxVolumeExtents = CVOL_MAX_EXTENTS;

  // `extent_sectors` as the table line requires: a non-zero multiple of
  // CVOL_MIN_EXTENT_SECTORS, at most CVOL_MAX_EXTENT_SECTORS.
  static absl::StatusOr<Pool> Create(uint64_t extent_sectors);

  // Adds a pv with `extents` extents, all free; returns its index. The
  // uuid must be new to the pool.
  absl::StatusOr<uint32_t> AddPv(absl::string_view uuid, uint64_t extents);

  uint64_t extent_sectors() const { return extent_sectors_; }
  uint32_t pv_count() const { return static_cast<uint32_t>(pvs_.size()); }
  // Require pv < pv_count().
  const std::string& pv_uuid(uint32_t pv) const { return pvs_[pv].uuid; }
  const FreeSpace& pv_space(uint32_t pv) const { return pvs_[pv].space; }

  uint64_t TotalExtents() const;
  uint64_t FreeCount() const;

  // Allocates `count` extents for a new volume; the runs map virtual
  // extents first_vext .. first_vext + count - 1, in ascending vext order.
  absl::StatusOr<std::vector<Run>> Allocate(uint64_t count, uint64_t first_vext = 0,
                                            Placement placement = Placement::kNormal);

  // Allocates `extra` extents after the end of `volume` (its highest
  // mapped virtual extent + 1) and returns only the new runs; append them
  // to the volume's map. `volume` must be allocated in this pool.
  absl::StatusOr<std::vector<Run>> Grow(absl::Span<const Run> volume, uint64_t extra,
                                        Placement placement = Placement::kNormal);

  // Returns every extent of the runs to the free space. Fails, changing
  // nothing, if any of them is free already (a double free).
  absl::Status Free(absl::Span<const Run> runs);

  // One extent, for a migration destination. `pv` is ignored for kAny.
  absl::StatusOr<Location> AllocateOne(PvHint hint = PvHint::kAny, uint32_t pv = 0);

  // Marks a volume's runs, known from elsewhere (another member's commit),
  // as used. `volume` names it in errors.
  absl::Status Reserve(absl::string_view volume, absl::Span<const Run> runs);

  // Rebuilds the free space from all volume maps, as on daemon start: every
  // extent not in a map is free. Two maps on the same extent are an error
  // naming both volumes.
  absl::Status Restore(absl::Span<const VolumeRuns> volumes);

 private:
  struct Pv {
    std::string uuid;
    FreeSpace space;
  };
  // A free run chosen on one pv.
  struct Pick {
    uint32_t pv = 0;
    ExtentRange range;
  };

  explicit Pool(uint64_t extent_sectors) : extent_sectors_(extent_sectors) {}

  std::string PvName(uint32_t pv) const;
  // The best-fit run of at least `count` extents over all pvs but
  // `exclude`, by the rules above.
  std::optional<Pick> BestContiguous(uint64_t count,
                                     std::optional<uint32_t> exclude = std::nullopt) const;
  // The longest free run over all pvs.
  std::optional<Pick> Largest() const;
  // Takes `count` extents (enough are free) as runs from `first_vext`:
  // contiguous if possible, else spread.
  std::vector<Run> TakeSpread(uint64_t count, uint64_t first_vext);
  // Takes the first `count` extents of a picked free run.
  Run Take(const Pick& pick, uint64_t count, uint64_t vext);
  // Groups runs into per-pv ranges after checking that they are well
  // formed and name existing pvs; a volume_map must also not map one
  // virtual extent twice.
  absl::StatusOr<std::vector<std::vector<ExtentRange>>> RangesByPv(
      absl::Span<const Run> runs, bool volume_map) const;

  uint64_t extent_sectors_;
  std::vector<Pv> pvs_;
};

}  // namespace cvol::pool

#endif  // CVOL_POOL_ALLOCATOR_H_
