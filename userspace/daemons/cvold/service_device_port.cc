#include "service_device_port.h"

#include <utility>

#include "cvol/freeze_messages.h"
#include "cvol/lease_messages.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"
#include "log.h"

namespace cvol::daemon {

std::string Service::DmDevices::DeviceName(const VolumeRecord& volume) {
  return service_.DevName(volume.pool, volume.name);
}

absl::StatusOr<bool> Service::DmDevices::DeviceExists(const std::string& device) {
  return service_.dm_.Exists(device);
}

absl::Status Service::DmDevices::ActivateDevice(const Snapshot& snap, const VolumeRecord& volume,
                                                bool fenced) {
  service_.mu_.AssertHeld();
  return service_.LoadVolume(snap, volume, fenced);
}

absl::StatusOr<std::vector<SegmentState>> Service::DmDevices::DeviceSegments(
    const std::string& device) {
  service_.mu_.AssertHeld();
  ASSIGN_OR_RETURN(std::vector<DmLine> table, service_.dm_.Status(device));
  std::vector<SegmentState> out;
  for (const DmLine& line : table) {
    ASSIGN_OR_RETURN(TargetStatus ts, TargetStatus::Parse(line.params, StatusFormat::kV1_2));
    SegmentState state;
    if (ts.v1_1.has_value()) {
      state.freezes = ts.v1_1->freezes;
      state.migrations = ts.v1_1->migrations;
    }
    out.push_back(std::move(state));
  }
  return out;
}

absl::StatusOr<std::vector<Run>> Service::DmDevices::SegmentMap(const SegmentAt& at,
                                                                uint64_t extents) {
  service_.mu_.AssertHeld();
  ASSIGN_OR_RETURN(std::string got,
                   service_.dm_.Message(at.device, at.sector, FormatMapGet(0, extents)));
  return ParseMapGetResponse(got);
}

absl::Status Service::DmDevices::SetSegmentMap(const SegmentAt& at,
                                               const std::vector<MapSetItem>& items,
                                               uint64_t epoch) {
  service_.mu_.AssertHeld();
  return service_.MapSetFrozen(at.device, at.sector, items, epoch);
}

absl::Status Service::DmDevices::ThawSegment(const SegmentAt& at, uint64_t id, uint64_t epoch) {
  service_.mu_.AssertHeld();
  ASSIGN_OR_RETURN(std::string thaw, WithEpoch(FormatThaw(id), epoch));
  return KernelReply(service_.dm_.Message(at.device, at.sector, thaw)).status();
}

absl::Status Service::DmDevices::AbortSegmentMigration(const SegmentAt& at, uint64_t vext,
                                                       uint64_t epoch) {
  service_.mu_.AssertHeld();
  ASSIGN_OR_RETURN(std::string abort, FormatMigrateAbort(vext));
  ASSIGN_OR_RETURN(std::string msg, WithEpoch(std::move(abort), epoch));
  return KernelReply(service_.dm_.Message(at.device, at.sector, msg)).status();
}

absl::Status Service::DmDevices::ThawChangeFreeze(const ExtentRef& e, uint64_t id,
                                                  uint64_t epoch) {
  service_.mu_.AssertHeld();
  return service_
      .MessageToExtent(e, [&](uint64_t) { return WithEpoch(FormatThaw(id), epoch); })
      .status();
}

absl::Status Service::DmDevices::UnfenceSegment(const SegmentAt& at, uint64_t epoch) {
  service_.mu_.AssertHeld();
  return KernelReply(service_.dm_.Message(at.device, at.sector, FormatUnfence(epoch))).status();
}

void Service::DmDevices::DeviceUnfenced(const std::string& device) {
  service_.mu_.AssertHeld();
  if (absl::Status s = service_.dm_.Reprobe(device); !s.ok()) {
    LogWarning(absl::StrCat("udev probe of ", device, ": ", s.message()));
  }
}

absl::Status Service::DmDevices::LeaseSegment(const SegmentAt& at, uint64_t lease_ms) {
  return service_.dm_.Message(at.device, at.sector, FormatLease(lease_ms)).status();
}

absl::Status Service::DmDevices::FenceSegment(const SegmentAt& at) {
  return service_.dm_.Message(at.device, at.sector, FormatFence()).status();
}

}  // namespace cvol::daemon
