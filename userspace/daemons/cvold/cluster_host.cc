// The host side of the cluster (docs/cluster.md): peer requests go to
// PeerHandlers (peer_handlers.h), the kernel leases, fencing and
// re-integration to HostDevices (host_devices.h); here the wiring, under
// the locks the daemon takes them in.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "cluster_agent.h"
#include "fault_injection.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/freeze_messages.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "cvol/status.h"
#include "cvol/unique_fd.h"
#include "log.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
void Service::AttachCluster(ClusterAgent* agent, PeerCaller* peers) {
  agent_ = agent;
  peers_ = peers;
  PeerHandlers::Deps h;
  h.db = &db_;
  h.kernel = this;
  h.clock = &clock_;
  h.check_controller = [agent](int64_t epoch, const std::string& sender) {
    return agent->CheckController(epoch, sender);
  };
  h.publish = [this](Json event) { events_.Publish(std::move(event)); };
  h.follow_start_deadline = options_.peer_deadline / 2;
  h.freeze_wait_ms =
      static_cast<uint64_t>(std::min<int64_t>(absl::ToInt64Milliseconds(options_.peer_deadline / 2),
                                              10000));
  h.recopy_inline_budget = options_.recopy_inline;
  handlers_ = std::make_unique<PeerHandlers>(std::move(h));

  MoveController::Deps c;
  c.kv = &kv_;
  c.db = &db_;
  c.prefix = agent->prefix();
  c.self = agent->host();
  c.lease_ttl_s = agent->lease_ttl_s();
  c.kernel = this;
  c.peers = peers;
  c.clock = &clock_;
  c.is_primary = [agent] { return agent->IsPrimary(); };
  c.host_active = [agent] { return agent->state() == ClusterAgent::State::kActive; };
  c.publish = [this](Json event) { events_.Publish(std::move(event)); };
  c.step_down = [agent](int64_t epoch) { agent->RequestStepDown(epoch); };
  c.set_phase = [this](const std::string& key, const std::string& phase, uint64_t copied,
                       uint64_t regions) { SetMovePhase(key, phase, copied, regions); };
  c.remember = [this](const std::string& key, const Versioned<MoveRecord>& move) {
    if (MoveRecordRendered(key, move.mod_revision)) return;  // without the service's lock
    absl::MutexLock lock(&mu_);
    RememberMoveRecord(key, move);
  };
  c.fault_point = [this](const std::string& point) {
    if (point.starts_with("crash_")) {
      CrashIfFaultFires(point);
    } else if (FaultFires(point)) {
      clock_.SleepFor(absl::Seconds(10));
    }
  };
  MoveController::Options o;
  o.peer_deadline = options_.peer_deadline;
  o.freeze_timeout_ms = options_.cluster_freeze_timeout_ms;
  o.move_poll = options_.move_poll;
  controller_ = std::make_unique<MoveController>(std::move(c), o);
}

// Sets entries of one segment under a freeze of their range; the map
// generation is read once nothing is in flight.
absl::Status Service::MapSetFrozen(const std::string& dm_name, uint64_t sector,
                                   const std::vector<MapSetItem>& items, uint64_t epoch) {
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const MapSetItem& item : items) {
    lo = std::min(lo, item.vext);
    hi = std::max(hi, item.vext + item.count - 1);
  }
  MapSetLimits limits;
  limits.epoch_word = epoch != 0;
  ASSIGN_OR_RETURN(std::vector<std::vector<MapSetItem>> batches, SplitMapSet(items, limits));
  ASSIGN_OR_RETURN(std::string freeze, WithEpoch(FormatFreeze(lo, hi - lo + 1, 10000), epoch));
  ASSIGN_OR_RETURN(std::string f, KernelReply(dm_.Message(dm_name, sector, freeze)));
  ASSIGN_OR_RETURN(uint64_t id, ParseFreezeResponse(f));
  absl::Status s = dm_.Message(dm_name, sector, FormatFreezeWait(id, 5000)).status();
  uint64_t gen = 0;
  if (s.ok()) {
    absl::StatusOr<uint64_t> live = SegmentGeneration(dm_name, sector);
    s = live.status();
    if (live.ok()) gen = *live;
  }
  for (size_t b = 0; s.ok() && b < batches.size(); ++b) {
    absl::StatusOr<std::string> text = WithEpoch(FormatMapSet(gen, batches[b]), epoch);
    absl::StatusOr<std::string> r =
        text.ok() ? KernelReply(dm_.Message(dm_name, sector, *text)) : text;
    s = r.status();
    // map_set's ESTALE also answers a generation it does not have; but
    // from SegmentGeneration to here this daemon holds mu_, which every
    // map change of it takes, so here it means a newer epoch.
    if (s.ok()) {
      absl::StatusOr<uint64_t> next = ParseMapSetResponse(*r);
      s = next.status();
      if (s.ok()) gen = *next;
    }
  }
  // Always thaw: held I/O goes on with whatever map is live now. Without
  // the epoch: this freeze is this call's own, and a map_set refused for a
  // newer epoch must not leave it holding I/O until its timeout.
  (void)dm_.Message(dm_name, sector, FormatThaw(id));
  return s;
}

