// The peer protocol's messages (docs/peer-protocol.md): one request and one
// reply per frame, as JSON objects. What a request means (its type and body)
// is defined by cvold; this layer only carries it. Parsing is strict:
// a missing or mistyped field is kInvalidArgument naming the field, and a
// negative number is never read into an unsigned one. Unknown fields are
// ignored, so that a newer peer can add optional ones.
#ifndef CVOL_PEER_MESSAGE_H_
#define CVOL_PEER_MESSAGE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cvol::peer {

struct PeerRequest {
  std::string type;          // e.g. "freeze"; never empty
  uint64_t id = 0;           // set by PeerClient::Call; echoed in the reply
  uint64_t epoch = 0;        // the controller's fencing token
  std::string from;          // the sending host's name
  int64_t sent_unix_ms = 0;  // the sender's wall clock; bounds replays
  nlohmann::json body;       // any JSON value; null when there is none
};

struct PeerReply {
  uint64_t id = 0;       // the request's id
  absl::Status status;   // the handler's verdict: code and message (no payloads)
  nlohmann::json body;   // any JSON value; null when there is none
};

// JSON text. Strings that are not valid UTF-8 have the bad bytes replaced
// (U+FFFD) rather than failing the encode.
std::string EncodeRequest(const PeerRequest& request);
std::string EncodeReply(const PeerReply& reply);

absl::StatusOr<PeerRequest> ParseRequest(std::string_view text);
absl::StatusOr<PeerReply> ParseReply(std::string_view text);

// "OK", "NOT_FOUND", ... as absl::StatusCodeToString, and back. The wire
// carries names so that a log or a tcpdump reads without a table.
std::string StatusCodeName(absl::StatusCode code);
absl::StatusOr<absl::StatusCode> StatusCodeFromName(std::string_view name);

}  // namespace cvol::peer

#endif  // CVOL_PEER_MESSAGE_H_
