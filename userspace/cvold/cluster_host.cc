// The host side of the cluster (docs/cluster.md): the controller's requests
// (each one idempotent, each checked against the current epoch), the kernel
// leases and fencing, and re-integration after a fence.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "cluster_agent.h"
#include "fault_injection.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/freeze_messages.h"
#include "cvol/lease_messages.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "cvol/status.h"
#include "cvol/unique_fd.h"
#include "log.h"
#include "service.h"
#include "status_macros.h"

namespace cvol::daemon {
namespace {

using control::ArgReader;

absl::StatusOr<Location> LocationArg(const nlohmann::json& j, const char* what) {
  if (!j.is_array() || j.size() != 2 || !j[0].is_number_unsigned() ||
      !j[1].is_number_unsigned() || j[0].get<uint64_t>() > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be [slot, pext]"));
  }
  return Location{j[0].get<uint32_t>(), j[1].get<uint64_t>()};
}

// Copies [offset, offset+bytes) from one block device to another with
// O_DIRECT, then flushes the destination.
absl::Status CopyRange(const std::string& from, uint64_t from_offset, const std::string& to,
                       uint64_t to_offset, uint64_t bytes) {
  UniqueFd in(open(from.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!in.ok()) return absl::UnavailableError(absl::StrCat("open ", from, ": ", strerror(errno)));
  UniqueFd out(open(to.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  if (!out.ok()) return absl::UnavailableError(absl::StrCat("open ", to, ": ", strerror(errno)));
  constexpr size_t kChunk = 1 << 20;
  void* raw = nullptr;
  if (posix_memalign(&raw, 4096, kChunk) != 0) {
    return absl::ResourceExhaustedError("no memory for the copy buffer");
  }
  std::unique_ptr<void, decltype(&free)> buffer(raw, &free);
  for (uint64_t done = 0; done < bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - done));
    if (pread(in.get(), raw, n, static_cast<off_t>(from_offset + done)) != static_cast<ssize_t>(n)) {
      return absl::DataLossError(absl::StrCat("read ", from, ": ", strerror(errno)));
    }
    if (pwrite(out.get(), raw, n, static_cast<off_t>(to_offset + done)) != static_cast<ssize_t>(n)) {
      return absl::DataLossError(absl::StrCat("write ", to, ": ", strerror(errno)));
    }
    done += n;
  }
  if (fdatasync(out.get()) != 0 || out.Close() != 0) {
    return absl::DataLossError(absl::StrCat("flush ", to, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

void Service::AttachCluster(ClusterAgent* agent, PeerCaller* peers) {
  agent_ = agent;
  peers_ = peers;
}

absl::StatusOr<Service::LoadedExtent> Service::LoadExtent(const std::string& pool,
                                                         const std::string& name, uint64_t vext) {
  LoadedExtent out;
  ASSIGN_OR_RETURN(out.snap, db_.Load());
  const VolumeRecord* volume = out.snap.FindVolume(pool, name);
  if (volume == nullptr) return absl::NotFoundError(absl::StrCat("no volume ", pool, "/", name));
  out.volume = *volume;
  out.extent_sectors = out.snap.pools.at(pool).record.extent_sectors;
  ASSIGN_OR_RETURN(out.kernel, ReadExtent(out.volume, out.extent_sectors, vext));
  return out;
}

// Sets entries of one segment under a freeze of their range; the map
// generation is read once nothing is in flight.
absl::Status Service::MapSetFrozen(const std::string& dm_name, uint64_t sector,
                                   const std::vector<MapSetItem>& items) {
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const MapSetItem& item : items) {
    lo = std::min(lo, item.vext);
    hi = std::max(hi, item.vext + item.count - 1);
  }
  ASSIGN_OR_RETURN(std::vector<std::vector<MapSetItem>> batches, SplitMapSet(items));
  ASSIGN_OR_RETURN(std::string f, dm_.Message(dm_name, sector, FormatFreeze(lo, hi - lo + 1, 10000)));
  ASSIGN_OR_RETURN(uint64_t id, ParseFreezeResponse(f));
  absl::Status s = dm_.Message(dm_name, sector, FormatFreezeWait(id, 5000)).status();
  absl::StatusOr<std::vector<DmLine>> status;
  if (s.ok()) status = dm_.Status(dm_name);
  if (s.ok()) s = status.status();
  uint64_t gen = 0;
  if (s.ok()) {
    s = absl::NotFoundError(absl::StrCat(dm_name, " has no segment at sector ", sector));
    for (const DmLine& line : *status) {
      if (line.start != sector) continue;
      absl::StatusOr<TargetStatus> ts = TargetStatus::Parse(line.params, StatusFormat::kV1_2);
      s = ts.status();
      if (ts.ok()) gen = ts->map_gen;
    }
  }
  for (size_t b = 0; s.ok() && b < batches.size(); ++b) {
    absl::StatusOr<std::string> r = dm_.Message(dm_name, sector, FormatMapSet(gen, batches[b]));
    s = r.status();
    if (s.ok()) {
      absl::StatusOr<uint64_t> next = ParseMapSetResponse(*r);
      s = next.status();
      if (s.ok()) gen = *next;
    }
  }
  // Always thaw: held I/O goes on with whatever map is live now.
  (void)dm_.Message(dm_name, sector, FormatThaw(id));
  return s;
}

absl::StatusOr<Service::Json> Service::HandlePeer(const std::string& type, int64_t epoch,
                                                  const Json& body) {
  if (agent_ == nullptr) return absl::FailedPreconditionError("this daemon is not clustered");
  if (type == "ping") {
    return Json{{"host", agent_->host()}, {"state", ClusterAgent::StateName(agent_->state())}};
  }
  // A deposed controller is turned away here (DESIGN §4: fencing tokens).
  if (absl::Status s = agent_->CheckEpoch(epoch); !s.ok()) {
    events_.Publish({{"type", "stale_epoch_refused"}, {"request", type}, {"epoch", epoch},
                     {"reason", std::string(s.message())}});
    return s;
  }
  if (FaultFires(absl::StrCat("peer_silent:", type))) {
    // Alive, renewing its lease, and not answering: the controller must
    // take this host out of the change.
    absl::SleepFor(2 * absl::Seconds(agent_->lease_ttl_s()) + options_.peer_deadline);
    return absl::UnavailableError("fault injected: stayed silent");
  }
  if (type == "migrate_start") return PeerMigrateStart(body);
  if (type == "migrate_status") return PeerMigrateStatus(body);
  if (type == "freeze") return PeerFreeze(body);
  if (type == "recopy") return PeerRecopy(body);
  if (type == "apply") return PeerApply(body);
  if (type == "release") return PeerRelease(body);
  if (type == "abort") return PeerAbort(body);
  if (type == "volume_move") return PeerVolumeMove(body);
  if (type == "move_progress") return PeerMoveProgress(body);
  return absl::InvalidArgumentError(absl::StrCat("unknown peer request '", type, "'"));
}

namespace {

struct ExtentArgs {
  std::string pool, volume;
  uint64_t vext = 0;
};

absl::StatusOr<ExtentArgs> ReadExtentArgs(ArgReader& reader) {
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));
  ASSIGN_OR_RETURN(uint64_t vext, reader.Uint("vext"));
  return ExtentArgs{name.pool, name.volume, vext};
}

}  // namespace

absl::StatusOr<Service::Json> Service::PeerMigrateStart(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(ExtentArgs e, ReadExtentArgs(reader));
  ASSIGN_OR_RETURN(Json dst_json, reader.Raw("dst"));
  ASSIGN_OR_RETURN(bool follow, reader.Bool("follow", false));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Location dst, LocationArg(dst_json, "dst"));
  const absl::Time deadline = absl::Now() + options_.peer_deadline / 2;
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  const VolumeRecord* volume = snap.FindVolume(e.pool, e.volume);
  if (volume == nullptr) return absl::NotFoundError("no such volume");
  // The table must list the destination's slot (a pv added since).
  RETURN_IF_ERROR(ActivateVolume(snap, *volume));
  const uint64_t es = snap.pools.at(e.pool).record.extent_sectors;
  while (true) {
    ASSIGN_OR_RETURN(ExtentState st, ReadExtent(*volume, es, e.vext));
    if (!st.migration) {
      ASSIGN_OR_RETURN(std::string msg,
                       FormatMigrateStart(st.at.local_vext, dst,
                                          follow ? MigrateMode::kFollow : MigrateMode::kCopy));
      RETURN_IF_ERROR(dm_.Message(st.dm_name, st.at.sector, msg).status());
      continue;
    }
    // A follower reports once it dual-writes every write: after the
    // migration's start drain, which is what `ready` means for it.
    if (!follow || st.migration->state == MigrationState::kReady) {
      return Json{{"state", MigrationStateName(st.migration->state)}};
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("the follow migration did not start in time");
    }
    kernel_progress_.WaitWithTimeout(&mu_, absl::Milliseconds(50));
  }
}

absl::StatusOr<Service::Json> Service::PeerMigrateStatus(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(ExtentArgs e, ReadExtentArgs(reader));
  RETURN_IF_ERROR(reader.Finish());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LoadedExtent loaded, LoadExtent(e.pool, e.volume, e.vext));
  const ExtentState& st = loaded.kernel;
  Json out{{"state", st.migration ? MigrationStateName(st.migration->state) : "none"}};
  if (st.migration) {
    out["copied"] = st.migration->copied_regions;
    out["regions"] = st.migration->regions;
  }
  return out;
}

absl::StatusOr<Service::Json> Service::PeerFreeze(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(std::string change, reader.String("change"));
  ASSIGN_OR_RETURN(ExtentArgs e, ReadExtentArgs(reader));
  ASSIGN_OR_RETURN(uint64_t timeout_ms, reader.Uint("timeout_ms"));
  RETURN_IF_ERROR(reader.Finish());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LoadedExtent loaded, LoadExtent(e.pool, e.volume, e.vext));
  const ExtentState& st = loaded.kernel;
  auto held = held_freezes_.find(change);
  const bool fresh = held == held_freezes_.end();
  if (fresh) {
    ASSIGN_OR_RETURN(std::string got,
                     dm_.Message(st.dm_name, st.at.sector,
                                 FormatFreeze(st.at.local_vext, 1, timeout_ms)));
    ASSIGN_OR_RETURN(uint64_t id, ParseFreezeResponse(got));
    held = held_freezes_.emplace(change, HeldFreeze{st.dm_name, st.at.sector, id}).first;
  }
  const uint64_t wait_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.peer_deadline / 2));
  ASSIGN_OR_RETURN(std::string waited, dm_.Message(st.dm_name, st.at.sector,
                                                   FormatFreezeWait(held->second.id, wait_ms)));
  RETURN_IF_ERROR(ParseFreezeWaitResponse(waited));
  Json out{{"freeze_id", held->second.id}, {"migrating", st.migration.has_value()}};
  if (st.migration) {
    ASSIGN_OR_RETURN(std::string msg, FormatMigrateDirty(st.at.local_vext));
    ASSIGN_OR_RETURN(std::string text, dm_.Message(st.dm_name, st.at.sector, msg));
    ASSIGN_OR_RETURN(MigrateDirty dirty, ParseMigrateDirtyResponse(text));
    out["region_sectors"] = dirty.region_sectors;
    out["regions"] = dirty.nr_regions;
    out["dirty"] = Json::array();
    for (const DirtyRun& run : dirty.runs) out["dirty"].push_back(Json::array({run.first, run.count}));
  }
  if (fresh) {
    events_.Publish({{"type", "cluster_frozen"}, {"change", change},
                     {"volume", absl::StrCat(e.pool, "/", e.volume)}, {"vext", e.vext}});
  }
  return out;
}

