// The control protocol's wire format (docs/control-protocol.md): one JSON
// object per line, a request from clusterctl, then zero or more interim
// replies (progress, event) and one final reply (ok, error) from cvold.
//
// Parsing is strict so that a request the daemon does not fully understand
// changes nothing: every malformed line is INVALID_ARGUMENT, a line of
// another protocol version is UNIMPLEMENTED. Encoding never fails: strings
// that are not valid UTF-8 (say, an error message quoting a device path) are
// written with U+FFFD in place of the bad bytes.
#ifndef CVOL_CONTROL_PROTOCOL_H_
#define CVOL_CONTROL_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cvol::control {

inline constexpr int kProtocolVersion = 1;

// The longest line either side accepts, not counting its '\n'.
inline constexpr size_t kMaxLineBytes = size_t{1} << 20;

// The id of an error reply that answers no particular request: an error
// sent on accept (PERMISSION_DENIED), or about a line whose id could not be
// read. Clients number their requests from 1.
inline constexpr uint64_t kConnectionErrorId = 0;

struct Request {
  int version = kProtocolVersion;
  uint64_t id = 0;
  std::string command;                               // "volume.create"
  nlohmann::json args = nlohmann::json::object();    // always an object
};

struct Reply {
  enum Kind { kOk, kError, kProgress, kEvent };

  uint64_t id = 0;
  Kind kind = kOk;
  // The "result", "progress" or "event" member; null for kError.
  nlohmann::json body;
  // kError: the error (never OK). Otherwise OK.
  absl::Status error;

  // ok and error end a request; progress and event do not.
  bool is_final() const { return kind == kOk || kind == kError; }
};

// Parses one request line (a trailing "\n" is allowed). Unknown top-level
// members, a missing or mistyped member, JSON that is not an object, and
// lines longer than kMaxLineBytes are INVALID_ARGUMENT; a well-formed
// "version" other than 1 is UNIMPLEMENTED (checked before anything else, so
// a future version may change the rest of the shape).
absl::StatusOr<Request> ParseRequest(std::string_view line);

// The request's id if the line is a JSON object with an unsigned "id",
// whatever else is wrong with it: the daemon echoes it in its error reply.
std::optional<uint64_t> PeekRequestId(std::string_view line);

// Each returns one line ending in "\n". A null body (as `{}` written as a
// json argument is) is sent as the empty object.
std::string EncodeRequest(const Request& request);
std::string EncodeOk(uint64_t id, const nlohmann::json& result);
// An OK status is a caller bug; it is sent as UNKNOWN so the client still
// sees a final reply.
std::string EncodeError(uint64_t id, const absl::Status& error);
std::string EncodeProgress(uint64_t id, const nlohmann::json& progress);
std::string EncodeEvent(uint64_t id, const nlohmann::json& event);

// Parses one reply line, as strictly as ParseRequest. An error code this
// library does not know becomes UNKNOWN (the message is kept).
absl::StatusOr<Reply> ParseReply(std::string_view line);

// "INVALID_ARGUMENT" for absl::StatusCode::kInvalidArgument, and back.
std::string StatusCodeName(absl::StatusCode code);
std::optional<absl::StatusCode> StatusCodeFromName(std::string_view name);

// clusterctl's exit status for an outcome (the table in the protocol doc):
// 0 ok, 1 failed, 2 invalid argument, 3 not found, 4 conflict,
// 5 unavailable, 6 permission denied.
int ExitCodeFor(const absl::Status& status);

// Exit statuses clusterctl uses beyond ExitCodeFor's mapping.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitConflict = 4;
inline constexpr int kExitUnavailable = 5;
inline constexpr int kExitPermission = 6;

}  // namespace cvol::control

#endif  // CVOL_CONTROL_PROTOCOL_H_
