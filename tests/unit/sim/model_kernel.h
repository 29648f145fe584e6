// The seeded cluster simulation's kernel: one host's dm-cvol, modelled with
// the semantics of docs/target.md that the cluster protocol depends on
// (freeze, migrate_* with follow and migrate_dirty, lease/fence/unfence,
// the cluster epochs of 1.4), over shared model disks that every host of
// the simulation sees. It serves both ports: KernelPort, per extent, for
// the change protocol, and DevicePort, per device segment, for HostDevices
// (activation, lease, fence, re-integration).
//
// The model keeps what matters for the protocol's correctness and drops
// what does not: data is one 64-bit value per region of a physical extent,
// a write is atomic (nothing is ever in flight, so every freeze is drained
// at once), and time is only the Clock passed in. Everything is
// deterministic: ordered containers, no threads, and the background copier
// moves only when the simulation calls CopyStep().
//
// One deliberate gap is kept: a region copy is two steps (read the source,
// later write the destination), so a follower's dual-write can land in
// between and be overwritten with older data -- the race the cutover's
// migrate_dirty recopy (MigrateRecopy, the same copier again) must repair.
#ifndef CVOL_TESTS_UNIT_SIM_MODEL_KERNEL_H_
#define CVOL_TESTS_UNIT_SIM_MODEL_KERNEL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clock.h"
#include "config_db.h"  // Snapshot, which kernel_port.h uses without including
#include "cvol/map_types.h"
#include "cvol/migrate_messages.h"
#include "cvol/status.h"
#include "device_port.h"
#include "kernel_port.h"
#include "records.h"

namespace cvol::daemon::sim {

// One write that reached a disk, for the invariant checker.
struct DiskWrite {
  absl::Time time;
  std::string host;
  Location location;
  uint32_t region = 0;
  uint64_t value = 0;
};

// The shared physical volumes: (slot, pext, region) -> value, 0 if never
// written. Every host's kernel writes through the same instance.
class ModelDisks {
 public:
  explicit ModelDisks(Clock& clock) : clock_(clock) {}

  uint64_t Read(Location at, uint32_t region) const;
  void Write(const std::string& host, Location at, uint32_t region, uint64_t value);

  // Every write in the order it landed.
  const std::vector<DiskWrite>& log() const { return log_; }

 private:
  using Key = std::tuple<uint32_t, uint64_t, uint32_t>;  // slot, pext, region

  Clock& clock_;
  std::map<Key, uint64_t> values_;
  std::vector<DiskWrite> log_;
};

enum class WriteResult {
  kAcked,  // landed now
  kHeld,   // queued by a fence, an expired lease or a freeze; lands later
  kError,  // no such volume, extent or region, or the extent is unmapped
};

// Called for every user write when it lands (at once or when released).
using AckCallback = std::function<void(const std::string& volume, uint64_t vext,
                                       uint32_t region, uint64_t value)>;

// A migration as the invariant checker sees it.
struct ModelMigration {
  Location dst;
  MigrateMode mode = MigrateMode::kCopy;
  MigrationStatus status;
  std::vector<uint32_t> dirty;  // regions written through it, ascending
};

class ModelKernel final : public KernelPort, public DevicePort {
 public:
  static constexpr uint32_t kCopyRegionsInFlight = 16;

  // Volumes are named "<pool>/<name>". An extent has regions_per_extent
  // regions (>= 1); a region is the unit of copying and of migrate_dirty.
  ModelKernel(std::string host, ModelDisks& disks, Clock& clock, uint32_t regions_per_extent,
              AckCallback on_ack = nullptr);

  // Volumes that Activate() (KernelPort) creates start fenced, until
  // Unfence(). ActivateDevice() does as the daemon asks instead.
  void set_create_fenced(bool fenced) { create_fenced_ = fenced; }
  // migrate_throttle's max_migrations (default 8), for every volume.
  void set_max_migrations(uint32_t n) { max_migrations_ = n; }
  void set_on_ack(AckCallback on_ack) { on_ack_ = std::move(on_ack); }

