// What HostDevices (host_devices.h) asks of this host's kernel: whole
// volume devices, one dm table line (segment) at a time, as activation,
// the kernel lease, fencing and re-integration address them
// (docs/target.md). KernelPort (kernel_port.h) is the per-extent view the
// change protocol uses; this one is the per-device view, so that the
// simulation runs the real re-integration against its model kernel too.
//
// The port does not serialise its calls: the caller does (the daemon runs
// re-integration under the handlers' lock and the service's, and the lease
// and fence from the agent's thread, behind no other lock).
#ifndef CVOL_CVOLD_DEVICE_PORT_H_
#define CVOL_CVOLD_DEVICE_PORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config_db.h"
#include "cvol/map_types.h"
#include "cvol/status.h"
#include "kernel_port.h"
#include "records.h"

namespace cvol::daemon {

// Where a segment's messages go: the device and the segment's first sector.
struct SegmentAt {
  std::string device;
  uint64_t sector = 0;
};

// What a segment's status reports that re-integration acts on. Extent
// numbers are segment-relative, freeze ids the segment's own.
struct SegmentState {
  std::vector<FreezeStatus> freezes;
  std::vector<MigrationStatus> migrations;
};

class DevicePort {
 public:
  virtual ~DevicePort() = default;

  // The name of the volume's device on this host.
  virtual std::string DeviceName(const VolumeRecord& volume) = 0;
  virtual absl::StatusOr<bool> DeviceExists(const std::string& device) = 0;
  // Creates the volume's device from the record, or reloads it when the
  // table lacks a slot or a segment the record has. With `fenced` every
  // table line carries the feature of that name (target 1.5): each kernel
  // volume the call creates -- every segment of a new device, a grow's new
  // segment -- starts fenced, its I/O held until UnfenceSegment; segments
  // that were live already are left as they are.
  virtual absl::Status ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                                      bool fenced) = 0;
  // The live table's segments in order (fewer than the record's if the
  // device was not reloaded after a grow).
  virtual absl::StatusOr<std::vector<SegmentState>> DeviceSegments(const std::string& device) = 0;

  // map_get of the segment's first `extents` entries (segment-relative).
  virtual absl::StatusOr<std::vector<Run>> SegmentMap(const SegmentAt& at, uint64_t extents) = 0;
  // map_set of the items (segment-relative) under a drained freeze of
  // their range, taken and thawed by the call.
  virtual absl::Status SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                                     uint64_t epoch) = 0;
  // thaw <id>; kNotFound if it is gone already.
  virtual absl::Status ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) = 0;
  // migrate_abort of a segment-relative extent; the source stays.
  virtual absl::Status AbortSegmentMigration(const SegmentAt& at, uint64_t vext,
                                             uint64_t epoch) = 0;
  // thaw of a change's freeze, addressed by its extent as the handlers hold
  // it; kNotFound if it (or the device) is gone.
  virtual absl::Status ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) = 0;

  // lease <ms>, fence, unfence <epoch>. An unfence under an epoch older
  // than the segment has seen is StaleEpochError; under a lease that ran
  // out, kDeadlineExceeded (ETIMEDOUT) until the lease is renewed.
  virtual absl::Status LeaseSegment(const SegmentAt& at, uint64_t lease_ms) = 0;
  virtual absl::Status FenceSegment(const SegmentAt& at) = 0;
  virtual absl::Status UnfenceSegment(const SegmentAt& at, uint64_t epoch) = 0;
  // After the kernel volumes a call created fenced are unfenced: lets udev
  // probe the device (its rules skipped the probe while reads were held).
  // Best effort; nothing to do where no udev runs.
  virtual void DeviceUnfenced(const std::string& device) { (void)device; }
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_DEVICE_PORT_H_
