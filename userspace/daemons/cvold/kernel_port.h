// What the cluster controller and the peer handlers ask of this host's
// kernel (dm-cvol, docs/target.md) and its block devices, in typed form.
// The daemon implements it over libdevmapper (Service); the simulation
// with a model kernel that has the same semantics. Every call names one
// extent of a volume; the port finds the device, the segment and the
// segment-relative extent.
#ifndef CVOL_CVOLD_KERNEL_PORT_H_
#define CVOL_CVOLD_KERNEL_PORT_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cvol/map_types.h"
#include "cvol/migrate_messages.h"
#include "cvol/status.h"
#include "config_db.h"
#include "records.h"

namespace cvol::daemon {

// One extent of a volume, as the records describe it.
struct ExtentRef {
  VolumeRecord volume;
  uint64_t extent_sectors = 0;
  uint64_t vext = 0;
};

// The kernel's state of one extent.
struct KernelExtent {
  std::optional<Location> location;          // nullopt: unmapped
  std::optional<MigrationStatus> migration;  // nullopt: not migrating
};

// Every call on an extent of a volume this host has no device for fails
// with kNotFound (a host rebooted during a change has none until it
// re-integrates, and so cannot write).
//
// The calls that change a map or hold I/O for a cluster change take the
// cluster epoch they act for (0: none, single-host mode). The kernel
// remembers the highest epoch a volume has seen and refuses an older one
// before anything changes: a deposed controller's request that passed the
// etcd check just before a new Primary acted fails there with
// StaleEpochError, never as success.
class KernelPort {
 public:
  virtual ~KernelPort() = default;

  // Makes the volume's device serve the record (created, or reloaded when
  // the table lacks a slot the record uses).
  virtual absl::Status Activate(const Snapshot& snap, const VolumeRecord& volume) = 0;

  virtual absl::StatusOr<KernelExtent> Read(const ExtentRef& e) = 0;
  // Blocks until the kernel reports progress on any migration, or `most`.
  virtual void WaitForProgress(absl::Duration most) = 0;

  // migrate_start: kCopy copies here; kFollow only dual-writes and tracks
  // the regions it writes. EBUSY (kFailedPrecondition) if the extent
  // migrates already or the volume runs its maximum of migrations.
  virtual absl::Status MigrateStart(const ExtentRef& e, Location dst, MigrateMode mode,
                                    uint64_t epoch) = 0;
  virtual absl::StatusOr<MigrateDirty> MigrateDirtyRegions(const ExtentRef& e,
                                                          uint64_t epoch) = 0;
  // Switches the extent to the migration's destination and ends it.
  virtual absl::Status MigrateCommit(const ExtentRef& e, uint64_t epoch) = 0;
  // Ends the migration; the source stays authoritative.
  virtual absl::Status MigrateAbort(const ExtentRef& e, uint64_t epoch) = 0;

  // freeze <vext> 1 <timeout_ms>: holds new I/O to the extent; returns the
  // freeze's id. The kernel thaws it by itself after timeout_ms.
  virtual absl::StatusOr<uint64_t> Freeze(const ExtentRef& e, uint64_t timeout_ms,
                                          uint64_t epoch) = 0;
  // OK once everything in flight before the freeze has ended; kNotFound if
  // the freeze is gone (thawed, timed out, cancelled by a fence).
  virtual absl::Status FreezeWait(const ExtentRef& e, uint64_t id, uint64_t wait_ms) = 0;
  // kNotFound if it is gone already.
  virtual absl::Status Thaw(const ExtentRef& e, uint64_t id, uint64_t epoch) = 0;

  // Points the extent at `to` under a freeze of its own.
  virtual absl::Status SetLocation(const ExtentRef& e, Location to, uint64_t epoch) = 0;

  // migrate_recopy (1.5): this host's kernel copies the given regions of
  // the extent's migration again, a follow migration's too, and reports
  // it ready (Read) once they are copied and the destination is flushed.
  // The runs are in the kernel's regions (migrate_dirty's). The copy
  // stops at this host's fence. EBUSY (kUnavailable) if a region is being
  // copied now, ERANGE (kOutOfRange) for a run beyond the extent.
  virtual absl::Status MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                                     uint64_t epoch) = 0;
};

// The kernel's refusal (ESTALE) of a call under an epoch older than one the
// volume has seen: the caller acts for a deposed Primary. kFailedPrecondition
// like the etcd check's "stale epoch" (cluster::CheckEpoch), so a peer
// request refused either way looks the same to the controller; the payload
// tells it apart from the kernel's other refusals (EBUSY).
absl::Status StaleEpochError(absl::string_view why);
bool IsStaleEpoch(const absl::Status& s);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_KERNEL_PORT_H_
