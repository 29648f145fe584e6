// pool.* and pv.*: pools and the labelled physical volumes in them.
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "block_device.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/pv_label.h"
#include "log.h"
#include "pool_view.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
namespace {

using control::ArgReader;

// Largest extent: the kernel's limit, 2^30 sectors (512 GiB).
constexpr uint64_t kMaxExtentBytes = 512ull << 30;

// A pv by name, uuid or device path.
const Versioned<PvRecord>* FindPv(const Snapshot& snap, const PvPaths& paths,
                                  const std::string& what) {
  char* real = realpath(what.c_str(), nullptr);
  const std::string resolved = real ? real : "";
  free(real);
  for (const auto& [uuid, pv] : snap.pvs) {
    if (pv.record.name == what || uuid == what) return &pv;
    auto path = paths.find(uuid);
    if (path != paths.end() && (path->second == what || path->second == resolved)) return &pv;
  }
  return nullptr;
}

absl::Status PvNotFound(const std::string& what) {
  return absl::NotFoundError(
      absl::StrCat("no pv '", what, "' (by name, uuid or path); see: clusterctl pv list"));
}

}  // namespace

absl::StatusOr<Service::Json> Service::PoolCreate(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string name, reader.String("pool"));
  ASSIGN_OR_RETURN(std::optional<uint64_t> extent_bytes, reader.OptionalUint("extent_size_bytes"));
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(control::ValidateName("pool", name));
  const uint64_t bytes = extent_bytes.value_or(4ull << 20);
  if (bytes < 4096 || bytes % 4096 != 0 || bytes > kMaxExtentBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extent size ", bytes, " bytes: it must be a multiple of 4 KiB, at most 512 GiB"));
  }
  ASSIGN_OR_RETURN(Uuid uuid, RandomUuid());
  PoolRecord pool{name, FormatUuid(uuid), bytes / 512, 0, WallClockNs()};
  absl::MutexLock lock(&mu_);
  ChangeSet change(db_);
  change.CreatePool(pool);
  if (absl::Status s = db_.Commit(change); !s.ok()) {
    if (s.code() == absl::StatusCode::kAborted) {
      return absl::AlreadyExistsError(absl::StrCat("pool '", name, "' already exists"));
    }
    return s;
  }
  events_.Publish({{"type", "pool_created"}, {"pool", name}});
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  return PoolJson(snap, pool);
}

absl::StatusOr<Service::Json> Service::PoolList(const Json& args) {
  ArgReader reader(args);
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  Json pools = Json::array();
  for (const auto& [name, pool] : snap.pools) pools.push_back(PoolJson(snap, pool.record));
  return Json{{"pools", pools}};
}

absl::StatusOr<Service::Json> Service::PoolShow(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string name, reader.String("pool"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  auto it = snap.pools.find(name);
  if (it == snap.pools.end()) {
    return absl::NotFoundError(absl::StrCat("pool '", name, "' does not exist; see: clusterctl pool list"));
  }
  Json out = PoolJson(snap, it->second.record);
  absl::MutexLock lock(&mu_);
  out["pvs"] = Json::array();
  for (const PvRecord* pv : snap.PvsOf(name)) out["pvs"].push_back(PvJson(snap, *pv));
  out["volumes"] = Json::array();
  for (const VolumeRecord* v : snap.VolumesOf(name)) out["volumes"].push_back(VolumeJson(snap, *v));
  return out;
}

absl::StatusOr<Service::Json> Service::PvCreate(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string device, reader.String("device"));
  ASSIGN_OR_RETURN(std::string pool_name, reader.String("pool"));
  ASSIGN_OR_RETURN(std::optional<std::string> name_arg, reader.OptionalString("name"));
  ASSIGN_OR_RETURN(bool force, reader.Bool("force", false));
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(control::ValidateName("pool", pool_name));
  char* real = realpath(device.c_str(), nullptr);
  if (real == nullptr) {
    return absl::NotFoundError(absl::StrCat(device, ": no such device"));
  }
  const std::string path = real;
  free(real);
  const std::string name = name_arg.value_or(path.substr(path.rfind('/') + 1));
  RETURN_IF_ERROR(control::ValidateName("pv", name));

  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  auto pool_it = snap.pools.find(pool_name);
  if (pool_it == snap.pools.end()) {
    return absl::NotFoundError(absl::StrCat("pool '", pool_name,
                                            "' does not exist; create it with: clusterctl pool create ",
                                            pool_name));
  }
  const PoolRecord& pool = pool_it->second.record;
  for (const auto& [uuid, pv] : snap.pvs) {
    if (pv.record.name == name) {
      return absl::AlreadyExistsError(absl::StrCat("a pv named '", name,
                                                   "' exists already; choose another --name"));
    }
  }
  absl::StatusOr<PvLabel> current = ReadPvLabel(path);
  if (current.ok() && snap.pvs.contains(FormatUuid(current->pv_uuid))) {
    const PvRecord& pv = snap.pvs.at(FormatUuid(current->pv_uuid)).record;
    return absl::AlreadyExistsError(
        absl::StrCat(path, " is already pv '", pv.name, "' of pool '", pv.pool, "'"));
  }
  ASSIGN_OR_RETURN(uint64_t sectors, DeviceSectors(path));
  PvLabel label;
  ASSIGN_OR_RETURN(label.pv_uuid, RandomUuid());
  ASSIGN_OR_RETURN(label.pool_uuid, ParseUuid(pool.uuid));
  label.extent_sectors = pool.extent_sectors;
  label.ctime_ns = WallClockNs();
  label.name = name;
  RETURN_IF_ERROR(SizePvLabel(sectors, label));
  PvLabelWriteOptions write;
  write.force = force;
  RETURN_IF_ERROR(WritePvLabel(path, label, write));

  PvRecord record{FormatUuid(label.pv_uuid), name, pool_name, 0, label.extents(),
                  label.data_offset, sectors};
  absl::Status committed = RetryOnConflict([&]() -> absl::Status {
    ASSIGN_OR_RETURN(Snapshot now, db_.Load());
    auto p = now.pools.find(pool_name);
    if (p == now.pools.end()) return absl::NotFoundError("the pool was removed meanwhile");
    uint32_t slot = 0;
    for (const PvRecord* pv : now.PvsOf(pool_name)) {
      if (pv->slot == slot) ++slot;  // PvsOf is sorted by slot: the lowest free one
    }
    record.slot = slot;
    ChangeSet change(db_);
    change.ChangeAllocation(p->second);
    change.CreatePv(record);
    return db_.Commit(change);
  });
  if (!committed.ok()) {
    if (absl::Status s = WipePvLabel(path); !s.ok()) LogWarning(s.message());
    return committed;
  }
  paths_[record.uuid] = path;
  ASSIGN_OR_RETURN(Snapshot after, db_.Load());
  // Active volumes get the new slot now, so that moves can target it.
  if (absl::Status s = ReloadPoolVolumes(after, pool_name); !s.ok()) {
    LogWarning(absl::StrCat("pv ", name, " added, but a volume reload failed: ", s.message()));
  }
  events_.Publish({{"type", "pv_created"}, {"pv", name}, {"pool", pool_name}, {"path", path}});
  return PvJson(after, record);
}

