#include "service.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster_agent.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/messages.h"
#include "cvol/pv_scan.h"
#include "cvol/status.h"
#include "log.h"
#include "pool_view.h"
#include "service_device_port.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

using control::DmUuid;

Service::Service(ServiceOptions options, store::KvStore& kv, const std::string& prefix,
                 DmClient& dm, EventHub& events)
    : options_(std::move(options)),
      kv_(kv),
      db_(kv, prefix),
      dm_(dm),
      events_(events),
      started_(absl::Now()),
      move_workers_(options_.move_workers) {
  dm_devices_ = std::make_unique<DmDevices>(*this);
  HostDevices::Deps d;
  d.db = &db_;
  d.port = dm_devices_.get();
  d.clock = &clock_;
  d.host = [this] { return agent_ != nullptr ? agent_->host() : std::string(); };
  d.publish = [this](Json event) { events_.Publish(std::move(event)); };
  devices_ = std::make_unique<HostDevices>(std::move(d));
}

Service::~Service() { Stop(); }

std::string Service::DevName(const std::string& pool, const std::string& volume) const {
  const std::string name = control::DmName(pool, volume);
  return options_.instance.empty() ? name : absl::StrCat(name, "@", options_.instance);
}

absl::Status Service::RetryOnConflict(const std::function<absl::Status()>& attempt) {
  absl::Status status;
  for (int i = 0; i < 8; ++i) {
    status = attempt();
    if (status.code() != absl::StatusCode::kAborted) return status;
  }
  return status;
}

absl::StatusOr<Snapshot> Service::LoadForPool(const std::optional<std::string>& pool) {
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (snap.ok() && pool && !snap->pools.contains(*pool)) {
    return absl::NotFoundError(
        absl::StrCat("pool '", *pool, "' does not exist; see: clusterctl pool list"));
  }
  return snap;
}

absl::Status Service::RescanPvs() {
  PvScanOptions scan;
  scan.sys_block_dir = options_.sys_block_dir;
  scan.dev_dir = options_.dev_dir;
  ASSIGN_OR_RETURN(PvScanResult result, ScanPvs(scan));
  paths_.clear();
  for (const auto& [uuid, pv] : result.pvs) paths_[FormatUuid(uuid)] = pv.path;
  for (const PvScanProblem& p : result.problems) {
    LogWarning(absl::StrCat("pv scan: ", p.path, ": ", p.status.message()));
  }
  return absl::OkStatus();
}

void Service::TrackDevice(const VolumeRecord& volume, uint64_t extent_sectors) {
  for (size_t i = 0; i < volume.segments.size(); ++i) {
    volume_of_kernel_uuid_[SegmentUuid(volume, i, options_.instance)] =
        absl::StrCat(volume.pool, "/", volume.name);
  }
  devices_->Track(volume, extent_sectors);
}

absl::Status Service::Start() {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(RescanPvs());
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  LogInfo(absl::StrCat("found ", paths_.size(), " pv(s) here; etcd has ", snap.pools.size(),
                       " pool(s), ", snap.volumes.size(), " volume(s), ", snap.moves.size(),
                       " move(s) in progress"));
  // In a cluster a device must not be writable before this host is an
  // active member (a change begun without it would not ask it to follow):
  // re-integration, after the join, creates the devices and sets their maps
  // from etcd under the handlers' lock, and never while a move of the
  // volume is in progress.
  if (clustered()) {
    // Devices a previous daemon left are only taken in charge: their
    // kernel leases are renewed (and can be re-armed before the unfence)
    // and a fence reaches them.
    for (const auto& [name, volume] : snap.volumes) {
      ASSIGN_OR_RETURN(bool exists, dm_.Exists(DevName(name.first, name.second)));
      if (exists) TrackDevice(volume.record, snap.pools.at(name.first).record.extent_sectors);
    }
    LogInfo("cluster mode: the volumes are activated when this host re-integrates");
    return absl::OkStatus();
  }
  int failed = 0;
  for (const auto& [name, volume] : snap.volumes) {
    if (absl::Status s = ActivateVolume(snap, volume.record); !s.ok()) {
      ++failed;
      LogError(absl::StrCat("volume ", name.first, "/", name.second, " not activated: ",
                            s.message()));
    }
  }
  LogInfo(absl::StrCat("activated ", snap.volumes.size() - failed, " volume(s)"));
  // In a cluster only the Primary drives moves (DriveChanges).
  if (!clustered()) {
    for (const auto& [key, move] : snap.moves) StartMoveWorker(key);
  }
  return absl::OkStatus();
}

void Service::Stop() {
  {
    absl::MutexLock lock(&moves_mu_);
    stopping_ = true;
  }
  // Runs the turns scheduled so far, each of which ends at its first look
  // at stopping_, and joins the threads; no turn is scheduled after.
  move_workers_.Shutdown();
}

