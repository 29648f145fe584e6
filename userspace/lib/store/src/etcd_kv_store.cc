#include "cvol/store/etcd_kv_store.h"

#include <curl/curl.h>

#include <cerrno>

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cvol/status_macros.h"
#include "nlohmann/json.hpp"

namespace cvol::store {
namespace {

using Json = nlohmann::json;

// curl_global_init is not thread-safe and must run once per process; the
// matching cleanup runs at exit (so LeakSanitizer sees TLS state freed). A
// function-local static is destroyed after every store constructed after it.
class CurlGlobal {
 public:
  static bool Init() {
    static CurlGlobal global;
    return global.ok_;
  }
  ~CurlGlobal() {
    if (ok_) curl_global_cleanup();
  }

 private:
  CurlGlobal() : ok_(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) {}
  bool ok_;
};

size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string B64(absl::string_view bytes) { return absl::Base64Escape(bytes); }

// etcd's int64 fields: JSON strings through the gateway, absent when zero
// (proto3). Numbers are accepted too.
absl::Status ReadInt64(const Json& obj, const char* name, int64_t* out) {
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
  return absl::InternalError(absl::StrCat("etcd response: field ", name, " is not an int64: ",
                                          it->dump()));
}

absl::Status ReadBytes(const Json& obj, const char* name, std::string* out) {
  out->clear();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string() || !absl::Base64Unescape(it->get_ref<const std::string&>(), out)) {
    return absl::InternalError(absl::StrCat("etcd response: field ", name, " is not base64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseObject(const std::string& body) {
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InternalError(
        absl::StrCat("etcd response is not a JSON object: ", body.substr(0, 200)));
  }
  return json;
}

absl::StatusCode CodeFromGrpc(int64_t code) {
  // absl::StatusCode uses gRPC's numbering.
  if (code <= 0 || code > 16) return absl::StatusCode::kUnknown;
  return static_cast<absl::StatusCode>(code);
}

// An error object from the gateway: {"error": "...", "code": N, "message":
// "..."} for unary calls, {"error": {"grpc_code": N, "message": ...}} inside
// a streaming call's 200 answer. OK if obj is neither.
absl::Status ErrorFromObject(const Json& obj) {
  const Json* err = &obj;
  auto e = obj.find("error");
  if (e != obj.end() && e->is_object()) err = &*e;
  int64_t code = 0;
  if (!ReadInt64(*err, "grpc_code", &code).ok() || code == 0) {
    if (!ReadInt64(*err, "code", &code).ok()) code = 0;
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

absl::StatusOr<KeyValue> ParseKeyValue(const Json& kv) {
  if (!kv.is_object()) return absl::InternalError("etcd response: kv is not an object");
  KeyValue out;
  absl::Status s = ReadBytes(kv, "key", &out.key);
  if (s.ok()) s = ReadBytes(kv, "value", &out.value);
  if (s.ok()) s = ReadInt64(kv, "create_revision", &out.create_revision);
  if (s.ok()) s = ReadInt64(kv, "mod_revision", &out.mod_revision);
  if (s.ok()) s = ReadInt64(kv, "version", &out.version);
  if (s.ok()) s = ReadInt64(kv, "lease", &out.lease);
  if (!s.ok()) return s;
  return out;
}

absl::Status ReadHeaderRevision(const Json& response, int64_t* revision) {
  auto header = response.find("header");
  if (header == response.end() || !header->is_object()) {
    return absl::InternalError("etcd response has no header");
  }
  return ReadInt64(*header, "revision", revision);
}

absl::StatusOr<RangeResult> ParseRange(const std::string& body) {
  ASSIGN_OR_RETURN(Json json, ParseObject(body));
  RangeResult result;
  if (absl::Status s = ReadHeaderRevision(json, &result.revision); !s.ok()) return s;
  auto kvs = json.find("kvs");
  if (kvs != json.end() && !kvs->is_null()) {
    if (!kvs->is_array()) return absl::InternalError("etcd response: kvs is not an array");
    for (const Json& kv : *kvs) {
      ASSIGN_OR_RETURN(KeyValue parsed, ParseKeyValue(kv));
      result.kvs.push_back(std::move(parsed));
    }
  }
  auto more = json.find("more");
  if (more != json.end() && more->is_boolean() && more->get<bool>()) {
    // Only possible with a limit, which we never set.
    return absl::InternalError("etcd returned a partial range");
  }
  return result;
}

const char* TargetName(Compare::Target target) {
  switch (target) {
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
  }
  return "VERSION";
}

const char* ResultName(Compare::Result result) {
  switch (result) {
    case Compare::Result::kEqual:
      return "EQUAL";
    case Compare::Result::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Result::kLess:
      return "LESS";
    case Compare::Result::kGreater:
      return "GREATER";
  }
  return "EQUAL";
}

Json CompareJson(const Compare& c) {
  Json j = {{"key", B64(c.key)}, {"target", TargetName(c.target)},
            {"result", ResultName(c.result)}};
  switch (c.target) {
    case Compare::Target::kVersion:
      j["version"] = absl::StrCat(c.number);
      break;
    case Compare::Target::kCreateRevision:
      j["create_revision"] = absl::StrCat(c.number);
      break;
    case Compare::Target::kModRevision:
      j["mod_revision"] = absl::StrCat(c.number);
      break;
    case Compare::Target::kValue:
      j["value"] = B64(c.value);
      break;
  }
  return j;
}

// The [key, range_end) of a prefix; the empty prefix is the whole keyspace
// ("\0" to "\0", since etcd refuses an empty key).
std::pair<std::string, std::string> PrefixRange(const std::string& prefix) {
  return {prefix.empty() ? std::string(1, '\0') : prefix, EtcdPrefixRangeEnd(prefix)};
}

Json OpJson(const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut: {
      Json put = {{"key", B64(op.key)}, {"value", B64(op.value)}};
      if (op.lease != 0) put["lease"] = absl::StrCat(op.lease);
      return {{"request_put", put}};
    }
    case Op::Kind::kDelete:
      return {{"request_delete_range", {{"key", B64(op.key)}}}};
    case Op::Kind::kDeletePrefix: {
      auto [key, end] = PrefixRange(op.key);
      return {{"request_delete_range", {{"key", B64(key)}, {"range_end", B64(end)}}}};
    }
  }
  return Json::object();
}

// Any nlohmann exception (there should be none: we parse without exceptions
// and check types) becomes an error instead of crossing the interface.
template <typename F>
auto NoThrow(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("etcd client: ", e.what()));
  }
}

// One POST on a handle: the CURLcode; *http when the answer came (CURLE_OK,
// or a transfer the write callback ended), *error (and *os_errno, if not
// null) otherwise.
int PerformPost(CURL* curl, curl_slist* headers, const std::string& url, const std::string& body,
                absl::Duration connect_timeout, absl::Duration timeout,
                curl_write_callback write, void* write_data, long* http, std::string* error,
                int* os_errno) {
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, write_data);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  // Timeouts without SIGALRM: the daemon is multi-threaded.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // etcd is on the cluster network: never go through an http_proxy from
  // the environment.
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // error_buffer goes out of scope
  *http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http);
  if (rc != CURLE_OK) {
    *error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    if (os_errno != nullptr) {
      long e = 0;
      curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &e);
      *os_errno = static_cast<int>(e);
    }
  }
  return rc;
}

