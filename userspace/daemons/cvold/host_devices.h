// This host's volume devices in cluster mode (docs/cluster.md, "Leases and
// fencing"): which devices it has, their kernel leases, the fence of every
// one, and re-integration after a fence -- loading etcd's maps into the
// devices and unfencing them. It reaches the kernel only through a
// DevicePort, so the simulation runs this very code against its model
// kernel.
//
// Re-integration's contract: a device is unfenced only once its map is
// etcd's, its freezes are its live changes' and its migrations are
// recorded ones; never while a move of its volume is taken up (a host that
// missed the start of a migration must not write until it is over); and,
// when the caller passes the renewal it relies on, never without first
// arming the kernel lease counted from that renewal.
//
// Devices are created fenced (the table feature `fenced`) and unfenced
// here only, by the same rule: a daemon that died between creating a
// device and arming its lease would leave a device that writes on
// however long the host is out of the cluster.
#ifndef CVOL_CVOLD_HOST_DEVICES_H_
#define CVOL_CVOLD_HOST_DEVICES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "config_db.h"
#include "device_port.h"
#include "nlohmann/json.hpp"
#include "peer_handlers.h"
#include "records.h"

namespace cvol::daemon {

class HostDevices {
 public:
  using Json = nlohmann::json;

  struct Deps {
    ConfigDb* db = nullptr;
    DevicePort* port = nullptr;
    Clock* clock = nullptr;
    // This host's member name, for the events ("" when not clustered).
    std::function<std::string()> host;
    std::function<void(Json)> publish;
  };

  // The kernel lease re-integration arms right before each unfence: `span`
  // counted from when the renewal it relies on was sent, so that it ends
  // before the etcd lease (which runs from when etcd got that renewal). A
  // lease shorter than `at_least` is not armed and nothing is unfenced
  // (kUnavailable): the next renewal comes first.
  struct LeaseBasis {
    absl::Time renewal_sent;
    absl::Duration span;
    absl::Duration at_least = absl::Milliseconds(1);
  };

  // What the kernel volumes a call creates are unfenced under: the
  // cluster's current epoch, the lease (as re-integration's), and the
  // number of FenceAll calls (Fences()) the caller read *before* it
  // decided that this host may unfence (an active member): a FenceAll
  // since then wins, and the created volumes stay fenced.
  struct UnfenceUnder {
    int64_t epoch = 0;
    std::optional<LeaseBasis> lease;
    uint64_t fences = 0;
  };

  using HeldFreezes = std::map<std::string, PeerHandlers::HeldFreeze>;

  explicit HostDevices(Deps deps);

  // A volume's device (all its segments) gets the lease renewals and the
  // fence from now on; Forget ends that (the device was removed).
  void Track(const VolumeRecord& volume, uint64_t extent_sectors);
  void Forget(const std::string& device);
  std::vector<std::string> Devices() const;

  // lease <ms> on every tracked device; a failure is logged, the rest go on.
  void RenewKernelLeases(uint64_t lease_ms);
  // fence on every tracked device at once, then the host_fenced event.
  void FenceAll();
  // How many times FenceAll has run (for UnfenceUnder::fences).
  uint64_t Fences() const;

  // The volume's device as an active member makes it (a volume another
  // host created, `volume create`, a grow, a new pv's slot): created, or
  // reloaded if its table lacks a slot or a segment, with every table line
  // `fenced`; tracked; then every kernel volume the call created (and any
  // an earlier call created and could not unfence) gets its kernel lease
  // from `under.lease` and is unfenced under `under.epoch`. Segments that
  // were live already are not touched. On any failure after the creation
  // the created segments are fenced and stay so -- the next call, or
  // re-integration, unfences them -- and the error is returned. Nothing is
  // created under a lease basis too old (kUnavailable).
  absl::Status Activate(const Snapshot& snap, const VolumeRecord& volume,
                        uint64_t extent_sectors, const UnfenceUnder& under);
  // Whether segments of `device` that this daemon created are still
  // fenced, waiting for a later Activate or re-integration.
  bool AwaitsUnfence(const std::string& device) const;
  // Segments from `first` on of `device` were created fenced (a reload
  // while the host was not active): the next Activate unfences them.
  void AwaitUnfence(const std::string& device, size_t first);

