// volume.create|list|show|resize|remove.

#include "absl/strings/str_cat.h"
#include "cluster_agent.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/pv_label.h"
#include "linux/dm-cvol.h"
#include "log.h"
#include "pool_view.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
namespace {

using control::ArgReader;

absl::StatusOr<uint64_t> ExtentsFor(uint64_t size_bytes, uint64_t extent_sectors) {
  if (size_bytes == 0) return absl::InvalidArgumentError("the size must be more than 0 bytes");
  const uint64_t extent_bytes = extent_sectors * 512;
  const uint64_t extents = size_bytes / extent_bytes + (size_bytes % extent_bytes ? 1 : 0);
  if (extents > CVOL_MAX_EXTENTS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a volume has at most ", CVOL_MAX_EXTENTS, " extents of ", extent_bytes, " bytes"));
  }
  return extents;
}

absl::Status VolumeNotFound(const control::VolumeName& name) {
  return absl::NotFoundError(
      absl::StrCat("volume '", name.full(), "' does not exist; see: clusterctl volume list"));
}

}  // namespace

absl::StatusOr<Service::Json> Service::VolumeCreate(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  ASSIGN_OR_RETURN(uint64_t size_bytes, reader.Uint("size_bytes"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));
  ASSIGN_OR_RETURN(Uuid uuid, RandomUuid());
  // Refused before anything is recorded: a host that is not an active
  // member makes no device, and the other hosts would make theirs from the
  // record at once.
  if (clustered() && !agent_->ActiveUnfenceBasis().has_value()) {
    return absl::UnavailableError(absl::StrCat(
        "this host is not an active member of the cluster (",
        ClusterAgent::StateName(agent_->state()), "); create the volume when it is"));
  }

  absl::MutexLock lock(&mu_);
  VolumeRecord record;
  RETURN_IF_ERROR(RetryOnConflict([&]() -> absl::Status {
    ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
    ASSIGN_OR_RETURN(PoolView view, PoolView::Build(snap, name.pool));
    if (snap.FindVolume(name.pool, name.volume) != nullptr) {
      return absl::AlreadyExistsError(absl::StrCat("volume '", name.full(), "' already exists"));
    }
    const Versioned<PoolRecord>& pool = snap.pools.at(name.pool);
    ASSIGN_OR_RETURN(uint64_t extents, ExtentsFor(size_bytes, pool.record.extent_sectors));
    absl::StatusOr<std::vector<Run>> runs = view.allocator().Allocate(extents);
    if (!runs.ok()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "pool '", name.pool, "' has ", view.allocator().FreeCount(), " free extent(s), ",
          extents, " needed; add a pv with: clusterctl pv create <device> --pool ", name.pool));
    }
    record = VolumeRecord{name.pool, name.volume, FormatUuid(uuid), extents, 1,
                          {Segment{0, extents}}, view.ToSlots(*runs), WallClockNs()};
    ChangeSet change(db_);
    change.ChangeAllocation(pool);
    change.CreateVolume(record);
    return db_.Commit(change);
  }));
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  if (absl::Status s = ActivateVolume(snap, record); !s.ok() && DeviceLeftFenced(record)) {
    // In a cluster the device was made (fenced) but not unfenced: it stays
    // so, and the next sync (the watch sees this very record) or
    // re-integration unfences it. The volume exists: undoing its record
    // would leave a fenced device whose held I/O (udev's probe) keeps it
    // from being removed.
    LogWarning(absl::StrCat("volume ", name.full(), ": created, but its device stays fenced ",
                            "until the next sync: ", s.message()));
  } else if (!s.ok()) {
    // Nothing half-made stays behind: the record goes, the extents with it.
    auto it = snap.volumes.find({name.pool, name.volume});
    if (it != snap.volumes.end()) {
      ChangeSet undo(db_);
      undo.ChangeAllocation(snap.pools.at(name.pool));
      undo.DeleteVolume(it->second);
      if (absl::Status u = db_.Commit(undo); !u.ok()) LogError(u.message());
    }
    return absl::Status(s.code(), absl::StrCat("volume '", name.full(),
                                                "' could not be activated: ", s.message()));
  }
  events_.Publish({{"type", "volume_created"}, {"volume", name.full()},
                   {"size_bytes", size_bytes}});
  return VolumeJson(snap, record);
}