absl::StatusOr<uint64_t> Service::SegmentGeneration(const std::string& dm_name,
                                                    uint64_t sector) {
  ASSIGN_OR_RETURN(std::vector<DmLine> status, dm_.Status(dm_name));
  for (const DmLine& line : status) {
    if (line.start != sector) continue;
    ASSIGN_OR_RETURN(TargetStatus ts, TargetStatus::Parse(line.params, StatusFormat::kV1_2));
    return ts.map_gen;
  }
  return absl::NotFoundError(absl::StrCat(dm_name, " has no segment at sector ", sector));
}

absl::StatusOr<Service::Json> Service::HandlePeer(const std::string& type, int64_t epoch,
                                                  const std::string& sender, const Json& body) {
  if (agent_ == nullptr) return absl::FailedPreconditionError("this daemon is not clustered");
  if (type == "ping") {
    return Json{{"host", agent_->host()}, {"state", ClusterAgent::StateName(agent_->state())}};
  }
  // A deposed controller is turned away here (fencing tokens), and so is a
  // controller step from any member but the Primary (volume_move and
  // move_progress go to the Primary from any member).
  const bool controller_step = PeerHandlers::Serves(type);
  absl::Status s = controller_step ? agent_->CheckController(epoch, sender)
                                   : agent_->CheckEpoch(epoch);
  if (!s.ok()) {
    const bool impersonation = s.code() == absl::StatusCode::kPermissionDenied;
    events_.Publish({{"type", impersonation ? "controller_impersonation_refused"
                                            : "stale_epoch_refused"},
                     {"request", type},
                     {"epoch", epoch},
                     {"sender", sender},
                     {"reason", std::string(s.message())}});
    return s;
  }
  if (FaultFires(absl::StrCat("peer_silent:", type))) {
    // Alive, renewing its lease, and not answering: the controller must
    // take this host out of the change.
    absl::SleepFor(2 * absl::Seconds(agent_->lease_ttl_s()) + options_.peer_deadline);
    return absl::UnavailableError("fault injected: stayed silent");
  }
  if (controller_step) return handlers_->Handle(type, epoch, sender, body);
  if (type == "volume_move") return PeerVolumeMove(body);
  if (type == "move_progress") return PeerMoveProgress(body);
  return absl::InvalidArgumentError(absl::StrCat("unknown peer request '", type, "'"));
}

// --- This host's devices (HostDevices) ------------------------------------

void Service::RenewKernelLeases(uint64_t lease_ms) { devices_->RenewKernelLeases(lease_ms); }

void Service::FenceAll() { devices_->FenceAll(); }

// The agent's re-integration: the pvs looked for again, then HostDevices
// loads etcd's maps into the devices and unfences each under a kernel
// lease that ends 3/4 TTL after the last renewal was sent (the agent's
// rule), or not at all if less than a quarter TTL would be left.
absl::Status Service::Reintegrate(int64_t epoch, absl::Time renewal_sent) {
  // No peer request runs meanwhile (the handlers' lock, then mu_: the
  // order every handler takes them in).
  absl::Status result;
  handlers_->WithHeldFreezes([&](std::map<std::string, PeerHandlers::HeldFreeze>& held_freezes) {
    absl::MutexLock lock(&mu_);
    result = RescanPvs();
    if (result.ok()) {
      result = devices_->Reintegrate(epoch, held_freezes, KernelLeaseFrom(renewal_sent));
    }
  });
  return result;
}