bool NotSent(int rc) {
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
         rc == CURLE_COULDNT_RESOLVE_PROXY;
}

// A watch's stream as the gateway sends it: one JSON object per line,
// {"result": {...}} or {"error": {...}}. The first says created; the wait
// is decided by the first that carries events, a cancel or an error.
class WatchStream {
 public:
  static size_t OnData(char* data, size_t size, size_t count, void* self) {
    auto* stream = static_cast<WatchStream*>(self);
    stream->buffer_.append(data, size * count);
    size_t start = 0;
    for (size_t nl; !stream->decided_ && (nl = stream->buffer_.find('\n', start)) !=
                                             std::string::npos;
         start = nl + 1) {
      stream->Consume(absl::string_view(stream->buffer_).substr(start, nl - start));
    }
    stream->buffer_.erase(0, start);
    // Returning less than given ends the transfer (CURLE_WRITE_ERROR):
    // dropping the stream cancels the watch on etcd's side.
    return stream->decided_ ? 0 : size * count;
  }

  // The last message may come without its newline (the stream ended).
  void Finish() {
    if (!decided_ && !buffer_.empty()) Consume(buffer_);
    buffer_.clear();
  }

  bool created() const { return created_; }
  bool decided() const { return decided_; }
  absl::StatusOr<WatchResult> outcome() const {
    if (!error_.ok()) return error_;
    return result_;
  }

