#include "etcd_gateway_json.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"

namespace cvol::store::gateway {
namespace {

// Any exception (there should be none: we parse without exceptions and
// check types) becomes an error instead of crossing the interface.
template <typename F>
auto Guard(const char* prefix, F&& f) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(prefix, e.what()));
  }
}

constexpr char kClient[] = "etcd client: ";
constexpr char kWatch[] = "etcd watch: ";

// The parsers themselves, unguarded: the public functions guard them with
// the client's prefix, ParseWatchLine with the watch's.

absl::Status ReadInt64Impl(const Json& obj, const char* name, int64_t* out) {
  *out = 0;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
    return absl::OkStatus();
  }
  if (it->is_string() && absl::SimpleAtoi(it->get_ref<const std::string&>(), out)) {
    return absl::OkStatus();
  }
  // An array or object is named, not quoted: dump() recurses once per
  // level of nesting, and a body of a few hundred KB of "[" would overflow
  // the stack (found by tests/fuzz/etcd_gateway_fuzz.cc).
  return absl::InternalError(absl::StrCat("etcd response: field ", name, " is not an int64: ",
                                          it->is_structured() ? it->type_name() : it->dump()));
}

absl::Status ReadBytesImpl(const Json& obj, const char* name, std::string* out) {
  out->clear();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string() || !absl::Base64Unescape(it->get_ref<const std::string&>(), out)) {
    return absl::InternalError(absl::StrCat("etcd response: field ", name, " is not base64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseObjectImpl(const std::string& body) {
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InternalError(
        absl::StrCat("etcd response is not a JSON object: ", body.substr(0, 200)));
  }
  return json;
}

absl::Status ErrorFromObjectImpl(const Json& obj) {
  const Json* err = &obj;
  auto e = obj.find("error");
  if (e != obj.end() && e->is_object()) err = &*e;
  int64_t code = 0;
  if (!ReadInt64Impl(*err, "grpc_code", &code).ok() || code == 0) {
    if (!ReadInt64Impl(*err, "code", &code).ok()) code = 0;
  }
  std::string message;
  for (const char* field : {"message", "error"}) {
    auto m = err->find(field);
    if (m != err->end() && m->is_string() && !m->get_ref<const std::string&>().empty()) {
      message = m->get<std::string>();
      break;
    }
  }
  if (code == 0 && message.empty()) return absl::OkStatus();
  if (code == 0) return absl::UnknownError(absl::StrCat("etcd: ", message));
  return absl::Status(CodeFromGrpc(code), message);
}

absl::StatusOr<KeyValue> ParseKeyValueImpl(const Json& kv) {
  if (!kv.is_object()) return absl::InternalError("etcd response: kv is not an object");
  KeyValue out;
  absl::Status s = ReadBytesImpl(kv, "key", &out.key);
  if (s.ok()) s = ReadBytesImpl(kv, "value", &out.value);
  if (s.ok()) s = ReadInt64Impl(kv, "create_revision", &out.create_revision);
  if (s.ok()) s = ReadInt64Impl(kv, "mod_revision", &out.mod_revision);
  if (s.ok()) s = ReadInt64Impl(kv, "version", &out.version);
  if (s.ok()) s = ReadInt64Impl(kv, "lease", &out.lease);
  if (!s.ok()) return s;
  return out;
}

absl::Status ReadHeaderRevisionImpl(const Json& response, int64_t* revision) {
  auto header = response.find("header");
  if (header == response.end() || !header->is_object()) {
    return absl::InternalError("etcd response has no header");
  }
  return ReadInt64Impl(*header, "revision", revision);
}

// The decision of one watch message (a JSON value), into *line.
void DecideWatchMessage(const Json& message, WatchLine* line) {
  auto fail = [line](absl::Status s) { line->verdict = std::move(s); };
  if (message.is_discarded() || !message.is_object()) {
    return fail(absl::InternalError("etcd watch: a message is not a JSON object"));
  }
  if (message.contains("error")) {
    absl::Status s = ErrorFromObjectImpl(message);
    if (s.ok()) return fail(absl::UnknownError("etcd watch: an error without a code"));
    // A member shutting down ends its watches with CANCELLED ("the client
    // connection is closing") just before its port closes: to the caller
    // that is the member going away, as a reset connection is.
    if (s.code() == absl::StatusCode::kCancelled) {
      return fail(absl::UnavailableError(absl::StrCat("etcd watch: ", s.message())));
    }
    return fail(s);
  }
  auto result = message.find("result");
  if (result == message.end() || !result->is_object()) {
    return fail(absl::InternalError("etcd watch: a message without a result"));
  }
  auto flag = [&](const char* name) {
    auto it = result->find(name);
    return it != result->end() && it->is_boolean() && it->get<bool>();
  };
  if (flag("created")) line->created = true;
  if (flag("canceled")) {
    int64_t compacted = 0;
    if (absl::Status s = ReadInt64Impl(*result, "compact_revision", &compacted); !s.ok()) {
      return fail(s);
    }
    if (compacted > 0) {
      WatchResult compaction;
      compaction.outcome = WatchResult::Outcome::kCompacted;
      compaction.revision = compacted;
      line->verdict = std::move(compaction);
      return;
    }
    auto reason = result->find("cancel_reason");
    const std::string why = reason != result->end() && reason->is_string()
                                ? reason->get<std::string>()
                                : "no reason given";
    // Auth errors come as a cancel reason: "rpc error: code = ... desc = ...".
    absl::StatusCode code = absl::StatusCode::kUnavailable;
    if (absl::StrContains(why, "code = PermissionDenied")) {
      code = absl::StatusCode::kPermissionDenied;
    } else if (IsTokenRefusal(absl::UnknownError(why)) ||
               absl::StrContains(why, "code = Unauthenticated")) {
      code = absl::StatusCode::kUnauthenticated;
    }
    return fail(absl::Status(code, absl::StrCat("etcd canceled the watch: ", why)));
  }
  auto events = result->find("events");
  if (events == result->end() || !events->is_array() || events->empty()) return;
  WatchResult changed;
  for (const Json& event : *events) {
    auto kv = event.is_object() ? event.find("kv") : event.end();
    if (!event.is_object() || kv == event.end()) {
      return fail(absl::InternalError("etcd watch: an event without a kv"));
    }
    absl::StatusOr<KeyValue> parsed = ParseKeyValueImpl(*kv);
    if (!parsed.ok()) return fail(parsed.status());
    auto type = event.find("type");  // absent: PUT (proto3 leaves out zero)
    const bool deleted = type != event.end() && type->is_string() &&
                         type->get_ref<const std::string&>() == "DELETE";
    changed.events.push_back(WatchEvent{
        deleted ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut, std::move(parsed->key),
        parsed->mod_revision, deleted ? 0 : parsed->version});
  }
  changed.outcome = WatchResult::Outcome::kChanged;
  changed.revision = changed.events.back().revision;
  line->verdict = std::move(changed);
}

}  // namespace