HostDevices::LeaseBasis Service::KernelLeaseFrom(absl::Time renewal_sent) const {
  const absl::Duration ttl = absl::Seconds(agent_->lease_ttl_s());
  return HostDevices::LeaseBasis{renewal_sent, ttl * 3 / 4, ttl / 4};
}

// Every caller in cluster mode comes here: the sync of what other hosts
// changed, `volume create` and `resize`, a move's new slot, the peer
// handlers' reload. The table lines always carry `fenced` (simplest, and a
// reload is unaffected but for the segment a grow appends, which must start
// fenced too).
absl::Status Service::ActivateInCluster(const Snapshot& snap, const VolumeRecord& volume) {
  // Read before the agent is asked: a fence from here on keeps what is
  // created fenced (HostDevices::UnfenceUnder).
  const uint64_t fences = devices_->Fences();
  const std::optional<ClusterAgent::UnfenceBasis> basis = agent_->ActiveUnfenceBasis();
  if (basis.has_value()) {
    const HostDevices::UnfenceUnder under{basis->epoch, KernelLeaseFrom(basis->renewal_sent),
                                          fences};
    return devices_->Activate(snap, volume, snap.pools.at(volume.pool).record.extent_sectors,
                              under);
  }
  // Not an active member: no device is created. Re-integration will, under
  // a lease and from etcd's map, when this host is back; one created now
  // would stay fenced until then and hang whatever opens it (udev's probe
  // first). A live device is still reloaded (a new pv's slot): a segment
  // that appends stays fenced, and re-integration unfences it with the
  // others.
  const std::string name = DevName(volume.pool, volume.name);
  ASSIGN_OR_RETURN(bool exists, dm_.Exists(name));
  if (!exists) {
    return absl::UnavailableError(absl::StrCat(
        "this host is not an active member of the cluster (",
        ClusterAgent::StateName(agent_->state()), "); ", name,
        " is created when it re-integrates"));
  }
  ASSIGN_OR_RETURN(std::vector<DmLine> live, dm_.Table(name));
  RETURN_IF_ERROR(LoadVolume(snap, volume, /*fenced=*/true));
  // The host may turn active before its next re-integration (one may have
  // just ended): the first Activate then unfences what this appended.
  if (volume.segments.size() > live.size()) devices_->AwaitUnfence(name, live.size());
  return absl::OkStatus();
}

bool Service::DeviceLeftFenced(const VolumeRecord& volume) {
  return clustered() && devices_->AwaitsUnfence(DevName(volume.pool, volume.name));
}

// What another host changed reaches this one here: a new volume is
// activated (created fenced, then armed and unfenced: ActivateInCluster),
// a grown volume or a new pv reloads the table (ActivateVolume reloads
// only if the segments or the slots differ), and a removed volume's
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
    if (snap->HasTakenUpMove(name.first, name.second)) continue;
    absl::Status s = ActivateVolume(*snap, vrec.record);
    // Once per device and problem: this runs every other tick.
    if (!s.ok() && sync_warned_.insert(absl::StrCat(dm_name, ": ", s.message())).second) {
      LogWarning(absl::StrCat("sync: volume ", name.first, "/", name.second, ": ", s.message()));
    }
  }
  std::vector<std::string> gone;
  for (const std::string& dm_name : devices_->Devices()) {
    if (!wanted.contains(dm_name)) gone.push_back(dm_name);
  }
  for (const std::string& dm_name : gone) {
    if (absl::Status s = dm_.Remove(dm_name); !s.ok()) {
      if (sync_warned_.insert(absl::StrCat(dm_name, " removed elsewhere")).second) {
        LogWarning(absl::StrCat("sync: ", dm_name, "'s volume was removed on another host, but ",
                                "the device cannot be removed here (open?): ", s.message()));
      }
      continue;
    }
    devices_->Forget(dm_name);
    LogInfo(absl::StrCat("sync: removed /dev/mapper/", dm_name, " (volume removed elsewhere)"));
    events_.Publish({{"type", "volume_removed"}, {"device", dm_name}, {"by", "another host"}});
  }
}

}  // namespace cvol::daemon