 private:
  void Consume(absl::string_view line) {
    // Called from libcurl's C frames: nothing may throw out of here.
    try {
      if (absl::StripAsciiWhitespace(line).empty()) return;
      Decide(Json::parse(line, nullptr, /*allow_exceptions=*/false));
    } catch (const std::exception& e) {
      Fail(absl::InternalError(absl::StrCat("etcd watch: ", e.what())));
    }
  }

  void Fail(absl::Status s) {
    decided_ = true;
    error_ = std::move(s);
  }

  void Decide(const Json& message) {
    if (message.is_discarded() || !message.is_object()) {
      return Fail(absl::InternalError("etcd watch: a message is not a JSON object"));
    }
    if (message.contains("error")) {
      absl::Status s = ErrorFromObject(message);
      return Fail(s.ok() ? absl::UnknownError("etcd watch: an error without a code") : s);
    }
    auto result = message.find("result");
    if (result == message.end() || !result->is_object()) {
      return Fail(absl::InternalError("etcd watch: a message without a result"));
    }
    auto flag = [&](const char* name) {
      auto it = result->find(name);
      return it != result->end() && it->is_boolean() && it->get<bool>();
    };
    if (flag("created")) created_ = true;
    if (flag("canceled")) {
      int64_t compacted = 0;
      if (absl::Status s = ReadInt64(*result, "compact_revision", &compacted); !s.ok()) {
        return Fail(s);
      }
      if (compacted > 0) {
        decided_ = true;
        result_.outcome = WatchResult::Outcome::kCompacted;
        result_.revision = compacted;
        return;
      }
      auto reason = result->find("cancel_reason");
      return Fail(absl::UnavailableError(absl::StrCat(
          "etcd canceled the watch: ",
          reason != result->end() && reason->is_string() ? reason->get<std::string>()
                                                        : "no reason given")));
    }
    auto events = result->find("events");
    if (events == result->end() || !events->is_array() || events->empty()) return;
    for (const Json& event : *events) {
      auto kv = event.is_object() ? event.find("kv") : event.end();
      if (!event.is_object() || kv == event.end()) {
        return Fail(absl::InternalError("etcd watch: an event without a kv"));
      }
      absl::StatusOr<KeyValue> parsed = ParseKeyValue(*kv);
      if (!parsed.ok()) return Fail(parsed.status());
      auto type = event.find("type");  // absent: PUT (proto3 leaves out zero)
      const bool deleted = type != event.end() && type->is_string() &&
                           type->get_ref<const std::string&>() == "DELETE";
      result_.events.push_back(WatchEvent{
          deleted ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut, std::move(parsed->key),
          parsed->mod_revision, deleted ? 0 : parsed->version});
    }
    decided_ = true;
    result_.outcome = WatchResult::Outcome::kChanged;
    result_.revision = result_.events.back().revision;
  }

  std::string buffer_;
  bool created_ = false;
  bool decided_ = false;
  absl::Status error_;
  WatchResult result_;
};

absl::StatusOr<std::vector<std::string>> ParseEndpoints(absl::string_view endpoints) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(endpoints, ',', absl::SkipWhitespace())) {
    std::string url(absl::StripAsciiWhitespace(part));
    while (absl::EndsWith(url, "/")) url.pop_back();
    if (!absl::StartsWith(url, "http://") || url.size() == 7) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint \"", url, "\": expected a client URL like http://127.0.0.1:2379"));
    }
    out.push_back(std::move(url));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "no etcd endpoint given: expected comma-separated client URLs like "
        "http://127.0.0.1:2379");
  }
  return out;
}

}  // namespace

std::string EtcdPrefixRangeEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

