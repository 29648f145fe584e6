// One event of the cvol target, as multicast on the generic netlink family
// "cvol" (see linux/dm-cvol.h), and its JSON-line form for tools:
//
//   {"seq":7,"type":"freeze_drained","uuid":"vol1","dm_name":"cv",
//    "dm_dev":"253:0","time_ns":...,"id":3,"vext":0,"count":1,"value":2}
//
// Attributes the kernel left out (they do not apply to the type) are
// absent here and in the JSON. The migration events carry vext, dev_slot
// (the destination; for migrate_done the old source) and a value:
//
//   {"seq":9,"type":"migrate_ready","uuid":"vol1",...,"vext":5,
//    "dev_slot":1,"value":600}
#ifndef CVOL_EVENT_H_
#define CVOL_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "linux/dm-cvol.h"

namespace cvol {

// Values of enum cvol_event_type. A kernel newer than this library may
// send values outside the list; they are kept as numbers.
enum class EventType : uint32_t {
  kUnspec = CVOL_EV_UNSPEC,
  kFreezeDrained = CVOL_EV_FREEZE_DRAINED,
  kFreezeTimeout = CVOL_EV_FREEZE_TIMEOUT,
  kFreezeBroken = CVOL_EV_FREEZE_BROKEN,
  kLeaseExpired = CVOL_EV_LEASE_EXPIRED,
  kFenced = CVOL_EV_FENCED,
  kUnfenced = CVOL_EV_UNFENCED,
  kDevError = CVOL_EV_DEV_ERROR,
  kMapChanged = CVOL_EV_MAP_CHANGED,
  kMigrateReady = CVOL_EV_MIGRATE_READY,
  kMigrateDone = CVOL_EV_MIGRATE_DONE,
  kMigrateFailed = CVOL_EV_MIGRATE_FAILED,
  kDstWriteError = CVOL_EV_DST_WRITE_ERROR,
  kHeldFailed = CVOL_EV_HELD_FAILED,
  kMigrateStarted = CVOL_EV_MIGRATE_STARTED,
  kMigrateAborted = CVOL_EV_MIGRATE_ABORTED,
  kFenceDrained = CVOL_EV_FENCE_DRAINED,
};

// "freeze_drained", ...; "unknown_<n>" for a value not in the list.
std::string EventTypeName(EventType type);
// The inverse, for filters given by name; nullopt if unknown.
std::optional<EventType> EventTypeFromName(const std::string& name);

struct Event {
  uint64_t seq = 0;  // per volume, from 1
  EventType type = EventType::kUnspec;
  std::string uuid;
  std::optional<std::string> dm_name;
  std::optional<uint32_t> dm_dev;  // new_encode_dev() form
  std::optional<uint64_t> time_ns;
  std::optional<uint64_t> id;
  std::optional<uint64_t> vext;
  std::optional<uint64_t> count;
  std::optional<uint32_t> dev_slot;
  std::optional<uint64_t> value;
  std::optional<uint64_t> lost;

  friend bool operator==(const Event&, const Event&) = default;
};

// "major:minor" of a new_encode_dev() value.
std::string FormatDevT(uint32_t encoded);

// One JSON object, no newline; keys in the order of the Event fields.
std::string EventToJson(const Event& event);

}  // namespace cvol

#endif  // CVOL_EVENT_H_
