// The freeze messages of target 1.1: hold new I/O to a range of extents
// and drain what is in flight, wait for the drain, release.
//
//   freeze <vext> <count> [timeout_ms]   -> <id>
//   freeze_wait <id> <timeout_ms>        -> drained
//   thaw <id>                            -> (nothing)
//
// freeze_wait's ETIMEDOUT and ENOENT come back as a failed message, not as
// a response, so the response parser only accepts "drained".
#ifndef CVOL_FREEZE_MESSAGES_H_
#define CVOL_FREEZE_MESSAGES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

// Without a timeout the table's freeze_timeout_ms applies.
std::string FormatFreeze(uint64_t vext, uint64_t count,
                         std::optional<uint64_t> timeout_ms = std::nullopt);
std::string FormatFreezeWait(uint64_t id, uint64_t timeout_ms);
std::string FormatThaw(uint64_t id);

// The freeze id.
absl::StatusOr<uint64_t> ParseFreezeResponse(absl::string_view response);
// Ok if the response is "drained".
absl::Status ParseFreezeWaitResponse(absl::string_view response);

}  // namespace cvol

#endif  // CVOL_FREEZE_MESSAGES_H_