absl::StatusOr<std::unique_ptr<EtcdKvStore>> EtcdKvStore::Connect(absl::string_view endpoints,
                                                                  const Options& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> urls, ParseEndpoints(endpoints));
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("etcd timeout must be positive");
  }
  if (!CurlGlobal::Init()) return absl::InternalError("curl_global_init failed");
  std::unique_ptr<EtcdKvStore> store(new EtcdKvStore(std::move(urls), options));
  bool handles;
  {
    absl::MutexLock watch_lock(&store->watch_mu_);
    absl::MutexLock lock(&store->mu_);
    handles = store->curl_ != nullptr && store->watch_curl_ != nullptr &&
              store->headers_ != nullptr;
  }
  if (!handles) {
    return absl::ResourceExhaustedError("cannot create a curl handle");
  }
  if (options.require_reachable) {
    // A serializable read answers even without quorum: the point here is
    // to find an etcd, not to require a writable cluster.
    Json probe = {{"key", B64(std::string(1, '\0'))}, {"serializable", true},
                  {"count_only", true}};
    RETURN_IF_ERROR(
        store->Post("/v3/kv/range", probe.dump(), Retry::kAnyTransportError).status());
  }
  return store;
}

EtcdKvStore::EtcdKvStore(std::vector<std::string> endpoints, const Options& options)
    : endpoints_(std::move(endpoints)),
      options_(options),
      headers_(curl_slist_append(nullptr, "Content-Type: application/json")) {
  curl_ = curl_easy_init();
  watch_curl_ = curl_easy_init();
}

EtcdKvStore::~EtcdKvStore() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (watch_curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(watch_curl_));
  if (headers_ != nullptr) curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

std::string EtcdKvStore::endpoint() const {
  absl::MutexLock lock(&mu_);
  return endpoints_[current_];
}

int EtcdKvStore::PerformLocked(size_t index, absl::string_view path, const std::string& body,
                               absl::Duration timeout, std::string* response, long* http,
                               std::string* error, int* os_errno) {
  return PerformPost(static_cast<CURL*>(curl_), static_cast<curl_slist*>(headers_),
                     absl::StrCat(endpoints_[index], path), body, timeout, timeout,
                     &AppendToString, response, http, error, os_errno);
}

absl::StatusOr<std::string> EtcdKvStore::Post(absl::string_view path, const std::string& body,
                                              Retry retry) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> failures;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const size_t index = (current_ + i) % endpoints_.size();
    std::string response, why;
    long http = 0;
    const int rc =
        PerformLocked(index, path, body, options_.timeout, &response, &http, &why, nullptr);
    if (rc == CURLE_OK) {
      current_ = index;
      if (http == 200) return response;
      // The gateway's error body carries etcd's gRPC code and message.
      absl::StatusOr<Json> json = NoThrow([&] { return ParseObject(response); });
      if (json.ok()) {
        absl::Status s = NoThrow([&] { return ErrorFromObject(*json); });
        if (!s.ok()) return s;
      }
      const absl::StatusCode code = http == 503   ? absl::StatusCode::kUnavailable
                                    : http == 404 ? absl::StatusCode::kUnimplemented
                                                  : absl::StatusCode::kUnknown;
      return absl::Status(code, absl::StrCat("etcd at ", endpoints_[index], " answered HTTP ",
                                             http, " to ", path, ": ",
                                             response.substr(0, 200)));
    }
    failures.push_back(absl::StrCat(endpoints_[index], " (", why, ")"));
    if (retry == Retry::kOnlyIfNotSent && !NotSent(rc)) {
      return absl::UnavailableError(absl::StrCat(
          "etcd request ", path, " to ", endpoints_[index], " failed: ", why,
          "; its outcome is unknown (it may have been applied): re-read before retrying"));
    }
  }
  return absl::UnavailableError(absl::StrCat(
      "etcd unreachable at ", absl::StrJoin(failures, ", "),
      ": check that etcd is running there and that the endpoint list names its client URLs"));
}

absl::StatusOr<std::optional<KeyValue>> EtcdKvStore::Get(const std::string& key) {
  return NoThrow([&]() -> absl::StatusOr<std::optional<KeyValue>> {
    const Json request = {{"key", B64(key)}};
    ASSIGN_OR_RETURN(std::string body,
                     Post("/v3/kv/range", request.dump(), Retry::kAnyTransportError));
    ASSIGN_OR_RETURN(RangeResult range, ParseRange(body));
    if (range.kvs.empty()) return std::nullopt;
    return std::move(range.kvs.front());
  });
}

