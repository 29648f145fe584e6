// The objects of docs/control-protocol.md, rendered from the records.
#include "absl/strings/str_cat.h"
#include "cvol/control/names.h"
#include "pool_view.h"
#include "service.h"
#include "volume_layout.h"

namespace cvol::daemon {

namespace {

const PvRecord* PvInSlot(const Snapshot& snap, const std::string& pool, uint32_t slot) {
  for (const PvRecord* pv : snap.PvsOf(pool)) {
    if (pv->slot == slot) return pv;
  }
  return nullptr;
}

std::string PvNameInSlot(const Snapshot& snap, const std::string& pool, uint32_t slot) {
  const PvRecord* pv = PvInSlot(snap, pool, slot);
  return pv ? pv->name : absl::StrCat("slot", slot);
}

}  // namespace

Service::Json Service::PoolJson(const Snapshot& snap, const PoolRecord& pool) {
  const uint64_t extent_bytes = pool.extent_sectors * 512;
  uint64_t total = 0;
  uint64_t free = 0;
  absl::StatusOr<PoolView> view = PoolView::Build(snap, pool.name);
  if (view.ok()) {
    total = view->allocator().TotalExtents();
    free = view->allocator().FreeCount();
  }
  Json j = {{"name", pool.name},
            {"uuid", pool.uuid},
            {"extent_size_bytes", extent_bytes},
            {"pv_count", snap.PvsOf(pool.name).size()},
            {"volume_count", snap.VolumesOf(pool.name).size()},
            {"total_extents", total},
            {"free_extents", free},
            {"total_bytes", total * extent_bytes},
            {"free_bytes", free * extent_bytes}};
  if (!view.ok()) j["error"] = std::string(view.status().message());
  return j;
}

Service::Json Service::PvJson(const Snapshot& snap, const PvRecord& pv) {
  uint64_t used = 0;
  absl::StatusOr<PoolView> view = PoolView::Build(snap, pv.pool);
  if (view.ok()) used = view->UsedExtentsOnSlot(pv.slot);
  auto path = paths_.find(pv.uuid);
  const uint64_t extent_sectors =
      snap.pools.contains(pv.pool) ? snap.pools.at(pv.pool).record.extent_sectors : 0;
  return {{"name", pv.name},
          {"uuid", pv.uuid},
          {"pool", pv.pool},
          {"slot", pv.slot},
          {"path", path == paths_.end() ? Json(nullptr) : Json(path->second)},
          {"extents", pv.extents},
          {"free_extents", pv.extents - used},
          {"data_offset_bytes", pv.data_offset * 512},
          {"size_bytes", pv.extents * extent_sectors * 512}};
}

Service::Json Service::MoveJson(const Snapshot& snap, const MoveRecord& move) {
  Json j = {{"volume", absl::StrCat(move.pool, "/", move.volume)},
            {"vext", move.vext},
            {"src", {{"pv", PvNameInSlot(snap, move.pool, move.src.dev)}, {"pext", move.src.pext}}},
            {"dst", {{"pv", PvNameInSlot(snap, move.pool, move.dst.dev)}, {"pext", move.dst.pext}}},
            {"phase", PhaseName(move.phase)},
            {"copied_regions", 0},
            {"regions", 0}};
  absl::MutexLock lock(&moves_mu_);
  auto it = move_states_.find(db_.MoveKey(move));
  if (it != move_states_.end()) {
    j["copied_regions"] = it->second.copied;
    j["regions"] = it->second.regions;
  }
  return j;
}

Service::Json Service::VolumeJson(const Snapshot& snap, const VolumeRecord& volume) {
  const uint64_t extent_sectors = snap.pools.at(volume.pool).record.extent_sectors;
  const std::string dm_name = DevName(volume.pool, volume.name);
  absl::StatusOr<bool> active = dm_.Exists(dm_name);
  Json runs = Json::array();
  for (const Run& run : volume.runs) {
    runs.push_back({{"vext", run.vext},
                    {"pv", PvNameInSlot(snap, volume.pool, run.dev)},
                    {"pext", run.pext},
                    {"count", run.count}});
  }
  Json moves = Json::array();
  for (const MoveRecord* move : snap.MovesOf(volume.pool)) {
    if (move->volume == volume.name) moves.push_back(MoveJson(snap, *move));
  }
  return {{"name", absl::StrCat(volume.pool, "/", volume.name)},
          {"pool", volume.pool},
          {"uuid", volume.uuid},
          {"size_bytes", volume.extents * extent_sectors * 512},
          {"extents", volume.extents},
          {"generation", KernelMapGen(volume)},
          {"device", absl::StrCat("/dev/mapper/", dm_name)},
          {"active", active.ok() && *active},
          {"runs", runs},
          {"moves", moves}};
}

}  // namespace cvol::daemon