  // KernelPort. Each call first runs the timers (Tick) at the clock's now.
  absl::Status Activate(const Snapshot& snap, const VolumeRecord& volume) override;
  absl::StatusOr<KernelExtent> Read(const ExtentRef& e) override;
  void WaitForProgress(absl::Duration most) override;
  // The mutating calls follow the epoch rule of docs/target.md (1.4): a
  // volume remembers the highest epoch it has seen (from these calls with
  // epoch > 0 and from Unfence); an older one is refused (StaleEpochError)
  // before anything changes, one beyond CVOL_MAX_EPOCH too (ERANGE); a
  // refused call changes nothing, the epoch included.
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
  // migrate_recopy (1.5): the runs, in the model's regions (those
  // MigrateDirtyRegions reports), are copied again by CopyStep, in a
  // follow migration too; the migration is copying until they are.
  // ERANGE (kOutOfRange) for a run beyond the extent, EBUSY
  // (kUnavailable) for a region whose copy is half done, as DmClient
  // reports those errnos.
  absl::Status MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                             uint64_t epoch) override;

  // DevicePort. A volume's device is named "<pool>/<name>"; its segments
  // are the record's it was activated from (a segment's sector is its
  // first extent times the pool's extent size). The lease is the host's:
  // the daemon renews every device's at once. A segment's fence and
  // unfence act on its volume; the unfence also lifts the host's fence
  // (Fence(), an expired lease), so volumes the daemon did not unfence stay
  // fenced on their own.
  std::string DeviceName(const VolumeRecord& volume) override;
  absl::StatusOr<bool> DeviceExists(const std::string& device) override;
  // `fenced`: the table feature (target 1.5): a volume this call creates
  // starts fenced; a live one is not affected.
  absl::Status ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                              bool fenced) override;
  absl::StatusOr<std::vector<SegmentState>> DeviceSegments(const std::string& device) override;
  absl::StatusOr<std::vector<Run>> SegmentMap(const SegmentAt& at, uint64_t extents) override;
  absl::Status SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                             uint64_t epoch) override;
  absl::Status ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) override;
  absl::Status AbortSegmentMigration(const SegmentAt& at, uint64_t vext, uint64_t epoch) override;
  absl::Status ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) override;
  absl::Status LeaseSegment(const SegmentAt& at, uint64_t lease_ms) override;
  absl::Status FenceSegment(const SegmentAt& at) override;
  absl::Status UnfenceSegment(const SegmentAt& at, uint64_t epoch) override;

  // A user write of one region through this host's device.
  WriteResult Write(const std::string& volume, uint64_t vext, uint32_t region, uint64_t value);

  // The background copier: one half-step of every copying migration, a
  // follow migration's re-copy too: either read the source of the
  // uncopied regions (up to kCopyRegionsInFlight, the kernel's default
  // copy_limit: it copies that many at once), or write what was read last
  // time to the destination. Nothing while the volume is fenced or the
  // lease has run out.
  void CopyStep();
  // Whether CopyStep would do anything now.
  bool HasCopyWork() const;
  // The copier's next destination write fails, and its migration with it.
  void FailNextDestinationWrite() { fail_next_dst_write_ = true; }

  // lease <ms>: the deadline is now + d (0 disarms); clears `expired`.
  void Lease(absl::Duration d);
  // fence: every volume, and any created until Unfence().
  void Fence();
  // unfence <epoch>: StaleEpochError if a volume has seen a newer epoch,
  // kDeadlineExceeded (ETIMEDOUT) while the lease is expired; else every
  // volume is unfenced, remembers the epoch, and its held writes land.
  absl::Status Unfence(uint64_t epoch);
  bool fenced() const;    // the host or any of its volumes is fenced
  bool writable() const;  // not fenced, and the lease has not run out

  // Runs the timers at the clock's now: freeze timeouts, lease expiry (the
  // kernel fences itself); then lands the held writes nothing holds now.
  void Tick();
  // A reboot: volumes, migrations, freezes, held writes and the lease are
  // gone; the disks keep what reached them. Freeze ids are not reused.
  void Crash();
  // A suspend (a table reload, an admin's dmsetup suspend) ends every
  // freeze; what they held goes on (docs/target.md, freeze_wait).
  void BreakFreezes();
  // Called by CopyStep between a re-copied region's read and its write
  // (the simulation's way to land a write exactly there).
  void set_during_recopy(std::function<void(uint64_t vext, uint32_t region)> hook) {
    during_recopy_ = std::move(hook);
  }

  // For the invariant checker.
  const std::string& host() const { return host_; }
  bool HasVolume(const std::string& volume) const;
  std::optional<Location> MapOf(const std::string& volume, uint64_t vext) const;
  size_t held_writes() const { return held_.size(); }
  // The highest epoch the volume has seen (0: none, or no such volume).
  uint64_t EpochOf(const std::string& volume) const;
  std::map<uint64_t, ModelMigration> MigrationsOf(const std::string& volume) const;
  std::vector<FreezeStatus> FreezesOf(const std::string& volume) const;

 private:
  struct Migration {
    Location dst;
    MigrateMode mode = MigrateMode::kCopy;
    MigrationState state = MigrationState::kCopy;
    std::vector<bool> copied;
    // Regions read from the source, not yet written to the destination:
    // region -> the value read.
    std::map<uint32_t, uint64_t> in_flight;
    bool recopying = false;  // MigrateRecopy's regions are not all copied yet
    std::set<uint32_t> dirty;
    uint64_t errors = 0;
  };
  struct FreezeEntry {
    uint64_t vext = 0;
    absl::Time thaws_at;
  };
  struct Volume {
    uint64_t extents = 0;
    std::vector<Segment> segments;  // as activated; none: one of every extent
    uint64_t extent_sectors = 0;    // 0: unknown, only sector 0 is addressed
    std::map<uint64_t, Location> map;  // absent: unmapped
    std::map<uint64_t, Migration> migrations;
    std::map<uint64_t, FreezeEntry> freezes;  // by id
    bool fenced = false;
    uint64_t epoch = 0;  // the highest cluster epoch seen
  };
  struct HeldWrite {
    std::string volume;
    uint64_t vext = 0;
    uint32_t region = 0;
    uint64_t value = 0;
  };

  static std::string NameOf(const VolumeRecord& volume);
  // Activate and ActivateDevice: creates the volume (fenced if asked) or
  // reloads it (a grow appends a segment).
  absl::Status Load(const Snapshot& snap, const VolumeRecord& volume, bool fenced);
  // The volume of e, kNotFound if this kernel has none; kInvalidArgument
  // if e.vext lies beyond it.
  absl::StatusOr<Volume*> Find(const ExtentRef& e);
  absl::StatusOr<Migration*> FindMigration(const ExtentRef& e);
  // The volume of a device and the segment at a sector.
  struct SegmentOf {
    std::string name;
    Volume* volume = nullptr;
    Segment segment;
  };
  absl::StatusOr<SegmentOf> FindSegment(const SegmentAt& at);
  // The change a DevicePort call makes, under the epoch rule (as UnderEpoch).
  absl::Status UnderSegmentEpoch(const SegmentAt& at, uint64_t epoch,
                                 const std::function<absl::Status(SegmentOf&)>& act);
  // OK if a message under `epoch` may act on the volume.
  static absl::Status CheckEpoch(const Volume& v, const std::string& name, uint64_t epoch);
  // Runs act on e's volume if the epoch passes, and raises the volume's
  // epoch if act succeeded. Epoch 0 (no epoch word) is not checked.
  absl::Status UnderEpoch(const ExtentRef& e, uint64_t epoch,
                          const std::function<absl::Status(Volume&)>& act);
  absl::Status StartMigration(Volume& v, uint64_t vext, Location dst, MigrateMode mode);

  bool LeaseRanOut() const;
  // Whether a write to the extent must wait now.
  bool Holds(const Volume& v, uint64_t vext) const;
  // Lands a write that nothing holds: on the map, and through a migration.
  WriteResult Land(const std::string& name, uint64_t vext, uint32_t region, uint64_t value);
  void ReleaseHeld();
  MigrationStatus StatusOf(uint64_t vext, const Migration& m) const;
  // The migrations CopyStep works on: volume name and vext.
  std::vector<std::pair<std::string, uint64_t>> Copiers() const;
  void CopyHalfStep(Volume& v, uint64_t vext, Migration& m);

  const std::string host_;
  ModelDisks& disks_;
  Clock& clock_;
  const uint32_t regions_per_extent_;
  AckCallback on_ack_;
  std::function<void(uint64_t vext, uint32_t region)> during_recopy_;

  bool create_fenced_ = false;
  uint32_t max_migrations_ = 8;
  bool fail_next_dst_write_ = false;

  std::map<std::string, Volume> volumes_;
  std::deque<HeldWrite> held_;  // arrival order
  uint64_t next_freeze_id_ = 1;
  bool host_fenced_ = false;
  absl::Time lease_deadline_ = absl::InfiniteFuture();  // infinite: no lease
  bool lease_expired_ = false;
};

}  // namespace cvol::daemon::sim

#endif  // CVOL_TESTS_UNIT_SIM_MODEL_KERNEL_H_