absl::StatusOr<Service::Json> Service::Handle(const std::string& command, const Json& args,
                                              const Progress& progress) {
  if (command == "status") {
    control::ArgReader reader(args);
    RETURN_IF_ERROR(reader.Finish());
    return Status();
  }
  if (command == "pv.create") return PvCreate(args);
  if (command == "pv.list") return PvList(args);
  if (command == "pv.show") return PvShow(args);
  if (command == "pv.remove") return PvRemove(args);
  if (command == "pool.create") return PoolCreate(args);
  if (command == "pool.list") return PoolList(args);
  if (command == "pool.show") return PoolShow(args);
  if (command == "volume.create") return VolumeCreate(args);
  if (command == "volume.list") return VolumeList(args);
  if (command == "volume.show") return VolumeShow(args);
  if (command == "volume.resize") return VolumeResize(args);
  if (command == "volume.remove") return VolumeRemove(args);
  if (command == "volume.move") return VolumeMove(args, progress);
  if (command == "member.list") return MemberList(args);
  return absl::UnimplementedError(absl::StrCat("unknown command '", command,
                                               "'; see docs/control-protocol.md"));
}

absl::StatusOr<Service::Json> Service::Status() {
  absl::StatusOr<Snapshot> snap = db_.Load();
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  Json out;
  out["daemon"] = {{"version", "0.5.0"},
                   {"pid", static_cast<int64_t>(getpid())},
                   {"uptime_s", absl::ToDoubleSeconds(absl::Now() - started_)},
                   {"host", host},
                   {"protocol", 1}};
  out["etcd"] = {{"endpoints", options_.etcd_endpoints},
                 {"reachable", snap.ok()},
                 {"revision", snap.ok() ? snap->revision : 0}};
  if (!snap.ok()) out["etcd"]["error"] = std::string(snap.status().message());
  out["pools"] = Json::array();
  out["moves"] = Json::array();
  out["volumes"] = 0;
  if (snap.ok()) {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, pool] : snap->pools) out["pools"].push_back(PoolJson(*snap, pool.record));
    for (const auto& [key, move] : snap->moves) out["moves"].push_back(MoveJson(*snap, move.record));
    out["volumes"] = snap->volumes.size();
  }
  return out;
}