absl::Status ReadInt64(const Json& obj, const char* name, int64_t* out) noexcept {
  return Guard(kClient, [&] { return ReadInt64Impl(obj, name, out); });
}

absl::Status ReadBytes(const Json& obj, const char* name, std::string* out) noexcept {
  return Guard(kClient, [&] { return ReadBytesImpl(obj, name, out); });
}

absl::StatusOr<Json> ParseObject(const std::string& body) noexcept {
  return Guard(kClient, [&] { return ParseObjectImpl(body); });
}

absl::StatusCode CodeFromGrpc(int64_t code) noexcept {
  // absl::StatusCode uses gRPC's numbering.
  if (code <= 0 || code > 16) return absl::StatusCode::kUnknown;
  return static_cast<absl::StatusCode>(code);
}

absl::Status ErrorFromObject(const Json& obj) noexcept {
  return Guard(kClient, [&] { return ErrorFromObjectImpl(obj); });
}

absl::Status ErrorFromReply(long http, const std::string& body, const std::string& endpoint,
                            absl::string_view path) noexcept {
  return Guard(kClient, [&]() -> absl::Status {
    if (http == 200 && !absl::StartsWith(body, "{\"error\"")) return absl::OkStatus();
    absl::StatusOr<Json> json = ParseObject(body);
    if (json.ok()) {
      absl::Status s = ErrorFromObject(*json);
      if (!s.ok() || http == 200) return s;
    }
    const absl::StatusCode code = http == 503   ? absl::StatusCode::kUnavailable
                                  : http == 404 ? absl::StatusCode::kUnimplemented
                                                : absl::StatusCode::kUnknown;
    return absl::Status(code, absl::StrCat("etcd at ", endpoint, " answered HTTP ", http, " to ",
                                           path, ": ", body.substr(0, 200)));
  });
}