absl::StatusOr<RangeResult> EtcdKvStore::Range(const std::string& prefix) {
  return NoThrow([&]() -> absl::StatusOr<RangeResult> {
    auto [key, end] = PrefixRange(prefix);
    const Json request = {{"key", B64(key)}, {"range_end", B64(end)}};
    ASSIGN_OR_RETURN(std::string body,
                     Post("/v3/kv/range", request.dump(), Retry::kAnyTransportError));
    return ParseRange(body);
  });
}

absl::StatusOr<TxnResult> EtcdKvStore::Txn(absl::Span<const Compare> compares,
                                           absl::Span<const Op> success,
                                           absl::Span<const Op> failure) {
  return NoThrow([&]() -> absl::StatusOr<TxnResult> {
    Json request = {{"compare", Json::array()}, {"success", Json::array()},
                    {"failure", Json::array()}};
    for (const Compare& c : compares) request["compare"].push_back(CompareJson(c));
    for (const Op& op : success) request["success"].push_back(OpJson(op));
    for (const Op& op : failure) request["failure"].push_back(OpJson(op));
    ASSIGN_OR_RETURN(std::string body, Post("/v3/kv/txn", request.dump(), Retry::kOnlyIfNotSent));
    ASSIGN_OR_RETURN(Json json, ParseObject(body));
    TxnResult result;
    if (absl::Status s = ReadHeaderRevision(json, &result.revision); !s.ok()) return s;
    auto succeeded = json.find("succeeded");
    result.succeeded =
        succeeded != json.end() && succeeded->is_boolean() && succeeded->get<bool>();
    return result;
  });
}

absl::StatusOr<int64_t> EtcdKvStore::LeaseGrant(int64_t ttl_seconds) {
  return NoThrow([&]() -> absl::StatusOr<int64_t> {
    const Json request = {{"TTL", absl::StrCat(ttl_seconds)}};
    ASSIGN_OR_RETURN(std::string body,
                     Post("/v3/lease/grant", request.dump(), Retry::kOnlyIfNotSent));
    ASSIGN_OR_RETURN(Json json, ParseObject(body));
    if (absl::Status s = ErrorFromObject(json); !s.ok()) return s;  // LeaseGrantResponse.error
    int64_t id = 0;
    if (absl::Status s = ReadInt64(json, "ID", &id); !s.ok()) return s;
    if (id == 0) return absl::InternalError("etcd granted lease 0");
    return id;
  });
}

absl::Status EtcdKvStore::LeaseKeepAlive(int64_t lease) {
  return NoThrow([&]() -> absl::Status {
    const Json request = {{"ID", absl::StrCat(lease)}};
    ASSIGN_OR_RETURN(std::string body,
                     Post("/v3/lease/keepalive", request.dump(), Retry::kAnyTransportError));
    // A streaming call: one {"result": ...} or {"error": {...}} per message.
    ASSIGN_OR_RETURN(Json json, ParseObject(body));
    if (absl::Status s = ErrorFromObject(json); !s.ok()) return s;
    auto result = json.find("result");
    if (result == json.end() || !result->is_object()) {
      return absl::InternalError(absl::StrCat("etcd keepalive answer without a result: ",
                                              body.substr(0, 200)));
    }
    int64_t ttl = 0;
    if (absl::Status s = ReadInt64(*result, "TTL", &ttl); !s.ok()) return s;
    // etcd answers a keepalive of an unknown or expired lease with TTL 0.
    if (ttl <= 0) return absl::NotFoundError(absl::StrCat("lease ", lease, " not found or expired"));
    return absl::OkStatus();
  });
}

absl::Status EtcdKvStore::LeaseRevoke(int64_t lease) {
  return NoThrow([&]() -> absl::Status {
    const Json request = {{"ID", absl::StrCat(lease)}};
    absl::StatusOr<std::string> body =
        Post("/v3/lease/revoke", request.dump(), Retry::kOnlyIfNotSent);
    return body.status();
  });
}