  // Brings every volume in etcd back (the contract above), under `epoch`,
  // the cluster's current one: every message carries it, so a volume that
  // has seen a newer Primary refuses (StaleEpochError) and the caller
  // tries again under the new one. held_freezes are the handlers' (the
  // caller holds their lock, so no peer request runs meanwhile): the ones
  // whose change is over are thawed and dropped. A volume with a taken-up
  // move stays fenced and the call returns kUnavailable (try again). A
  // device that did not exist is created fenced from etcd's map, then
  // armed and unfenced as the others (CreateDevice). Without `lease` the
  // caller has armed the kernel leases itself.
  absl::Status Reintegrate(int64_t epoch, HeldFreezes& held_freezes,
                           const std::optional<LeaseBasis>& lease);

 private:
  // The freezes of changes that ended without this host.
  void ThawEndedChanges(const Snapshot& snap, uint64_t epoch, HeldFreezes& held_freezes);
  // One segment of an existing device: orphan freezes, unrecorded
  // migrations, the map, the lease, the unfence.
  absl::Status ReintegrateSegment(const VolumeRecord& volume, size_t segment, const SegmentAt& at,
                                  const SegmentState& state, int64_t epoch,
                                  const HeldFreezes& held_freezes,
                                  const std::optional<LeaseBasis>& lease);
  // A device that did not exist, from etcd's map: created fenced, tracked,
  // then UnfenceCreated from its first segment. A device that cannot be
  // made here (a pv missing) is skipped with a warning.
  absl::Status CreateDevice(const Snapshot& snap, const VolumeRecord& volume,
                            uint64_t extent_sectors, const UnfenceUnder& under);
  // The kernel volumes of segments [first, end) of a tracked device, which
  // this daemon created fenced: each one's lease armed, then each one
  // unfenced (unless a FenceAll ran since under.fences); on any failure all
  // of them fenced again and kept in unfence_from_ for a later call.
  absl::Status UnfenceCreated(const VolumeRecord& volume, uint64_t extent_sectors, size_t first,
                              const UnfenceUnder& under);
  absl::Status ArmAndUnfence(const std::string& device, const std::vector<SegmentAt>& segments,
                             const UnfenceUnder& under);
  // unfence <epoch>; a refusal for a newer epoch says what to do.
  absl::Status Unfence(const SegmentAt& at, int64_t epoch);
  // Whether one of held_freezes is freeze `id` of the segment at `at`.
  bool Holds(const HeldFreezes& held_freezes, const SegmentAt& at, uint64_t id);
  // The kernel lease left from `lease` in ms (0 without one); kUnavailable
  // if less than its at_least.
  absl::StatusOr<uint64_t> LeaseLeft(const std::string& device,
                                     const std::optional<LeaseBasis>& lease);
  // Arms the segment's kernel lease from `lease`, if given.
  absl::Status ArmLease(const SegmentAt& at, const std::optional<LeaseBasis>& lease);

  const Deps deps_;
  // What the lease renewals and the fence address, without etcd and
  // without the service's lock (a fence must not wait behind a slow
  // command): each device's segments' first sectors.
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<uint64_t>> devices_ ABSL_GUARDED_BY(mu_);
  uint64_t fences_ ABSL_GUARDED_BY(mu_) = 0;
  // Devices whose segments from this index on were created fenced by this
  // daemon and are not unfenced yet (a failure between creation and
  // unfence while the host stayed active): nothing else would unfence
  // them before the next fence. Re-integration and Forget drop them.
  std::map<std::string, size_t> unfence_from_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_HOST_DEVICES_H_
