// cvold's commands: the control protocol's verbs (docs/control-protocol.md)
// over the configuration database and the kernel devices. One mutex
// serialises the changes this daemon makes; etcd's guarded transactions
// serialise them against everyone else's.
#ifndef CVOL_CVOLD_SERVICE_H_
#define CVOL_CVOLD_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config_db.h"
#include "cvol/dm_client.h"
#include "cvol/event.h"
#include "cvol/status.h"
#include "clock.h"
#include "event_hub.h"
#include "host_devices.h"
#include "move_controller.h"
#include "peer_handlers.h"
#include "kernel_port.h"
#include "peer_caller.h"
#include "thread_pool.h"
#include "nlohmann/json.hpp"
#include "volume_layout.h"

namespace cvol::daemon {

struct ServiceOptions {
  std::string etcd_endpoints;  // for status only
  std::string sys_block_dir = "/sys/class/block";
  std::string dev_dir = "/dev";
  absl::Duration move_poll = absl::Milliseconds(100);
  absl::Duration move_timeout = absl::Minutes(30);
  // Several daemons on one kernel (the test harness): suffixes device names
  // ("<pool>-<vol>@<instance>") and kernel uuids, so each has its own.
  std::string instance;
  // Cluster: how long a peer has to answer a controller request, and how
  // long a cluster freeze holds I/O at most (it outlasts a lease TTL, so a
  // host that stops answering is fenced before its freeze could thaw).
  absl::Duration peer_deadline = absl::Seconds(5);
  uint64_t cluster_freeze_timeout_ms = 30000;
  // How long a recopy request waits for the kernel's copy before it
  // answers "not done yet".
  absl::Duration recopy_inline = absl::Milliseconds(1500);
  // Moves driven at once (the threads of the move pool): two volumes' worth
  // of the kernel's default 8 migrations. The others wait their turn; a
  // move that waits for a slot gives its thread back (Service::RunMove).
  size_t move_workers = 16;
};

class ClusterAgent;

// A dm-cvol message's reply with the kernel's ESTALE (a stale cluster
// epoch) as StaleEpochError.
absl::StatusOr<std::string> KernelReply(absl::StatusOr<std::string> reply);

class Service : private KernelPort {
 public:
  using Json = nlohmann::json;
  using Progress = std::function<void(const Json&)>;

  Service(ServiceOptions options, store::KvStore& kv, const std::string& prefix, DmClient& dm,
          EventHub& events);
  ~Service();

  // Finds the pvs, activates every volume whose pvs are here and resumes
  // or rolls back the moves recorded in etcd. Idempotent: a restart over
  // live devices changes nothing the records agree with.
  absl::Status Start();

  // Stops the moves' work and waits for it to end (the moves resume at the
  // daemon's next Start). Moves cannot be started again afterwards.
  void Stop();

  // One control request. `progress` sends interim replies (move --wait).
  absl::StatusOr<Json> Handle(const std::string& command, const Json& args,
                              const Progress& progress);

  // A kernel event: follows moves, and is passed on to `events` streams.
  void OnKernelEvent(const Event& event);

  // Cluster mode (docs/cluster.md). Without it the daemon is a single host.
  void AttachCluster(ClusterAgent* agent, PeerCaller* peers);
  // A controller request from a peer (already authenticated).
  // sender: the host the peer link authenticated (its certificate).
  absl::StatusOr<Json> HandlePeer(const std::string& type, int64_t epoch, const std::string& sender,
                                  const Json& body);
  // The agent's hooks: HostDevices's, under the locks the daemon needs.
  void RenewKernelLeases(uint64_t lease_ms);
  void FenceAll();
  absl::Status Reintegrate(int64_t epoch, absl::Time renewal_sent);
  void SyncVolumes();
  // Starts a worker for every recorded move that has none and may run
  // now (the Primary).
  void DriveChanges();
  void PublishEvent(Json event) { events_.Publish(std::move(event)); }

  // The device-mapper name of a volume on this host.
  std::string DevName(const std::string& pool, const std::string& volume) const;

 private:

  absl::StatusOr<Json> Status();
  absl::StatusOr<Json> PvCreate(const Json& args);
  absl::StatusOr<Json> PvList(const Json& args);
  absl::StatusOr<Json> PvShow(const Json& args);
  absl::StatusOr<Json> PvRemove(const Json& args);
  absl::StatusOr<Json> PoolCreate(const Json& args);
  absl::StatusOr<Json> PoolList(const Json& args);
  absl::StatusOr<Json> PoolShow(const Json& args);
  absl::StatusOr<Json> VolumeCreate(const Json& args);
  absl::StatusOr<Json> VolumeList(const Json& args);
  absl::StatusOr<Json> VolumeShow(const Json& args);
  absl::StatusOr<Json> VolumeResize(const Json& args);
  absl::StatusOr<Json> VolumeRemove(const Json& args);
  absl::StatusOr<Json> VolumeMove(const Json& args, const Progress& progress);
  absl::StatusOr<std::vector<std::string>> StartMoves(const Json& start);
  absl::StatusOr<Json> ForwardVolumeMove(const std::string& volume, const Json& start, bool wait,
                                         const Progress& progress);
  static absl::StatusOr<bool> MovesFinished(const std::string& volume, const Json& report);
  absl::StatusOr<Json> PeerVolumeMove(const Json& body);
  absl::StatusOr<Json> PeerMoveProgress(const Json& body);
  absl::StatusOr<Json> MemberList(const Json& args);

