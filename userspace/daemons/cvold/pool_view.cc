#include "pool_view.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

absl::StatusOr<PoolView> PoolView::Build(const Snapshot& snap, const std::string& pool) {
  auto it = snap.pools.find(pool);
  if (it == snap.pools.end()) {
    return absl::NotFoundError(
        absl::StrCat("pool '", pool, "' does not exist; create it with: clusterctl pool create ",
                     pool));
  }
  ASSIGN_OR_RETURN(pool::Pool allocator, pool::Pool::Create(it->second.record.extent_sectors));
  PoolView view(std::move(allocator));
  view.pvs_ = snap.PvsOf(pool);
  for (const PvRecord* pv : view.pvs_) {
    RETURN_IF_ERROR(view.allocator_.AddPv(pv->uuid, pv->extents).status());
  }
  std::vector<pool::VolumeRuns> held;
  for (const VolumeRecord* volume : snap.VolumesOf(pool)) {
    held.push_back({absl::StrCat(pool, "/", volume->name), volume->runs});
  }
  for (const MoveRecord* move : snap.MovesOf(pool)) {
    const Location l = move->reserved();
    held.push_back({absl::StrCat("move of ", pool, "/", move->volume, " extent ", move->vext),
                    {Run{0, l.dev, l.pext, 1}}});
  }
  for (pool::VolumeRuns& v : held) {
    for (Run& run : v.runs) {
      absl::StatusOr<uint32_t> index = view.IndexOfSlot(run.dev);
      if (!index.ok()) return absl::DataLossError(absl::StrCat(v.name, ": ", index.status().message()));
      run.dev = *index;
    }
  }
  if (absl::Status s = view.allocator_.Restore(held); !s.ok()) {
    return absl::DataLossError(absl::StrCat("pool ", pool, ": ", s.message()));
  }
  return view;
}

absl::StatusOr<uint32_t> PoolView::IndexOfSlot(uint32_t slot) const {
  for (uint32_t i = 0; i < pvs_.size(); ++i) {
    if (pvs_[i]->slot == slot) return i;
  }
  return absl::NotFoundError(absl::StrCat("no pv in device slot ", slot));
}

std::vector<Run> PoolView::ToSlots(std::vector<Run> runs) const {
  for (Run& run : runs) run.dev = pvs_[run.dev]->slot;
  return runs;
}

absl::StatusOr<std::vector<Run>> PoolView::ToIndexes(std::vector<Run> runs) const {
  for (Run& run : runs) {
    ASSIGN_OR_RETURN(uint32_t index, IndexOfSlot(run.dev));
    run.dev = index;
  }
  return runs;
}

Location PoolView::ToSlot(Location location) const {
  return Location{pvs_[location.dev]->slot, location.pext};
}

uint64_t PoolView::UsedExtentsOnSlot(uint32_t slot) const {
  absl::StatusOr<uint32_t> index = IndexOfSlot(slot);
  if (!index.ok()) return 0;
  return allocator_.pv_space(*index).UsedCount();
}

}  // namespace cvol::daemon
