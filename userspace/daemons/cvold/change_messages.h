// The cluster change's peer requests and replies (docs/peer-protocol.md),
// as typed structs that both ends use. FromJson checks every field (type,
// range, no unknown ones), so a malformed or hostile message is an
// InvalidArgument Status, never an exception in a handler or controller
// thread, and a run of regions can never reach outside its extent.
#ifndef CVOL_CVOLD_CHANGE_MESSAGES_H_
#define CVOL_CVOLD_CHANGE_MESSAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cvol/map_types.h"
#include "cvol/migrate_messages.h"
#include "nlohmann/json.hpp"

namespace cvol::daemon {

// The kernel's bound on regions per extent is far below this; a reply
// claiming more is refused before anything is sized by it.
inline constexpr uint64_t kMaxRegionsPerExtent = 1 << 20;

// Which extent a request is about, and under which change.
struct ChangeExtent {
  std::string change;  // "<move key>#<started_ns>"; may be empty where unused
  std::string pool;
  std::string volume;
  uint64_t vext = 0;
};

// migrate_start: follow (every host but the copier) or copy.
struct MigrateStartRequest {
  ChangeExtent at;
  Location dst;
  bool follow = false;

  nlohmann::json ToJson() const;
  static absl::StatusOr<MigrateStartRequest> FromJson(const nlohmann::json& j);
};

// freeze: hold the extent (idempotent per change), drain, and report.
struct FreezeRequest {
  ChangeExtent at;
  uint64_t timeout_ms = 0;

  nlohmann::json ToJson() const;
  static absl::StatusOr<FreezeRequest> FromJson(const nlohmann::json& j);
};

struct FreezeReply {
  // The kernel's freeze id: the same id in a later reply means the freeze
  // held all along; a new one, that it was lost (thawed by its timeout or
  // a fence) and taken again.
  uint64_t freeze_id = 0;
  bool migrating = false;  // false: the host wrote without dual-writing
  // The migration dual-writes every write (a copier: every region copied;
  // it drops back to copying after a failed destination write).
  bool ready = false;
  uint64_t region_sectors = 0;
  uint64_t regions = 0;
  std::vector<DirtyRun> dirty;  // within [0, regions), ascending

  nlohmann::json ToJson() const;
  static absl::StatusOr<FreezeReply> FromJson(const nlohmann::json& j);
};

// recopy: the copier's kernel copies these regions of the extent from src
// to dst again (migrate_recopy) under the change's freezes.
struct RecopyRequest {
  ChangeExtent at;
  Location src;
  Location dst;
  uint64_t region_sectors = 0;
  std::vector<DirtyRun> runs;
  // The controller's freeze round: the first request of a round sends the
  // regions to the kernel, a later one of the same round only asks how the
  // copy goes; another round sends them again, since other hosts may have
  // written meanwhile. 0 (none) is refused by the handler.
  uint64_t round = 0;

  nlohmann::json ToJson() const;
  static absl::StatusOr<RecopyRequest> FromJson(const nlohmann::json& j);
};

// recopy's answer: done, or how far the job in the background has come.
struct RecopyReply {
  bool done = false;
  uint64_t copied_bytes = 0;
  uint64_t total_bytes = 0;

  nlohmann::json ToJson() const;
  static absl::StatusOr<RecopyReply> FromJson(const nlohmann::json& j);
};

// apply: switch the extent to dst. abort: end the migration. release:
// thaw the change's freeze (only `change` is used).
struct ApplyRequest {
  ChangeExtent at;
  Location dst;

  nlohmann::json ToJson() const;
  static absl::StatusOr<ApplyRequest> FromJson(const nlohmann::json& j);
};

struct AbortRequest {
  ChangeExtent at;

  nlohmann::json ToJson() const;
  static absl::StatusOr<AbortRequest> FromJson(const nlohmann::json& j);
};

struct ReleaseRequest {
  std::string change;

  nlohmann::json ToJson() const;
  static absl::StatusOr<ReleaseRequest> FromJson(const nlohmann::json& j);
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_CHANGE_MESSAGES_H_