absl::StatusOr<KeyValue> ParseKeyValue(const Json& kv) noexcept {
  return Guard(kClient, [&] { return ParseKeyValueImpl(kv); });
}

absl::Status ReadHeaderRevision(const Json& response, int64_t* revision) noexcept {
  return Guard(kClient, [&] { return ReadHeaderRevisionImpl(response, revision); });
}

absl::StatusOr<RangeResult> ParseRange(const std::string& body) noexcept {
  return Guard(kClient, [&]() -> absl::StatusOr<RangeResult> {
    ASSIGN_OR_RETURN(Json json, ParseObjectImpl(body));
    RangeResult result;
    if (absl::Status s = ReadHeaderRevisionImpl(json, &result.revision); !s.ok()) return s;
    auto kvs = json.find("kvs");
    if (kvs != json.end() && !kvs->is_null()) {
      if (!kvs->is_array()) return absl::InternalError("etcd response: kvs is not an array");
      for (const Json& kv : *kvs) {
        ASSIGN_OR_RETURN(KeyValue parsed, ParseKeyValueImpl(kv));
        result.kvs.push_back(std::move(parsed));
      }
    }
    auto more = json.find("more");
    if (more != json.end() && more->is_boolean() && more->get<bool>()) {
      // Only possible with a limit, which we never set.
      return absl::InternalError("etcd returned a partial range");
    }
    return result;
  });
}

absl::StatusOr<TxnResult> ParseTxnResponse(const std::string& body) noexcept {
  return Guard(kClient, [&]() -> absl::StatusOr<TxnResult> {
    ASSIGN_OR_RETURN(Json json, ParseObjectImpl(body));
    TxnResult result;
    if (absl::Status s = ReadHeaderRevisionImpl(json, &result.revision); !s.ok()) return s;
    auto succeeded = json.find("succeeded");
    result.succeeded =
        succeeded != json.end() && succeeded->is_boolean() && succeeded->get<bool>();
    return result;
  });
}

absl::StatusOr<int64_t> ParseLeaseGrant(const std::string& body) noexcept {
  return Guard(kClient, [&]() -> absl::StatusOr<int64_t> {
    ASSIGN_OR_RETURN(Json json, ParseObjectImpl(body));
    // LeaseGrantResponse.error
    if (absl::Status s = ErrorFromObjectImpl(json); !s.ok()) return s;
    int64_t id = 0;
    if (absl::Status s = ReadInt64Impl(json, "ID", &id); !s.ok()) return s;
    if (id == 0) return absl::InternalError("etcd granted lease 0");
    return id;
  });
}

absl::StatusOr<int64_t> ParseKeepAliveTtl(const std::string& body) noexcept {
  return Guard(kClient, [&]() -> absl::StatusOr<int64_t> {
    // A streaming call: one {"result": ...} or {"error": {...}} per message.
    ASSIGN_OR_RETURN(Json json, ParseObjectImpl(body));
    if (absl::Status s = ErrorFromObjectImpl(json); !s.ok()) return s;
    auto result = json.find("result");
    if (result == json.end() || !result->is_object()) {
      return absl::InternalError(absl::StrCat("etcd keepalive answer without a result: ",
                                              body.substr(0, 200)));
    }
    int64_t ttl = 0;
    if (absl::Status s = ReadInt64Impl(*result, "TTL", &ttl); !s.ok()) return s;
    return ttl;
  });
}

