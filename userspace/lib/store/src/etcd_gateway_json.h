// What etcd's v3 JSON gateway answers, parsed (internal to cvolstore).
// Everything here reads text from the network, from an etcd or anything
// posing as one, so every function is pure (text or JSON in, a typed
// result or an error out) and lets no exception escape: nlohmann's, or any
// other std::exception, becomes an InternalError("etcd client: ...")
// ("etcd watch: ..." for the watch stream), as the callers always did.
// EtcdKvStore (etcd_kv_store.cc) does the I/O around them; the fuzz target
// tests/fuzz/etcd_gateway_fuzz.cc feeds them arbitrary bytes.
//
// The gateway's conventions (etcd 3.4): int64 fields are JSON strings and
// are left out when zero (proto3); bytes are base64; a unary call's error
// is {"error": "...", "code": N, "message": "..."} with a non-200 HTTP
// status; a streaming call answers 200 with one {"result": {...}} or
// {"error": {"grpc_code": N, "message": "..."}} per line.
#ifndef CVOL_STORE_SRC_ETCD_GATEWAY_JSON_H_
#define CVOL_STORE_SRC_ETCD_GATEWAY_JSON_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cvol/store/kv_store.h"
#include "nlohmann/json.hpp"

namespace cvol::store::gateway {

using Json = nlohmann::json;

// An int64 field of obj: a JSON string of digits or a JSON integer; 0
// when absent or null. Anything else is an error naming the field.
absl::Status ReadInt64(const Json& obj, const char* name, int64_t* out) noexcept;

// A bytes field of obj (base64); empty when absent or null.
absl::Status ReadBytes(const Json& obj, const char* name, std::string* out) noexcept;

// body as a JSON object; an error (quoting at most 200 bytes of it) if it
// is not one.
absl::StatusOr<Json> ParseObject(const std::string& body) noexcept;

// gRPC's code (absl::StatusCode has its numbering); kUnknown outside 1..16.
absl::StatusCode CodeFromGrpc(int64_t code) noexcept;

// An error object from the gateway: {"error": "...", "code": N, "message":
// "..."} for unary calls, {"error": {"grpc_code": N, "message": ...}}
// inside a streaming call's 200 answer. OK if obj is neither; never OK
// otherwise.
absl::Status ErrorFromObject(const Json& obj) noexcept;

// etcd's error in one answer to path at endpoint: the gateway's error body
// (any non-200 answer, or a 200 one that is an error line), carrying etcd's
// gRPC code and message, or else the HTTP status (503: kUnavailable, 404:
// kUnimplemented, others kUnknown) and the first 200 bytes of the body. OK
// for a 200 answer that is not an error.
absl::Status ErrorFromReply(long http, const std::string& body, const std::string& endpoint,
                            absl::string_view path) noexcept;

// One mvccpb.KeyValue.
absl::StatusOr<KeyValue> ParseKeyValue(const Json& kv) noexcept;

// response.header.revision; an error without a header object.
absl::Status ReadHeaderRevision(const Json& response, int64_t* revision) noexcept;

// The answer to /v3/kv/range: every kv in order, and the header's
// revision. A partial range ("more": true) is an error.
absl::StatusOr<RangeResult> ParseRange(const std::string& body) noexcept;

// The answer to /v3/kv/txn: the header's revision and "succeeded" (false
// when absent).
absl::StatusOr<TxnResult> ParseTxnResponse(const std::string& body) noexcept;

// The answer to /v3/lease/grant: the lease's ID, never 0 (an error field
// in the answer is its error).
absl::StatusOr<int64_t> ParseLeaseGrant(const std::string& body) noexcept;

// The answer to /v3/lease/keepalive (one message of a stream): the
// result's TTL, 0 (or less) for a lease etcd does not know or that
// expired; an error line is its error.
absl::StatusOr<int64_t> ParseKeepAliveTtl(const std::string& body) noexcept;

// The answer to /v3/auth/authenticate: the token, never empty. The answer
// holds a secret: the error never quotes the body.
absl::StatusOr<std::string> ParseAuthToken(const std::string& body) noexcept;

// The answer to /v3/maintenance/status: whether the member has a leader
// (a non-empty "leader" other than "0"; a member id is a uint64, as a
// string). An error if the body is not a JSON object.
absl::StatusOr<bool> ParseStatusHasLeader(const std::string& body) noexcept;

// The answer to /v3/cluster/member/list: how many members it lists (0
// without a "members" array). An error if the body is not a JSON object.
absl::StatusOr<size_t> ParseMemberCount(const std::string& body) noexcept;

// etcd refused the request for its token, or the lack of one (etcd checks
// this before applying anything).
bool IsTokenRefusal(const absl::Status& s) noexcept;

// What one line of a watch stream says.
struct WatchLine {
  bool created = false;  // the result says the watch was created
  // Unset: the wait goes on (created, progress, no events, a blank line).
  // Set: the wait is decided, by a change, a compaction or an error (a
  // cancel, an error line, a malformed line).
  std::optional<absl::StatusOr<WatchResult>> verdict;
};

// One line of /v3/watch's stream: {"result": {...}} or {"error": {...}}.
// A decided kChanged has at least one event and the last event's revision;
// a decided kCompacted a compact_revision above 0.
WatchLine ParseWatchLine(absl::string_view line) noexcept;

// A watch's stream as it arrives, in pieces: split into lines, each read
// by ParseWatchLine until one decides the wait. What is fed after that is
// ignored.
class WatchStreamParser {
 public:
  // A longer line (with what precedes it in the buffer) decides the wait
  // as kDataLoss.
  static constexpr size_t kMaxWatchLineBytes = 64 << 20;

  // Takes the next bytes of the stream; true once the wait is decided.
  bool Feed(absl::string_view data) noexcept;
  // The stream ended: its last line may lack its newline.
  void Finish() noexcept;

  bool created() const { return created_; }
  bool decided() const { return verdict_.has_value(); }
  // The decision (a default WatchResult before there is one).
  absl::StatusOr<WatchResult> outcome() const;

 private:
  void Consume(absl::string_view line) noexcept;

  std::string buffer_;
  size_t scanned_ = 0;  // buffer_[0, scanned_) holds no newline
  bool created_ = false;
  std::optional<absl::StatusOr<WatchResult>> verdict_;
};

}  // namespace cvol::store::gateway

#endif  // CVOL_STORE_SRC_ETCD_GATEWAY_JSON_H_
