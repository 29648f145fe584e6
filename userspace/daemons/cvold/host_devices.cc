#include "host_devices.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log.h"
#include "cvol/status_macros.h"
#include "volume_layout.h"

namespace cvol::daemon {

HostDevices::HostDevices(Deps deps) : deps_(std::move(deps)) {}

void HostDevices::Track(const VolumeRecord& volume, uint64_t extent_sectors) {
  std::vector<uint64_t> sectors;
  for (const Segment& s : volume.segments) sectors.push_back(s.first_vext * extent_sectors);
  const std::string device = deps_.port->DeviceName(volume);
  absl::MutexLock lock(&mu_);
  devices_[device] = std::move(sectors);
}

void HostDevices::Forget(const std::string& device) {
  absl::MutexLock lock(&mu_);
  devices_.erase(device);
  unfence_from_.erase(device);
}

std::vector<std::string> HostDevices::Devices() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [device, sectors] : devices_) out.push_back(device);
  return out;
}

void HostDevices::RenewKernelLeases(uint64_t lease_ms) {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, sectors] : devices_) {
    for (uint64_t sector : sectors) {
      absl::Status s = deps_.port->LeaseSegment(SegmentAt{name, sector}, lease_ms);
      if (!s.ok()) LogWarning(absl::StrCat("lease ", name, ": ", s.message()));
    }
  }
}

void HostDevices::FenceAll() {
  absl::MutexLock lock(&mu_);
  ++fences_;
  for (const auto& [name, sectors] : devices_) {
    for (uint64_t sector : sectors) {
      absl::Status s = deps_.port->FenceSegment(SegmentAt{name, sector});
      if (!s.ok()) LogError(absl::StrCat("fence ", name, ": ", s.message()));
    }
  }
  deps_.publish({{"type", "host_fenced"}, {"host", deps_.host()}});
}

void HostDevices::AwaitUnfence(const std::string& device, size_t first) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = unfence_from_.try_emplace(device, first);
  if (!inserted) it->second = std::min(it->second, first);
}

uint64_t HostDevices::Fences() const {
  absl::MutexLock lock(&mu_);
  return fences_;
}

bool HostDevices::AwaitsUnfence(const std::string& device) const {
  absl::MutexLock lock(&mu_);
  return unfence_from_.contains(device);
}

absl::Status HostDevices::Activate(const Snapshot& snap, const VolumeRecord& volume,
                                   uint64_t extent_sectors, const UnfenceUnder& under) {
  const std::string device = deps_.port->DeviceName(volume);
  ASSIGN_OR_RETURN(bool exists, deps_.port->DeviceExists(device));
  // As at re-integration: a device made while a move of its volume is
  // taken up would write its extent without following the move.
  if (!exists && snap.HasTakenUpMove(volume.pool, volume.name)) {
    return absl::UnavailableError(absl::StrCat("volume ", volume.pool, "/", volume.name,
                                               " has a move in progress; ", device,
                                               " is created when it ends"));
  }
  // The kernel volumes this call creates are the segments the live table
  // lacks (a reload with more segments appends them: a grow).
  size_t first = 0;
  if (exists) {
    ASSIGN_OR_RETURN(std::vector<SegmentState> live, deps_.port->DeviceSegments(device));
    first = live.size();
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = unfence_from_.find(device); it != unfence_from_.end()) {
      first = std::min(first, it->second);
    }
  }
  const bool creates = first < volume.segments.size();
  // Nothing is made that could not be unfenced at once: it would only
  // hold the I/O of whatever opens it (udev's probe first).
  if (creates) RETURN_IF_ERROR(LeaseLeft(device, under.lease).status());
  RETURN_IF_ERROR(deps_.port->ActivateDevice(snap, volume, /*fenced=*/true));
  Track(volume, extent_sectors);
  if (!creates) return absl::OkStatus();
  return UnfenceCreated(volume, extent_sectors, first, under);
}