absl::StatusOr<std::string> ParseAuthToken(const std::string& body) noexcept {
  // Never the parse error's message: it quotes the body, and so the token.
  const absl::Status none = absl::InternalError("etcd login answer without a token");
  absl::StatusOr<std::string> token = Guard(kClient, [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<Json> json = ParseObjectImpl(body);
    if (!json.ok()) return none;
    auto it = json->find("token");
    if (it == json->end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      return none;
    }
    return it->get<std::string>();
  });
  if (!token.ok()) return none;
  return token;
}

absl::StatusOr<bool> ParseStatusHasLeader(const std::string& body) noexcept {
  return Guard(kClient, [&]() -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(Json status, ParseObjectImpl(body));
    // A member id is a uint64 (often above INT64_MAX), as a string.
    auto leader = status.find("leader");
    return leader != status.end() && leader->is_string() &&
           !leader->get_ref<const std::string&>().empty() &&
           leader->get_ref<const std::string&>() != "0";
  });
}

absl::StatusOr<size_t> ParseMemberCount(const std::string& body) noexcept {
  return Guard(kClient, [&]() -> absl::StatusOr<size_t> {
    ASSIGN_OR_RETURN(Json list, ParseObjectImpl(body));
    auto members = list.find("members");
    if (members == list.end() || !members->is_array()) return size_t{0};
    return members->size();
  });
}

bool IsTokenRefusal(const absl::Status& s) noexcept {
  return s.code() == absl::StatusCode::kUnauthenticated ||
         absl::StrContains(s.message(), "invalid auth token") ||
         absl::StrContains(s.message(), "user name is empty") ||
         absl::StrContains(s.message(), "revision of auth store is old");
}

WatchLine ParseWatchLine(absl::string_view line) noexcept {
  WatchLine out;
  try {
    if (absl::StripAsciiWhitespace(line).empty()) return out;
    DecideWatchMessage(Json::parse(line, nullptr, /*allow_exceptions=*/false), &out);
  } catch (const std::exception& e) {
    out.verdict = absl::InternalError(absl::StrCat(kWatch, e.what()));
  }
  return out;
}

bool WatchStreamParser::Feed(absl::string_view data) noexcept {
  if (decided()) return true;
  // etcd's watch lines are a few KiB (one event batch); a stream that sends
  // megabytes without a newline is not etcd, and must not grow this
  // buffer until the wait's timeout.
  if (buffer_.size() + data.size() > kMaxWatchLineBytes) {
    verdict_ = absl::DataLossError(absl::StrCat(kWatch, "a line longer than ",
                                                kMaxWatchLineBytes, " bytes"));
    return true;
  }
  try {
    buffer_.append(data.data(), data.size());
  } catch (const std::exception& e) {
    verdict_ = absl::InternalError(absl::StrCat(kWatch, e.what()));
    return true;
  }
  size_t start = 0;
  for (size_t nl; !decided() && (nl = buffer_.find('\n', std::max(start, scanned_))) !=
                                    std::string::npos;
       start = nl + 1) {
    Consume(absl::string_view(buffer_).substr(start, nl - start));
  }
  buffer_.erase(0, start);
  // What is left has no newline (or is ignored, once decided).
  scanned_ = buffer_.size();
  return decided();
}

void WatchStreamParser::Finish() noexcept {
  if (!decided() && !buffer_.empty()) Consume(buffer_);
  buffer_.clear();
  scanned_ = 0;
}

absl::StatusOr<WatchResult> WatchStreamParser::outcome() const {
  if (verdict_.has_value()) return *verdict_;
  return WatchResult();
}

void WatchStreamParser::Consume(absl::string_view line) noexcept {
  WatchLine parsed = ParseWatchLine(line);
  if (parsed.created) created_ = true;
  if (parsed.verdict.has_value()) verdict_ = std::move(parsed.verdict);
}

}  // namespace cvol::store::gateway