  // A snapshot for a list command filtered by an optional pool, which must
  // then exist.
  absl::StatusOr<Snapshot> LoadForPool(const std::optional<std::string>& pool);

  // Runs `attempt` (read a snapshot, decide, commit) until it does not fail
  // with kAborted, a few times.
  absl::Status RetryOnConflict(const std::function<absl::Status()>& attempt);

  // HostDevices's DevicePort over dm_ (service_device_port.cc).
  class DmDevices;

  absl::Status RescanPvs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers a volume's device for lease renewals, fencing and events.
  void TrackDevice(const VolumeRecord& volume, uint64_t extent_sectors)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the volume's device serve the record: created, or reloaded when
  // its table differs. In cluster mode through HostDevices (ActivateInCluster).
  absl::Status ActivateVolume(const Snapshot& snap, const VolumeRecord& volume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // In cluster mode a device is created fenced and unfenced only by
  // HostDevices, under a kernel lease (docs/cluster.md, "Leases and
  // fencing"). A host that is not an active member creates nothing.
  absl::Status ActivateInCluster(const Snapshot& snap, const VolumeRecord& volume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The dm side of both: creates or reloads the device; with `fenced`
  // every table line carries the feature (the kernel volumes it creates
  // start fenced; a live one is not affected).
  absl::Status LoadVolume(const Snapshot& snap, const VolumeRecord& volume, bool fenced)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cluster mode: whether ActivateVolume created the volume's device but
  // left it fenced (its unfence failed; a later activation retries it).
  bool DeviceLeftFenced(const VolumeRecord& volume);
  // The kernel lease re-integration and activation arm before an unfence:
  // 3/4 TTL from the renewal sent at `renewal_sent`, not under a quarter.
  HostDevices::LeaseBasis KernelLeaseFrom(absl::Time renewal_sent) const;
  absl::Status ReloadPoolVolumes(const Snapshot& snap, const std::string& pool)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> SendMessage(const VolumeRecord& volume, uint64_t extent_sectors,
                                          uint64_t vext, const std::string& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Moves. Each runs as a task on move_workers_, in turns: a turn ends
  // when the move is over, or when it must wait for something other moves
  // may be holding up (a migration slot, a retry); the task then schedules
  // itself again behind the others instead of keeping its thread.
  enum class MoveTurn { kDone, kAgain };
  void StartMoveWorker(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartClusterMoves(const Snapshot& snap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One turn; `deadline` is the move's, kept from turn to turn.
  void RunMove(const std::string& key, absl::Time deadline);
  // Records how the move ended; true if the cluster's queued moves should
  // be looked at again.
  bool EndMove(const std::string& key, const absl::Status& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(moves_mu_);
  // Restarts `deadline` after an outage of etcd.
  absl::StatusOr<MoveTurn> DriveMove(const std::string& key, absl::Time& deadline);
  absl::StatusOr<MoveTurn> DriveClusterMove(const std::string& key, absl::Time deadline);
  // Single-host moves, from their record; kUnavailable if etcd did not
  // answer.
  absl::StatusOr<MoveTurn> DriveLocalMove(const std::string& key, absl::Time deadline);
  // The worker's state that clusterctl's progress shows.
  void SetMovePhase(const std::string& key, const std::string& phase, uint64_t copied = 0,
                    uint64_t regions = 0);
  // Renders the move's record for clusterctl's progress if it changed since
  // it was last rendered (a full read for the pv names: once per change of
  // the record, not once per poll of the move).
  void RememberMoveRecord(const std::string& key, const Versioned<MoveRecord>& move)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool MoveRecordRendered(const std::string& key, int64_t mod_revision);
  // Cancelled while the daemon stops, DeadlineExceeded past the deadline.
  absl::Status MoveMayContinue(absl::Time deadline);
  bool clustered() const { return agent_ != nullptr; }
  // The kernel's state of one extent of a local volume.
  struct ExtentState {
    std::string dm_name;
    ExtentAddress at;
    std::optional<Location> location;
    std::optional<MigrationStatus> migration;
  };
  absl::StatusOr<ExtentState> ReadExtent(const VolumeRecord& volume, uint64_t extent_sectors,
                                         uint64_t vext) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under `epoch` (0: none) for every message that takes one.
  absl::Status MapSetFrozen(const std::string& dm_name, uint64_t sector,
                            const std::vector<MapSetItem>& items, uint64_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live map generation of the segment at `sector`.
  absl::StatusOr<uint64_t> SegmentGeneration(const std::string& dm_name, uint64_t sector)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // KernelPort (service_kernel_port.cc): each call takes mu_.
  absl::Status Activate(const Snapshot& snap, const VolumeRecord& volume) override;
  absl::StatusOr<KernelExtent> Read(const ExtentRef& e) override;
  void WaitForProgress(absl::Duration most) override;
  absl::Status MigrateStart(const ExtentRef& e, Location dst, MigrateMode mode,
                            uint64_t epoch) override;
  absl::StatusOr<MigrateDirty> MigrateDirtyRegions(const ExtentRef& e, uint64_t epoch) override;
  absl::Status MigrateCommit(const ExtentRef& e, uint64_t epoch) override;
  absl::Status MigrateAbort(const ExtentRef& e, uint64_t epoch) override;
  absl::StatusOr<uint64_t> Freeze(const ExtentRef& e, uint64_t timeout_ms,
                                  uint64_t epoch) override;
  absl::Status FreezeWait(const ExtentRef& e, uint64_t id, uint64_t wait_ms) override;
  absl::Status Thaw(const ExtentRef& e, uint64_t id, uint64_t epoch) override;
  absl::Status SetLocation(const ExtentRef& e, Location to, uint64_t epoch) override;
  absl::Status MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                             uint64_t epoch) override;
  // Sends the message `format` builds for the extent's segment-relative
  // number to the extent's segment; the kernel's ESTALE comes back as
  // StaleEpochError.
  absl::StatusOr<std::string> MessageToExtent(
      const ExtentRef& e, const std::function<absl::StatusOr<std::string>(uint64_t)>& format)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json MoveProgress(const std::string& key);

  Json PoolJson(const Snapshot& snap, const PoolRecord& pool);
  Json PvJson(const Snapshot& snap, const PvRecord& pv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json VolumeJson(const Snapshot& snap, const VolumeRecord& volume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json MoveJson(const Snapshot& snap, const MoveRecord& move) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceOptions options_;
  store::KvStore& kv_;
  ConfigDb db_;
  DmClient& dm_;
  EventHub& events_;
  const absl::Time started_;
  ClusterAgent* agent_ = nullptr;
  PeerCaller* peers_ = nullptr;

  absl::Mutex mu_;
  // Signalled by kernel migration events, so that move workers act on
  // `ready` at once instead of at their next poll.
  absl::CondVar kernel_progress_;
  PvPaths paths_ ABSL_GUARDED_BY(mu_);
  absl::Time last_pv_rescan_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::set<std::string> unknown_pvs_ ABSL_GUARDED_BY(mu_);  // in etcd, not found here
  std::set<std::string> sync_warned_ ABSL_GUARDED_BY(mu_);  // SyncVolumes's warnings given
  std::map<std::string, std::string> volume_of_kernel_uuid_ ABSL_GUARDED_BY(mu_);

  // Move state the records do not hold: kernel progress and how it ended.
  struct MoveState {
    uint64_t copied = 0;
    uint64_t regions = 0;
    std::string phase = "copying";  // or committing, done, failed, rolled_back
    std::string error;
    bool finished = false;
    Json record;  // volume, vext, src, dst as MoveJson renders them
    int64_t record_revision = 0;  // the mod_revision of the record rendered
  };
  absl::Mutex moves_mu_;
  absl::CondVar move_finished_;  // with moves_mu_
  std::map<std::string, MoveState> move_states_ ABSL_GUARDED_BY(moves_mu_);
  // The moves with a task on move_workers_ (queued, running or between
  // turns), so that a move never has two.
  std::set<std::string> move_tasks_ ABSL_GUARDED_BY(moves_mu_);
  bool stopping_ ABSL_GUARDED_BY(moves_mu_) = false;
  // Scheduled on only under moves_mu_ and while !stopping_, so that Stop's
  // Shutdown runs (and thereby ends) every turn scheduled before it.
  ThreadPool move_workers_;

  // Cluster mode: the clock of the change controller and the handlers,
  // the peer requests' handlers, and the controller (set by AttachCluster).
  SteadyClock clock_;
  std::unique_ptr<PeerHandlers> handlers_;
  std::unique_ptr<MoveController> controller_;

  // This host's volume devices: activation's record of them, their kernel
  // leases, the fence and re-integration.
  std::unique_ptr<DmDevices> dm_devices_;
  std::unique_ptr<HostDevices> devices_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_SERVICE_H_
