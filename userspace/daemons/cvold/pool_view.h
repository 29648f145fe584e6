// One pool's free space as the snapshot implies it: every pv's extents minus
// the volume maps and the extents that moves keep reserved. Rebuilt from etcd
// for every allocating change, so that it can never drift from the records.
#ifndef CVOL_CVOLD_POOL_VIEW_H_
#define CVOL_CVOLD_POOL_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config_db.h"
#include "cvol/pool/allocator.h"

namespace cvol::daemon {

class PoolView {
 public:
  static absl::StatusOr<PoolView> Build(const Snapshot& snap, const std::string& pool);

  // The allocator speaks pv indexes; records speak pv slots (stable across
  // pv removal). These translate runs in place.
  pool::Pool& allocator() { return allocator_; }
  const pool::Pool& allocator() const { return allocator_; }
  std::vector<Run> ToSlots(std::vector<Run> runs) const;
  absl::StatusOr<std::vector<Run>> ToIndexes(std::vector<Run> runs) const;
  Location ToSlot(Location location) const;
  absl::StatusOr<uint32_t> IndexOfSlot(uint32_t slot) const;

  const std::vector<const PvRecord*>& pvs() const { return pvs_; }  // by index
  uint64_t UsedExtentsOnSlot(uint32_t slot) const;

 private:
  explicit PoolView(pool::Pool allocator) : allocator_(std::move(allocator)) {}

  pool::Pool allocator_;
  std::vector<const PvRecord*> pvs_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_POOL_VIEW_H_