absl::StatusOr<QuorumReport> EtcdKvStore::ProbeQuorum() {
  return NoThrow([&]() -> absl::StatusOr<QuorumReport> {
    // Status is answered locally; a member without a leader has no
    // "leader" field (or 0) and says "etcdserver: no leader" in errors.
    // A short timeout: this runs when requests are already failing.
    const absl::Duration timeout = std::min(options_.timeout, absl::Seconds(1));
    QuorumReport report;
    size_t listed = 0;
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      std::string response, why;
      long http = 0;
      int os_errno = 0;
      const int rc = PerformLocked(i, "/v3/maintenance/status", "{}", timeout, &response, &http,
                                   &why, &os_errno);
      if (rc == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED) ++report.refused;
      if (rc != CURLE_OK || http != 200) continue;
      absl::StatusOr<Json> status = ParseObject(response);
      if (!status.ok()) continue;
      // A member id is a uint64 (often above INT64_MAX), as a string.
      auto leader = status->find("leader");
      const bool has_leader = leader != status->end() && leader->is_string() &&
                              !leader->get_ref<const std::string&>().empty() &&
                              leader->get_ref<const std::string&>() != "0";
      ++report.answered;
      if (!has_leader) ++report.leaderless;
      // The cluster may have more members than this daemon was told of:
      // a majority of the endpoints alone would then prove nothing.
      response.clear();
      if (listed == 0 &&
          PerformLocked(i, "/v3/cluster/member/list", "{}", timeout, &response, &http, &why,
                        nullptr) == CURLE_OK &&
          http == 200) {
        absl::StatusOr<Json> list = ParseObject(response);
        if (list.ok() && list->contains("members") && (*list)["members"].is_array()) {
          listed = (*list)["members"].size();
        }
      }
    }
    report.members = std::max(endpoints_.size(), listed);
    return report;
  });
}

absl::StatusOr<WatchResult> EtcdKvStore::WaitForChange(const std::string& prefix,
                                                        int64_t after_revision,
                                                        absl::Duration timeout) {
  return NoThrow([&]() -> absl::StatusOr<WatchResult> {
    if (timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("a watch needs a positive timeout");
    }
    auto [key, end] = PrefixRange(prefix);
    const Json request = {{"create_request",
                           {{"key", B64(key)},
                            {"range_end", B64(end)},
                            {"start_revision", absl::StrCat(after_revision + 1)}}}};
    const std::string body = request.dump();
    const absl::Duration connect_timeout = std::min(options_.timeout, timeout);
    absl::MutexLock watch_lock(&watch_mu_);
    size_t first;
    {
      absl::MutexLock lock(&mu_);
      first = current_;
    }
    std::vector<std::string> failures;
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      const std::string& endpoint = endpoints_[(first + i) % endpoints_.size()];
      WatchStream stream;
      std::string why;
      long http = 0;
      const int rc = PerformPost(static_cast<CURL*>(watch_curl_),
                                 static_cast<curl_slist*>(headers_),
                                 absl::StrCat(endpoint, "/v3/watch"), body, connect_timeout,
                                 timeout, &WatchStream::OnData, &stream, &http, &why, nullptr);
      stream.Finish();
      if (stream.decided()) return stream.outcome();
      if (NotSent(rc)) {
        failures.push_back(absl::StrCat(endpoint, " (", why, ")"));
        continue;
      }
      if (rc == CURLE_OPERATION_TIMEDOUT && stream.created()) {
        WatchResult quiet;
        quiet.outcome = WatchResult::Outcome::kTimedOut;
        quiet.revision = after_revision;
        return quiet;
      }
      if (rc == CURLE_OK && http != 200) {
        return absl::UnavailableError(
            absl::StrCat("etcd at ", endpoint, " answered HTTP ", http, " to /v3/watch"));
      }
      // Reset, refused mid-way, or the stream ended (etcd stopping): the
      // caller reads everything again and waits anew.
      return absl::UnavailableError(absl::StrCat(
          "etcd watch at ", endpoint, " ended without an answer: ",
          rc == CURLE_OK ? "the stream closed" : why,
          stream.created() ? "" : " (the watch was never created)"));
    }
    return absl::UnavailableError(absl::StrCat(
        "etcd unreachable at ", absl::StrJoin(failures, ", "),
        ": check that etcd is running there and that the endpoint list names its client URLs"));
  });
}

absl::Status EtcdKvStore::Compact(int64_t revision) {
  return NoThrow([&]() -> absl::Status {
    const Json request = {{"revision", absl::StrCat(revision)}, {"physical", true}};
    return Post("/v3/kv/compaction", request.dump(), Retry::kOnlyIfNotSent).status();
  });
}

}  // namespace cvol::store
