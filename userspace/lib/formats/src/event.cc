#include "cvol/event.h"

#include "absl/strings/str_cat.h"
#include "cvol/json_line.h"

namespace cvol {
namespace {

struct TypeName {
  EventType type;
  const char* name;
};

constexpr TypeName kTypeNames[] = {
    {EventType::kFreezeDrained, "freeze_drained"},
    {EventType::kFreezeTimeout, "freeze_timeout"},
    {EventType::kFreezeBroken, "freeze_broken"},
    {EventType::kLeaseExpired, "lease_expired"},
    {EventType::kFenced, "fenced"},
    {EventType::kUnfenced, "unfenced"},
    {EventType::kDevError, "dev_error"},
    {EventType::kMapChanged, "map_changed"},
    {EventType::kMigrateReady, "migrate_ready"},
    {EventType::kMigrateDone, "migrate_done"},
    {EventType::kMigrateFailed, "migrate_failed"},
    {EventType::kDstWriteError, "dst_write_error"},
    {EventType::kHeldFailed, "held_failed"},
    {EventType::kMigrateStarted, "migrate_started"},
    {EventType::kMigrateAborted, "migrate_aborted"},
    {EventType::kFenceDrained, "fence_drained"},
};
static_assert(std::size(kTypeNames) == __CVOL_EV_MAX - 1,
              "every enum cvol_event_type value needs a name");

}  // namespace

std::string EventTypeName(EventType type) {
  for (const TypeName& t : kTypeNames) {
    if (t.type == type) return t.name;
  }
  return absl::StrCat("unknown_", static_cast<uint32_t>(type));
}

std::optional<EventType> EventTypeFromName(const std::string& name) {
  for (const TypeName& t : kTypeNames) {
    if (name == t.name) return t.type;
  }
  return std::nullopt;
}

std::string FormatDevT(uint32_t encoded) {
  // The inverse of the kernel's new_encode_dev(): 12 bits of major, 20 of
  // minor, with the minor's low byte first.
  const uint32_t major = (encoded & 0xfff00) >> 8;
  const uint32_t minor = (encoded & 0xff) | ((encoded >> 12) & 0xfff00);
  return absl::StrCat(major, ":", minor);
}

std::string EventToJson(const Event& e) {
  JsonObjectWriter w;
  w.Add("seq", e.seq).Add("type", EventTypeName(e.type)).Add("uuid", e.uuid);
  if (e.dm_name) w.Add("dm_name", *e.dm_name);
  if (e.dm_dev) w.Add("dm_dev", FormatDevT(*e.dm_dev));
  if (e.time_ns) w.Add("time_ns", *e.time_ns);
  if (e.id) w.Add("id", *e.id);
  if (e.vext) w.Add("vext", *e.vext);
  if (e.count) w.Add("count", *e.count);
  if (e.dev_slot) w.Add("dev_slot", uint64_t{*e.dev_slot});
  if (e.value) w.Add("value", *e.value);
  if (e.lost) w.Add("lost", *e.lost);
  return w.Finish();
}

}  // namespace cvol