absl::StatusOr<Service::Json> Service::PvList(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::optional<std::string> pool, reader.OptionalString("pool"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Snapshot snap, LoadForPool(pool));
  absl::MutexLock lock(&mu_);
  Json pvs = Json::array();
  for (const auto& [name, p] : snap.pools) {
    if (pool && name != *pool) continue;
    for (const PvRecord* pv : snap.PvsOf(name)) pvs.push_back(PvJson(snap, *pv));
  }
  return Json{{"pvs", pvs}};
}

absl::StatusOr<Service::Json> Service::PvShow(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string what, reader.String("pv"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  absl::MutexLock lock(&mu_);
  const Versioned<PvRecord>* pv = FindPv(snap, paths_, what);
  if (pv == nullptr) return PvNotFound(what);
  Json out = PvJson(snap, pv->record);
  Json segments = Json::array();
  for (const VolumeRecord* volume : snap.VolumesOf(pv->record.pool)) {
    for (const Run& run : volume->runs) {
      if (run.dev != pv->record.slot) continue;
      segments.push_back({{"pext", run.pext},
                          {"count", run.count},
                          {"volume", absl::StrCat(volume->pool, "/", volume->name)},
                          {"vext", run.vext}});
    }
  }
  out["segments"] = segments;
  return out;
}

absl::StatusOr<Service::Json> Service::PvRemove(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string what, reader.String("pv"));
  ASSIGN_OR_RETURN(bool force, reader.Bool("force", false));
  RETURN_IF_ERROR(reader.Finish());
  absl::MutexLock lock(&mu_);
  std::string name;
  std::string pool;
  std::string uuid;
  RETURN_IF_ERROR(RetryOnConflict([&]() -> absl::Status {
    ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
    const Versioned<PvRecord>* pv = FindPv(snap, paths_, what);
    if (pv == nullptr) return PvNotFound(what);
    ASSIGN_OR_RETURN(PoolView view, PoolView::Build(snap, pv->record.pool));
    const uint64_t used = view.UsedExtentsOnSlot(pv->record.slot);
    if (used > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pv '", pv->record.name, "' has ", used,
          " extent(s) in use; move them off first (clusterctl volume move ... --to-pv ...)"));
    }
    if (!paths_.contains(pv->record.uuid) && !force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pv '", pv->record.name, "' is not found on this host, so its label cannot be wiped; "
          "use --force to remove the record anyway"));
    }
    name = pv->record.name;
    pool = pv->record.pool;
    uuid = pv->record.uuid;
    ChangeSet change(db_);
    change.ChangeAllocation(snap.pools.at(pool));
    change.DeletePv(*pv);
    return db_.Commit(change);
  }));
  // The slot leaves the active tables before the label is wiped: the
  // tables hold the device open.
  ASSIGN_OR_RETURN(Snapshot after, db_.Load());
  if (absl::Status s = ReloadPoolVolumes(after, pool); !s.ok()) {
    LogWarning(absl::StrCat("pv ", name, " removed, but a volume reload failed: ", s.message()));
  }
  auto path = paths_.find(uuid);
  if (path != paths_.end()) {
    if (absl::Status s = WipePvLabel(path->second); !s.ok()) {
      LogWarning(absl::StrCat("pv ", name, " removed from etcd; its label remains: ", s.message()));
    }
    paths_.erase(path);
  }
  events_.Publish({{"type", "pv_removed"}, {"pv", name}, {"pool", pool}});
  return Json::object();
}

}  // namespace cvol::daemon