absl::StatusOr<Service::Json> Service::VolumeList(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::optional<std::string> pool, reader.OptionalString("pool"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Snapshot snap, LoadForPool(pool));
  absl::MutexLock lock(&mu_);
  Json volumes = Json::array();
  for (const auto& [key, volume] : snap.volumes) {
    if (!pool || key.first == *pool) volumes.push_back(VolumeJson(snap, volume.record));
  }
  return Json{{"volumes", volumes}};
}

absl::StatusOr<Service::Json> Service::VolumeShow(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  const VolumeRecord* volume = snap.FindVolume(name.pool, name.volume);
  if (volume == nullptr) return VolumeNotFound(name);
  absl::MutexLock lock(&mu_);
  return VolumeJson(snap, *volume);
}

absl::StatusOr<Service::Json> Service::VolumeResize(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  ASSIGN_OR_RETURN(uint64_t size_bytes, reader.Uint("size_bytes"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));

  absl::MutexLock lock(&mu_);
  VolumeRecord grown;
  bool changed = false;
  RETURN_IF_ERROR(RetryOnConflict([&]() -> absl::Status {
    ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
    auto it = snap.volumes.find({name.pool, name.volume});
    if (it == snap.volumes.end()) return VolumeNotFound(name);
    const VolumeRecord& volume = it->second.record;
    const Versioned<PoolRecord>& pool = snap.pools.at(name.pool);
    ASSIGN_OR_RETURN(uint64_t extents, ExtentsFor(size_bytes, pool.record.extent_sectors));
    grown = volume;
    if (extents == volume.extents) return absl::OkStatus();
    if (extents < volume.extents) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume '", name.full(), "' has ", volume.extents,
          " extents; shrinking is not supported (only growing)"));
    }
    ASSIGN_OR_RETURN(PoolView view, PoolView::Build(snap, name.pool));
    const uint64_t extra = extents - volume.extents;
    ASSIGN_OR_RETURN(std::vector<Run> current, view.ToIndexes(volume.runs));
    absl::StatusOr<std::vector<Run>> added = view.allocator().Grow(current, extra);
    if (!added.ok()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "pool '", name.pool, "' has ", view.allocator().FreeCount(), " free extent(s), ",
          extra, " needed to grow '", name.full(), "'"));
    }
    for (const Run& run : view.ToSlots(*added)) grown.runs.push_back(run);
    grown.segments.push_back(Segment{volume.extents, extra});
    grown.extents = extents;
    ++grown.generation;
    changed = true;
    ChangeSet change(db_);
    change.ChangeAllocation(pool);
    change.UpdateVolume(it->second, grown);
    return db_.Commit(change);
  }));
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  if (changed) {
    // A noflush reload appends the new segment; the live ones keep their
    // maps. If it fails the record is ahead of the device, which the next
    // activation (or resize) completes.
    RETURN_IF_ERROR(ActivateVolume(snap, grown));
    events_.Publish({{"type", "volume_resized"}, {"volume", name.full()},
                     {"extents", grown.extents}});
  }
  return VolumeJson(snap, grown);
}

absl::StatusOr<Service::Json> Service::VolumeRemove(const Json& args) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));

  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  const VolumeRecord* volume = snap.FindVolume(name.pool, name.volume);
  if (volume == nullptr) return VolumeNotFound(name);
  for (const MoveRecord* move : snap.MovesOf(name.pool)) {
    if (move->volume == name.volume) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume '", name.full(), "' has a move in progress (extent ", move->vext,
          "); wait for it to end"));
    }
  }
  const std::string dm_name = DevName(name.pool, name.volume);
  ASSIGN_OR_RETURN(bool exists, dm_.Exists(dm_name));
  if (exists) {
    if (absl::Status s = dm_.Remove(dm_name); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "/dev/mapper/", dm_name, " could not be removed (is it open or mounted?): ",
          s.message()));
    }
    devices_->Forget(dm_name);
  }
  RETURN_IF_ERROR(RetryOnConflict([&]() -> absl::Status {
    ASSIGN_OR_RETURN(Snapshot now, db_.Load());
    auto it = now.volumes.find({name.pool, name.volume});
    if (it == now.volumes.end()) return absl::OkStatus();
    ChangeSet change(db_);
    change.ChangeAllocation(now.pools.at(name.pool));
    change.DeleteVolume(it->second);
    return db_.Commit(change);
  }));
  events_.Publish({{"type", "volume_removed"}, {"volume", name.full()}});
  return Json::object();
}

}  // namespace cvol::daemon