namespace {

// The kernel prints devices as major:minor; compare in that form.
std::vector<DeviceSlot> AsDevNumbers(std::vector<DeviceSlot> slots) {
  for (DeviceSlot& slot : slots) {
    struct stat st;
    if (slot.path && stat(slot.path->c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
      slot.path = absl::StrCat(major(st.st_rdev), ":", minor(st.st_rdev));
    }
  }
  return slots;
}

}  // namespace

absl::Status Service::ActivateVolume(const Snapshot& snap, const VolumeRecord& volume) {
  if (clustered()) return ActivateInCluster(snap, volume);
  return LoadVolume(snap, volume, /*fenced=*/false);
}

absl::Status Service::LoadVolume(const Snapshot& snap, const VolumeRecord& volume, bool fenced) {
  const PoolRecord& pool = snap.pools.at(volume.pool).record;
  const std::vector<const PvRecord*> pvs = snap.PvsOf(volume.pool);
  for (const Run& run : volume.runs) {
    for (const PvRecord* pv : pvs) {
      if (pv->slot == run.dev && !paths_.contains(pv->uuid)) {
        return absl::FailedPreconditionError(
            absl::StrCat("it uses pv ", pv->name, " (", pv->uuid,
                         "), which is not found on this host"));
      }
    }
  }
  TrackDevice(volume, pool.extent_sectors);
  std::vector<TableLine> lines = BuildTableLines(volume, pool.extent_sectors, pvs, paths_, options_.instance);
  for (TableLine& line : lines) line.fenced = fenced;
  const std::string name = DevName(volume.pool, volume.name);
  ASSIGN_OR_RETURN(bool exists, dm_.Exists(name));
  // A kernel volume created fenced holds udev's probe, and with it the
  // udev cookie the create waits for: no probe then (DmClient::Reprobe
  // once HostDevices has unfenced it).
  if (!exists) {
    RETURN_IF_ERROR(dm_.Create(
        name,
        DmUuid(options_.instance.empty() ? volume.uuid
                                         : absl::StrCat(volume.uuid, "-", options_.instance)),
        ToDmLines(volume, pool.extent_sectors, lines),
        fenced ? DmClient::Probe::kNo : DmClient::Probe::kYes));
    LogInfo(absl::StrCat("created /dev/mapper/", name));
    return absl::OkStatus();
  }
  // Live already (a daemon restart, a new pv, a grow): reload only if the
  // segments or the slots differ. A reload restating map_runs is refused by
  // the kernel unless the live map is exactly etcd's, which is the check we
  // want -- except while a move's commit is pending (etcd is ahead of the
  // kernel by that one extent until its worker commits): then the live map
  // is adopted as it is.
  bool commit_pending = false;
  for (const MoveRecord* move : snap.MovesOf(volume.pool)) {
    if (move->volume == volume.name && move->phase == MoveRecord::Phase::kCommitting) {
      commit_pending = true;
    }
  }
  ASSIGN_OR_RETURN(std::vector<DmLine> live, dm_.Table(name));
  bool same_layout = live.size() == lines.size();
  bool same_map = same_layout;
  for (size_t i = 0; same_layout && i < live.size(); ++i) {
    ASSIGN_OR_RETURN(TableLine parsed, TableLine::Parse(live[i].params));
    const Segment& segment = volume.segments[i];
    same_layout = live[i].start == segment.first_vext * pool.extent_sectors &&
                  live[i].length == segment.extents * pool.extent_sectors &&
                  parsed.vol_uuid == lines[i].vol_uuid &&
                  AsDevNumbers(parsed.devices) == AsDevNumbers(lines[i].devices);
    same_map = same_map && parsed.map_runs == lines[i].map_runs;
  }
  if (same_layout && (same_map || commit_pending)) return absl::OkStatus();
  if (commit_pending) {
    for (size_t i = 0; i < std::min(live.size(), lines.size()); ++i) lines[i].map_runs.reset();
  }
  const bool appends = fenced && lines.size() > live.size();  // a grow: a new kernel volume
  RETURN_IF_ERROR(dm_.Reload(name, ToDmLines(volume, pool.extent_sectors, lines),
                             appends ? DmClient::Probe::kNo : DmClient::Probe::kYes));
  LogInfo(absl::StrCat("reloaded /dev/mapper/", name));
  return absl::OkStatus();
}

absl::Status Service::ReloadPoolVolumes(const Snapshot& snap, const std::string& pool) {
  absl::Status first;
  for (const VolumeRecord* volume : snap.VolumesOf(pool)) {
    absl::StatusOr<bool> exists = dm_.Exists(DevName(volume->pool, volume->name));
    if (!exists.ok() || !*exists) continue;
    absl::Status s = ActivateVolume(snap, *volume);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::StatusOr<std::string> Service::SendMessage(const VolumeRecord& volume,
                                                 uint64_t extent_sectors, uint64_t vext,
                                                 const std::string& text) {
  ASSIGN_OR_RETURN(ExtentAddress at, Locate(volume, vext, extent_sectors));
  return dm_.Message(DevName(volume.pool, volume.name), at.sector, text);
}

absl::StatusOr<Service::ExtentState> Service::ReadExtent(const VolumeRecord& volume,
                                                         uint64_t extent_sectors, uint64_t vext) {
  ExtentState st;
  st.dm_name = DevName(volume.pool, volume.name);
  ASSIGN_OR_RETURN(st.at, Locate(volume, vext, extent_sectors));
  // KernelPort's contract: no device is kNotFound (a host rebooted during
  // a change has none until it re-integrates).
  ASSIGN_OR_RETURN(bool exists, dm_.Exists(st.dm_name));
  if (!exists) return absl::NotFoundError(absl::StrCat("no device ", st.dm_name));
  ASSIGN_OR_RETURN(std::vector<DmLine> status, dm_.Status(st.dm_name));
  if (st.at.segment >= status.size()) return absl::InternalError("the device lacks a segment");
  ASSIGN_OR_RETURN(TargetStatus ts, TargetStatus::Parse(status[st.at.segment].params,
                                                        StatusFormat::kV1_2));
  if (!ts.v1_1.has_value()) return absl::InternalError("cvol status without migrations");
  for (const MigrationStatus& m : ts.v1_1->migrations) {
    if (m.vext == st.at.local_vext) st.migration = m;
  }
  ASSIGN_OR_RETURN(std::string got,
                   dm_.Message(st.dm_name, st.at.sector, FormatMapGet(st.at.local_vext, 1)));
  ASSIGN_OR_RETURN(std::vector<Run> where, ParseMapGetResponse(got));
  if (!where.empty()) st.location = Location{where[0].dev, where[0].pext};
  return st;
}

void Service::OnKernelEvent(const Event& event) {
  Json j = Json::parse(EventToJson(event), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
  {
    absl::MutexLock lock(&mu_);
    auto it = volume_of_kernel_uuid_.find(event.uuid);
    if (it == volume_of_kernel_uuid_.end()) return;  // not one of ours
    j["volume"] = it->second;
  }
  j["source"] = "kernel";
  switch (event.type) {
    case EventType::kMigrateReady:
    case EventType::kMigrateDone:
    case EventType::kMigrateFailed:
    case EventType::kMigrateAborted:
    case EventType::kDstWriteError:
      kernel_progress_.SignalAll();
      break;
    case EventType::kLeaseExpired:
      if (agent_ != nullptr) {
        agent_->OnKernelFenced(absl::StrCat("the kernel lease of ", j.value("volume", ""),
                                            " expired"));
      }
      break;
    default:
      break;
  }
  events_.Publish(std::move(j));
}

}  // namespace cvol::daemon