absl::Status HostDevices::Reintegrate(int64_t epoch, HeldFreezes& held_freezes,
                                      const std::optional<LeaseBasis>& lease) {
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  // Every message below carries the epoch the host re-integrates under,
  // the current one: a volume's remembered epoch only grows, so one that
  // saw a newer Primary already refuses it (ESTALE), and the agent tries
  // again under the new epoch.
  const uint64_t epoch64 = static_cast<uint64_t>(epoch);
  // The agent fences only an active host, never during re-integration: the
  // count read here stays for the devices created below.
  const UnfenceUnder under{epoch, lease, Fences()};
  ThawEndedChanges(snap, epoch64, held_freezes);
  for (const auto& [name, vrec] : snap.volumes) {
    const VolumeRecord& volume = vrec.record;
    const std::string device = deps_.port->DeviceName(volume);
    const uint64_t es = snap.pools.at(volume.pool).record.extent_sectors;
    ASSIGN_OR_RETURN(bool exists, deps_.port->DeviceExists(device));
    if (snap.HasTakenUpMove(volume.pool, volume.name)) {
      return absl::UnavailableError(absl::StrCat("volume ", name.first, "/", name.second,
                                                 " has a move in progress; waiting"));
    }
    if (!exists) {
      RETURN_IF_ERROR(CreateDevice(snap, volume, es, under));
      continue;
    }
    ASSIGN_OR_RETURN(std::vector<SegmentState> segments, deps_.port->DeviceSegments(device));
    for (size_t i = 0; i < volume.segments.size() && i < segments.size(); ++i) {
      const SegmentAt at{device, volume.segments[i].first_vext * es};
      RETURN_IF_ERROR(
          ReintegrateSegment(volume, i, at, segments[i], epoch, held_freezes, lease));
    }
    // Every segment is unfenced now, those created fenced included (which
    // udev could not probe then).
    bool created_fenced;
    {
      absl::MutexLock lock(&mu_);
      created_fenced = unfence_from_.erase(device) != 0;
    }
    if (created_fenced) deps_.port->DeviceUnfenced(device);
  }
  deps_.publish({{"type", "host_reintegrated"}, {"host", deps_.host()}, {"epoch", epoch}});
  return absl::OkStatus();
}

// Made only while the lease basis has time left (a device that could not
// be unfenced at once would only hold the I/O of whatever opens it). The
// creation may take that time: then the device stays fenced, and the
// agent's next attempt, which finds it, unfences it.
absl::Status HostDevices::CreateDevice(const Snapshot& snap, const VolumeRecord& volume,
                                       uint64_t extent_sectors, const UnfenceUnder& under) {
  const std::string device = deps_.port->DeviceName(volume);
  RETURN_IF_ERROR(LeaseLeft(device, under.lease).status());
  if (absl::Status s = deps_.port->ActivateDevice(snap, volume, /*fenced=*/true); !s.ok()) {
    LogWarning(absl::StrCat("volume ", volume.pool, "/", volume.name, ": ", s.message()));
    return absl::OkStatus();
  }
  Track(volume, extent_sectors);
  return UnfenceCreated(volume, extent_sectors, 0, under);
}

absl::Status HostDevices::UnfenceCreated(const VolumeRecord& volume, uint64_t extent_sectors,
                                         size_t first, const UnfenceUnder& under) {
  const std::string device = deps_.port->DeviceName(volume);
  std::vector<SegmentAt> created;
  for (size_t i = first; i < volume.segments.size(); ++i) {
    created.push_back(SegmentAt{device, volume.segments[i].first_vext * extent_sectors});
  }
  AwaitUnfence(device, first);
  absl::Status s = ArmAndUnfence(device, created, under);
  if (s.ok()) {
    deps_.port->DeviceUnfenced(device);
    return s;
  }
  // All of them again, also one unfenced before the failure: the device is
  // one volume to its users, and none of it runs before all of it may.
  for (const SegmentAt& at : created) (void)deps_.port->FenceSegment(at);
  LogWarning(absl::StrCat(device, " stays fenced: ", s.message()));
  return s;
}

absl::Status HostDevices::ArmAndUnfence(const std::string& device,
                                        const std::vector<SegmentAt>& segments,
                                        const UnfenceUnder& under) {
  for (const SegmentAt& at : segments) RETURN_IF_ERROR(ArmLease(at, under.lease));
  // Under mu_, which FenceAll holds while it fences: either it ran since
  // the caller found the host active (the count moved, nothing is
  // unfenced), or it runs after these unfences and reaches this device,
  // tracked by now. Never an unfence landing after the host's fence.
  absl::MutexLock lock(&mu_);
  if (fences_ != under.fences) {
    return absl::UnavailableError(
        "this host fenced its devices meanwhile; re-integration unfences it");
  }
  for (const SegmentAt& at : segments) RETURN_IF_ERROR(Unfence(at, under.epoch));
  unfence_from_.erase(device);
  return absl::OkStatus();
}

// Cluster freezes of changes that ended without this host (it was
// excluded, so their release never came here). The host is fenced: its
// I/O stays held until the unfence.
void HostDevices::ThawEndedChanges(const Snapshot& snap, uint64_t epoch,
                                   HeldFreezes& held_freezes) {
  for (auto it = held_freezes.begin(); it != held_freezes.end();) {
    const std::string move_key = it->first.substr(0, it->first.rfind('#'));
    if (snap.moves.count(move_key) != 0) {
      ++it;
      continue;
    }
    // ENOENT is fine: the freeze thawed itself (its timeout). Any other
    // refusal keeps it known here; it thaws by its timeout at the latest.
    absl::Status thawed = deps_.port->ThawChangeFreeze(it->second.extent, it->second.id, epoch);
    if (!thawed.ok() && thawed.code() != absl::StatusCode::kNotFound) {
      LogWarning(absl::StrCat("re-integration: thaw of ", it->first, ": ", thawed.message()));
      ++it;
      continue;
    }
    deps_.publish({{"type", "cluster_released"}, {"change", it->first}});
    it = held_freezes.erase(it);
  }
}