absl::StatusOr<Service::Json> Service::PeerRecopy(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(ExtentArgs e, ReadExtentArgs(reader));
  ASSIGN_OR_RETURN(Json src_json, reader.Raw("src"));
  ASSIGN_OR_RETURN(Json dst_json, reader.Raw("dst"));
  ASSIGN_OR_RETURN(uint64_t region_sectors, reader.Uint("region_sectors"));
  ASSIGN_OR_RETURN(Json runs, reader.Raw("runs"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Location src, LocationArg(src_json, "src"));
  ASSIGN_OR_RETURN(Location dst, LocationArg(dst_json, "dst"));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  if (!snap.pools.contains(e.pool)) return absl::NotFoundError("no such pool");
  const uint64_t es = snap.pools.at(e.pool).record.extent_sectors;
  if (region_sectors == 0 || region_sectors > es) {
    return absl::InvalidArgumentError("bad region_sectors");
  }
  const PvRecord* from = nullptr;
  const PvRecord* to = nullptr;
  for (const PvRecord* pv : snap.PvsOf(e.pool)) {
    if (pv->slot == src.dev) from = pv;
    if (pv->slot == dst.dev) to = pv;
  }
  if (from == nullptr || to == nullptr || !paths_.contains(from->uuid) ||
      !paths_.contains(to->uuid)) {
    return absl::FailedPreconditionError("the source or destination pv is not on this host");
  }
  uint64_t bytes = 0;
  for (const Json& run : runs) {
    if (!run.is_array() || run.size() != 2 || !run[0].is_number_unsigned() ||
        !run[1].is_number_unsigned()) {
      return absl::InvalidArgumentError("runs must be [[region, count]...]");
    }
    const uint64_t r = run[0].get<uint64_t>(), c = run[1].get<uint64_t>();
    if (c == 0 || (r + c) * region_sectors > es) {
      return absl::InvalidArgumentError("a run is outside the extent");
    }
    const uint64_t off = r * region_sectors * 512;
    RETURN_IF_ERROR(CopyRange(paths_.at(from->uuid),
                              (from->data_offset + src.pext * es) * 512 + off,
                              paths_.at(to->uuid), (to->data_offset + dst.pext * es) * 512 + off,
                              c * region_sectors * 512));
    bytes += c * region_sectors * 512;
  }
  return Json{{"copied_bytes", bytes}};
}

absl::StatusOr<Service::Json> Service::PeerApply(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(std::string change, reader.String("change"));
  ASSIGN_OR_RETURN(ExtentArgs e, ReadExtentArgs(reader));
  ASSIGN_OR_RETURN(Json dst_json, reader.Raw("dst"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(Location dst, LocationArg(dst_json, "dst"));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LoadedExtent loaded, LoadExtent(e.pool, e.volume, e.vext));
  const ExtentState& st = loaded.kernel;
  std::string how = "already";
  if (st.location != dst) {
    if (st.migration) {
      // Under the change's drained freeze this is the cluster form (no
      // hold of its own); without it the kernel holds and drains itself.
      ASSIGN_OR_RETURN(std::string msg, FormatMigrateCommit(st.at.local_vext));
      RETURN_IF_ERROR(dm_.Message(st.dm_name, st.at.sector, msg).status());
      how = "migrate_commit";
    } else {
      // No migration here (a host that joined after it began): set the
      // entry under a freeze of its own.
      RETURN_IF_ERROR(MapSetFrozen(st.dm_name, st.at.sector, {MapSetItem{st.at.local_vext, 1, dst}}));
      how = "map_set";
    }
  }
  events_.Publish({{"type", "cluster_applied"}, {"change", change},
                   {"volume", absl::StrCat(e.pool, "/", e.volume)}, {"vext", e.vext},
                   {"how", how}});
  return Json{{"how", how}};
}

absl::StatusOr<Service::Json> Service::PeerRelease(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(std::string change, reader.String("change"));
  RETURN_IF_ERROR(reader.Finish());
  absl::MutexLock lock(&mu_);
  auto held = held_freezes_.find(change);
  if (held == held_freezes_.end()) return Json{{"released", false}};
  // A freeze that thawed itself (its timeout) is gone: ENOENT is fine.
  absl::StatusOr<std::string> r =
      dm_.Message(held->second.dm_name, held->second.sector, FormatThaw(held->second.id));
  held_freezes_.erase(held);
  if (!r.ok()) LogWarning(absl::StrCat("release ", change, ": ", r.status().message()));
  events_.Publish({{"type", "cluster_released"}, {"change", change}});
  return Json{{"released", true}};
}

absl::StatusOr<Service::Json> Service::PeerAbort(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(std::string change, reader.String("change"));
  ASSIGN_OR_RETURN(ExtentArgs e, ReadExtentArgs(reader));
  RETURN_IF_ERROR(reader.Finish());
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(LoadedExtent loaded, LoadExtent(e.pool, e.volume, e.vext));
    const ExtentState& st = loaded.kernel;
    if (st.migration) {
      ASSIGN_OR_RETURN(std::string msg, FormatMigrateAbort(st.at.local_vext));
      RETURN_IF_ERROR(dm_.Message(st.dm_name, st.at.sector, msg).status());
    }
  }
  return PeerRelease(Json{{"change", change}});
}

// --- Fencing -----------------------------------------------------------

void Service::RenewKernelLeases(uint64_t lease_ms) {
  absl::MutexLock lock(&devices_mu_);
  for (const auto& [name, sectors] : local_devices_) {
    for (uint64_t sector : sectors) {
      absl::StatusOr<std::string> r = dm_.Message(name, sector, FormatLease(lease_ms));
      if (!r.ok()) LogWarning(absl::StrCat("lease ", name, ": ", r.status().message()));
    }
  }
}

void Service::FenceAll() {
  absl::MutexLock lock(&devices_mu_);
  for (const auto& [name, sectors] : local_devices_) {
    for (uint64_t sector : sectors) {
      absl::StatusOr<std::string> r = dm_.Message(name, sector, FormatFence());
      if (!r.ok()) LogError(absl::StrCat("fence ", name, ": ", r.status().message()));
    }
  }
  events_.Publish({{"type", "host_fenced"}, {"host", agent_ ? agent_->host() : ""}});
}

// Loads etcd's map into every local volume and unfences it. Volumes with a
// move in progress stay fenced (the error makes the agent try again): a
// host that missed the start of a migration must not write until the
// controller has finished it.
absl::Status Service::Reintegrate(int64_t epoch) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(RescanPvs());
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  // Cluster freezes of changes that ended without this host (it was
  // excluded, so their release never came here). The host is fenced: its
  // I/O stays held until the unfence below.
  for (auto it = held_freezes_.begin(); it != held_freezes_.end();) {
    const std::string move_key = it->first.substr(0, it->first.rfind('#'));
    if (snap.moves.count(move_key) != 0) {
      ++it;
      continue;
    }
    // ENOENT is fine: the freeze thawed itself (its timeout).
    (void)dm_.Message(it->second.dm_name, it->second.sector, FormatThaw(it->second.id));
    events_.Publish({{"type", "cluster_released"}, {"change", it->first}});
    it = held_freezes_.erase(it);
  }
  for (const auto& [name, vrec] : snap.volumes) {
    const VolumeRecord& volume = vrec.record;
    const std::string dm_name = DevName(volume.pool, volume.name);
    ASSIGN_OR_RETURN(bool exists, dm_.Exists(dm_name));
    bool moving = false;
    for (const MoveRecord* m : snap.MovesOf(volume.pool)) moving |= m->volume == volume.name;
    if (moving) {
      return absl::UnavailableError(absl::StrCat("volume ", name.first, "/", name.second,
                                                 " has a move in progress; waiting"));
    }
    if (!exists) {
      if (absl::Status s = ActivateVolume(snap, volume); !s.ok()) {
        LogWarning(absl::StrCat("volume ", name.first, "/", name.second, ": ", s.message()));
      }
      continue;
    }
    const uint64_t es = snap.pools.at(volume.pool).record.extent_sectors;
    ASSIGN_OR_RETURN(std::vector<DmLine> table, dm_.Status(dm_name));
    for (size_t i = 0; i < volume.segments.size() && i < table.size(); ++i) {
      const Segment& seg = volume.segments[i];
      const uint64_t sector = seg.first_vext * es;
      ASSIGN_OR_RETURN(TargetStatus ts, TargetStatus::Parse(table[i].params, StatusFormat::kV1_2));
      // A freeze this daemon does not hold is a dead predecessor's (killed
      // in a change): nobody will release it, and its timeout may be far
      // off. Under mu_ no other freeze of this daemon can be in flight.
      if (ts.v1_1.has_value()) {
        for (const FreezeStatus& f : ts.v1_1->freezes) {
          bool held = false;
          for (const auto& [change, h] : held_freezes_) {
            held |= h.dm_name == dm_name && h.sector == sector && h.id == f.id;
          }
          if (held) continue;
          // ENOENT is fine: it timed out meanwhile.
          (void)dm_.Message(dm_name, sector, FormatThaw(f.id));
          LogInfo(absl::StrCat("reintegrate: ", dm_name, ": thawed freeze ", f.id, " (extents ",
                               f.vext, "+", f.count, "), left by a previous daemon"));
          events_.Publish({{"type", "orphan_freeze_thawed"}, {"device", dm_name},
                           {"freeze_id", f.id}, {"vext", f.vext}});
        }
        // Migrations with no record are over: the source is authoritative.
        for (const MigrationStatus& m : ts.v1_1->migrations) {
          ASSIGN_OR_RETURN(std::string msg, FormatMigrateAbort(m.vext));
          RETURN_IF_ERROR(dm_.Message(dm_name, sector, msg).status());
        }
      }
      ASSIGN_OR_RETURN(std::string got, dm_.Message(dm_name, sector, FormatMapGet(0, seg.extents)));
      ASSIGN_OR_RETURN(std::vector<Run> live, ParseMapGetResponse(got));
      std::vector<std::optional<Location>> have(seg.extents), want(seg.extents);
      for (const Run& r : live) {
        for (uint64_t k = 0; k < r.count && r.vext + k < seg.extents; ++k) {
          have[r.vext + k] = Location{r.dev, r.pext + k};
        }
      }
      for (const Run& r : SegmentRuns(volume, i)) {
        for (uint64_t k = 0; k < r.count; ++k) want[r.vext + k] = Location{r.dev, r.pext + k};
      }
      std::vector<MapSetItem> items;
      for (uint64_t v = 0; v < seg.extents; ++v) {
        if (have[v] != want[v]) items.push_back(MapSetItem{v, 1, want[v]});
      }
      if (!items.empty()) {
        RETURN_IF_ERROR(MapSetFrozen(dm_name, sector, items));
        LogInfo(absl::StrCat("reintegrate: ", dm_name, ": ", items.size(),
                             " extent(s) set to etcd's map"));
      }
      RETURN_IF_ERROR(dm_.Message(dm_name, sector, FormatUnfence(static_cast<uint64_t>(epoch))).status());
    }
  }
  events_.Publish({{"type", "host_reintegrated"}, {"host", agent_ ? agent_->host() : ""},
                   {"epoch", epoch}});
  return absl::OkStatus();
}

