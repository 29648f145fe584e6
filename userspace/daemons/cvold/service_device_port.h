// Service's DevicePort (device_port.h): HostDevices's kernel calls as
// dm-cvol messages through libdevmapper (docs/target.md). Private to the
// service: the re-integration calls need its lock (the caller holds it),
// the lease and the fence need none (they must not wait behind a slow
// command).
#ifndef CVOL_CVOLD_SERVICE_DEVICE_PORT_H_
#define CVOL_CVOLD_SERVICE_DEVICE_PORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "device_port.h"
#include "service.h"

namespace cvol::daemon {

class Service::DmDevices final : public DevicePort {
 public:
  explicit DmDevices(Service& service) : service_(service) {}

  std::string DeviceName(const VolumeRecord& volume) override;
  absl::StatusOr<bool> DeviceExists(const std::string& device) override;
  // The calls from here to the lease need the service's lock held.
  absl::Status ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                              bool fenced) override;
  absl::StatusOr<std::vector<SegmentState>> DeviceSegments(const std::string& device) override;
  absl::StatusOr<std::vector<Run>> SegmentMap(const SegmentAt& at, uint64_t extents) override;
  absl::Status SetSegmentMap(const SegmentAt& at, const std::vector<MapSetItem>& items,
                             uint64_t epoch) override;
  absl::Status ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) override;
  absl::Status AbortSegmentMigration(const SegmentAt& at, uint64_t vext, uint64_t epoch) override;
  absl::Status ThawChangeFreeze(const ExtentRef& e, uint64_t id, uint64_t epoch) override;
  absl::Status UnfenceSegment(const SegmentAt& at, uint64_t epoch) override;
  void DeviceUnfenced(const std::string& device) override;
  // Without the service's lock.
  absl::Status LeaseSegment(const SegmentAt& at, uint64_t lease_ms) override;
  absl::Status FenceSegment(const SegmentAt& at) override;

 private:
  Service& service_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_SERVICE_DEVICE_PORT_H_