absl::Status HostDevices::ReintegrateSegment(const VolumeRecord& volume, size_t segment,
                                             const SegmentAt& at,
                                             const SegmentState& state, int64_t epoch,
                                             const HeldFreezes& held_freezes,
                                             const std::optional<LeaseBasis>& lease) {
  const uint64_t epoch64 = static_cast<uint64_t>(epoch);
  // A freeze this daemon does not hold is a dead predecessor's (killed in
  // a change): nobody will release it, and its timeout may be far off.
  // The caller holds the handlers' lock: no other freeze of this daemon
  // can be in flight.
  for (const FreezeStatus& f : state.freezes) {
    if (Holds(held_freezes, at, f.id)) continue;
    // ENOENT is fine: it timed out meanwhile.
    (void)deps_.port->ThawSegment(at, f.id, epoch64);
    LogInfo(absl::StrCat("reintegrate: ", at.device, ": thawed freeze ", f.id, " (extents ",
                         f.vext, "+", f.count, "), left by a previous daemon"));
    deps_.publish({{"type", "orphan_freeze_thawed"}, {"device", at.device},
                   {"freeze_id", f.id}, {"vext", f.vext}});
  }
  // Migrations with no record are over: the source is authoritative.
  for (const MigrationStatus& m : state.migrations) {
    RETURN_IF_ERROR(deps_.port->AbortSegmentMigration(at, m.vext, epoch64));
  }
  const Segment& seg = volume.segments[segment];
  ASSIGN_OR_RETURN(std::vector<Run> live, deps_.port->SegmentMap(at, seg.extents));
  std::vector<std::optional<Location>> have(seg.extents), want(seg.extents);
  for (const Run& r : live) {
    for (uint64_t k = 0; k < r.count && r.vext + k < seg.extents; ++k) {
      have[r.vext + k] = Location{r.dev, r.pext + k};
    }
  }
  for (const Run& r : SegmentRuns(volume, segment)) {
    for (uint64_t k = 0; k < r.count; ++k) want[r.vext + k] = Location{r.dev, r.pext + k};
  }
  std::vector<MapSetItem> items;
  for (uint64_t v = 0; v < seg.extents; ++v) {
    if (have[v] != want[v]) items.push_back(MapSetItem{v, 1, want[v]});
  }
  if (!items.empty()) {
    RETURN_IF_ERROR(deps_.port->SetSegmentMap(at, items, epoch64));
    LogInfo(absl::StrCat("reintegrate: ", at.device, ": ", items.size(),
                         " extent(s) set to etcd's map"));
  }
  // Never unfenced without a lease that ends before the etcd lease.
  RETURN_IF_ERROR(ArmLease(at, lease));
  return Unfence(at, epoch);
}

absl::Status HostDevices::Unfence(const SegmentAt& at, int64_t epoch) {
  absl::Status unfenced = deps_.port->UnfenceSegment(at, static_cast<uint64_t>(epoch));
  // The kernel's epoch only grows. Above etcd's for good only if etcd's
  // revisions went back: say so, the operator must act.
  if (IsStaleEpoch(unfenced)) {
    return StaleEpochError(absl::StrCat(
        at.device, " has seen a newer cluster epoch than ", epoch,
        ": a newer Primary acted (re-integration is tried again under it), or etcd's "
        "revisions went back (a snapshot restore without --bump-revision: see "
        "docs/cluster.md, \"Restoring etcd\")"));
  }
  return unfenced;
}

bool HostDevices::Holds(const HeldFreezes& held_freezes, const SegmentAt& at, uint64_t id) {
  for (const auto& [change, h] : held_freezes) {
    absl::StatusOr<ExtentAddress> where =
        Locate(h.extent.volume, h.extent.vext, h.extent.extent_sectors);
    if (deps_.port->DeviceName(h.extent.volume) == at.device && where.ok() &&
        where->sector == at.sector && h.id == id) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<uint64_t> HostDevices::LeaseLeft(const std::string& device,
                                                const std::optional<LeaseBasis>& lease) {
  if (!lease.has_value()) return 0;
  const absl::Duration left = lease->span - (deps_.clock->Now() - lease->renewal_sent);
  if (left < lease->at_least) {
    return absl::UnavailableError(
        absl::StrCat("the last lease renewal is too old to unfence ", device, " under (",
                     absl::FormatDuration(left), " of kernel lease left); waiting for the next"));
  }
  return static_cast<uint64_t>(absl::ToInt64Milliseconds(left));
}

absl::Status HostDevices::ArmLease(const SegmentAt& at, const std::optional<LeaseBasis>& lease) {
  if (!lease.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(uint64_t ms, LeaseLeft(at.device, lease));
  return deps_.port->LeaseSegment(at, ms);
}

}  // namespace cvol::daemon