// What another host changed reaches this one here: a new volume is
// activated, a grown volume or a new pv reloads the table (ActivateVolume
// reloads only if the segments or the slots differ), and a removed volume's
// device goes away unless something holds it open. Volumes with a move in
// progress are left alone (Reintegrate and the move's steps handle them).
void Service::SyncVolumes() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return;
  // A pv another host just labelled is looked for at once; one that stays
  // missing (not attached here) every 10 s.
  std::set<std::string> unknown;
  for (const auto& [uuid, pv] : snap->pvs) {
    if (!paths_.contains(uuid)) unknown.insert(uuid);
  }
  if (!unknown.empty() &&
      (unknown != unknown_pvs_ || absl::Now() - last_pv_rescan_ > absl::Seconds(10))) {
    last_pv_rescan_ = absl::Now();
    (void)RescanPvs();
    unknown.clear();
    for (const auto& [uuid, pv] : snap->pvs) {
      if (!paths_.contains(uuid)) unknown.insert(uuid);
    }
  }
  unknown_pvs_ = std::move(unknown);
  std::set<std::string> wanted;
  for (const auto& [name, vrec] : snap->volumes) {
    const std::string dm_name = DevName(name.first, name.second);
    wanted.insert(dm_name);
    bool moving = false;
    for (const MoveRecord* m : snap->MovesOf(name.first)) moving |= m->volume == name.second;
    if (moving) continue;
    absl::Status s = ActivateVolume(*snap, vrec.record);
    // Once per device and problem: this runs every other tick.
    if (!s.ok() && sync_warned_.insert(absl::StrCat(dm_name, ": ", s.message())).second) {
      LogWarning(absl::StrCat("sync: volume ", name.first, "/", name.second, ": ", s.message()));
    }
  }
  std::vector<std::string> gone;
  {
    absl::MutexLock devices(&devices_mu_);
    for (const auto& [dm_name, sectors] : local_devices_) {
      if (!wanted.contains(dm_name)) gone.push_back(dm_name);
    }
  }
  for (const std::string& dm_name : gone) {
    if (absl::Status s = dm_.Remove(dm_name); !s.ok()) {
      if (sync_warned_.insert(absl::StrCat(dm_name, " removed elsewhere")).second) {
        LogWarning(absl::StrCat("sync: ", dm_name, "'s volume was removed on another host, but ",
                                "the device cannot be removed here (open?): ", s.message()));
      }
      continue;
    }
    {
      absl::MutexLock devices(&devices_mu_);
      local_devices_.erase(dm_name);
    }
    LogInfo(absl::StrCat("sync: removed /dev/mapper/", dm_name, " (volume removed elsewhere)"));
    events_.Publish({{"type", "volume_removed"}, {"device", dm_name}, {"by", "another host"}});
  }
}

}  // namespace cvol::daemon
