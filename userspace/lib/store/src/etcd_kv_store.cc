#include "cvol/store/etcd_kv_store.h"

#include <curl/curl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cvol/secret_file.h"
#include "cvol/status_macros.h"
#include "etcd_gateway_json.h"
#include "etcd_token_cache.h"
#include "nlohmann/json.hpp"

namespace cvol::store {
namespace {

using Json = nlohmann::json;
using gateway::IsTokenRefusal;

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

// The headers of one request: JSON, and the auth token if there is one.
class Headers {
 public:
  explicit Headers(const std::string& token) {
    list_ = curl_slist_append(nullptr, "Content-Type: application/json");
    if (list_ != nullptr && !token.empty()) {
      // etcd takes the raw token, without "Bearer".
      std::string line = absl::StrCat("Authorization: ", token);
      if (curl_slist* longer = curl_slist_append(list_, line.c_str()); longer != nullptr) {
        list_ = longer;
      }
      explicit_bzero(line.data(), line.size());
    }
  }
  ~Headers() { curl_slist_free_all(list_); }
  Headers(const Headers&) = delete;
  Headers& operator=(const Headers&) = delete;
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// TLS for every request of a store (set on each, so that no handle can
// miss it): verify etcd's certificate and name against the CA; present
// ours. libcurl reads the files when it makes a new connection.
void SetTls(CURL* curl, const EtcdKvStoreOptions& options) {
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, options.ca_file.empty() ? "http" : "https");
  if (options.ca_file.empty()) return;
  curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);  // only our CA, not the system's
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
#if LIBCURL_VERSION_NUM >= 0x075700
  // Re-read the CA file for each new connection (libcurl would otherwise
  // keep it for 24 h): a rotated CA takes effect like the certificates.
  curl_easy_setopt(curl, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
  if (!options.cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options.cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options.key_file.c_str());
  }
}

// One POST on a handle: the CURLcode; *http when the answer came (CURLE_OK,
// or a transfer the write callback ended), *error (and *os_errno, if not
// null) otherwise.
int PerformPost(CURL* curl, const EtcdKvStoreOptions& options, const std::string& token,
                const std::string& url, const std::string& body, absl::Duration connect_timeout,
                absl::Duration timeout, curl_write_callback write, void* write_data, long* http,
                std::string* error, int* os_errno) {
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const Headers headers(token);
  SetTls(curl, options);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
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
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);   // so do the headers
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

// What a transport failure may mean, for its message.
std::string TransportHint(int rc, const std::string& endpoint) {
  if (rc == CURLE_GOT_NOTHING && absl::StartsWith(endpoint, "http://")) {
    return " (an https endpoint? etcd with TLS closes plain-http connections without an "
           "answer)";
  }
  // A TLS server that refuses our certificate says so with an alert the
  // client may only see as a reset, a send or a receive failure.
  if (absl::StartsWith(endpoint, "https://") && !NotSent(rc) && rc != CURLE_OPERATION_TIMEDOUT) {
    return " (TLS: check the CA, certificate and key files against etcd's, and that etcd's "
           "certificate names this endpoint's host)";
  }
  return "";
}

// libcurl's write callback for a watch: the stream goes to a
// gateway::WatchStreamParser (the data argument). Returning less than
// given ends the transfer (CURLE_WRITE_ERROR) once the wait is decided:
// dropping the stream cancels the watch on etcd's side.
size_t OnWatchData(char* data, size_t size, size_t count, void* parser) {
  const bool decided = static_cast<gateway::WatchStreamParser*>(parser)->Feed(
      absl::string_view(data, size * count));
  return decided ? 0 : size * count;
}

absl::StatusOr<std::vector<std::string>> ParseEndpoints(absl::string_view endpoints) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(endpoints, ',', absl::SkipWhitespace())) {
    std::string url(absl::StripAsciiWhitespace(part));
    while (absl::EndsWith(url, "/")) url.pop_back();
    const bool http = absl::StartsWith(url, "http://") && url.size() > 7;
    const bool https = absl::StartsWith(url, "https://") && url.size() > 8;
    if (!http && !https) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint \"", url, "\": expected a client URL like https://127.0.0.1:2379"));
    }
    out.push_back(std::move(url));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "no etcd endpoint given: expected comma-separated client URLs like "
        "https://127.0.0.1:2379");
  }
  return out;
}

// The rules of the header's "Security" paragraph, and the files readable.
absl::Status CheckSecurityOptions(const std::vector<std::string>& urls,
                                  const EtcdKvStoreOptions& o) {
  const size_t https =
      static_cast<size_t>(std::count_if(urls.begin(), urls.end(), [](const std::string& u) {
        return absl::StartsWith(u, "https://");
      }));
  if (https != 0 && https != urls.size()) {
    return absl::InvalidArgumentError(
        "etcd endpoints mix http:// and https://: give every member's https:// client URL");
  }
  if (https == 0) {
    if (!o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty()) {
      return absl::InvalidArgumentError(
          "etcd TLS files are given but the endpoints are http://: use https:// URLs");
    }
    if (!o.allow_insecure) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint ", urls.front(),
          " is plain http: anyone on the network can read and rewrite the cluster's "
          "configuration. Use https:// endpoints with a CA, client certificate and key "
          "(docs/security.md), or allow plain http explicitly (cvold: --etcd-insecure)"));
    }
  } else if (o.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "https etcd endpoints need the CA file that signed etcd's certificates "
        "(cvold: --etcd-cacert)");
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError(
        "an etcd client certificate needs its key and a key its certificate "
        "(cvold: --etcd-cert and --etcd-key)");
  }
  if (o.user.empty() != o.password_file.empty()) {
    return absl::InvalidArgumentError(
        "etcd auth needs both a user and a password file (cvold: --etcd-user and "
        "--etcd-password-file)");
  }
  for (const std::string* file : {&o.ca_file, &o.cert_file}) {
    if (!file->empty() && access(file->c_str(), R_OK) != 0) {
      const int err = errno;
      return absl::Status(
          err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kPermissionDenied,
          absl::StrCat("etcd TLS file ", *file, ": ", strerror(err)));
    }
  }
  // The secrets: only their owner may read them (the content is dropped;
  // libcurl reads the key itself, and the password is read at each login).
  for (const std::string* file : {&o.key_file, &o.password_file}) {
    if (file->empty()) continue;
    absl::StatusOr<std::string> secret = ReadSecretFile(*file);
    if (!secret.ok()) {
      return absl::Status(secret.status().code(),
                          absl::StrCat(file == &o.key_file ? "etcd client key " : "etcd password ",
                                       secret.status().message()));
    }
    explicit_bzero(secret->data(), secret->size());
  }
  return absl::OkStatus();
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
  RETURN_IF_ERROR(CheckSecurityOptions(urls, options));
  if (!CurlGlobal::Init()) return absl::InternalError("curl_global_init failed");
  std::unique_ptr<EtcdKvStore> store(new EtcdKvStore(std::move(urls), options));
  bool handles;
  {
    absl::MutexLock watch_lock(&store->watch_mu_);
    absl::MutexLock lock(&store->mu_);
    handles = store->curl_ != nullptr && store->watch_curl_ != nullptr;
  }
  if (!handles) {
    return absl::ResourceExhaustedError("cannot create a curl handle");
  }
  if (options.require_reachable) {
    // A serializable read answers even without quorum: the point here is
    // to find an etcd, not to require a writable cluster.
    Json probe = {{"key", B64(std::string(1, '\0'))}, {"serializable", true},
                  {"count_only", true}};
    // (A user's role may not cover that key: a denial proves just as well
    // that etcd answers and took our login.)
    absl::Status s = store->Post("/v3/kv/range", probe.dump(), Retry::kAnyTransportError).status();
    if (!s.ok() && s.code() != absl::StatusCode::kPermissionDenied) return s;
  }
  return store;
}

EtcdKvStore::EtcdKvStore(std::vector<std::string> endpoints, const Options& options)
    : endpoints_(std::move(endpoints)),
      options_(options),
      tokens_(options.user.empty() ? nullptr
                                   : std::make_unique<EtcdTokenCache>(options.min_login_interval)) {
  curl_ = curl_easy_init();
  watch_curl_ = curl_easy_init();
}

EtcdKvStore::~EtcdKvStore() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (watch_curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(watch_curl_));
}

std::string EtcdKvStore::endpoint() const {
  absl::MutexLock lock(&mu_);
  return endpoints_[current_];
}

int64_t EtcdKvStore::logins() const { return tokens_ == nullptr ? 0 : tokens_->logins(); }

// One request's outcome on the wire.
struct EtcdKvStore::Reply {
  int rc = CURLE_OK;
  long http = 0;
  std::string body;  // when rc is CURLE_OK
  std::string why;   // when it is not
  int os_errno = 0;

  // etcd's error: the gateway's error body (a non-200 answer, or a
  // streaming call's error line), carrying etcd's gRPC code and message.
  // OK for a 200 answer and for a transport failure.
  absl::Status EtcdError(const std::string& endpoint, absl::string_view path) const {
    if (rc != CURLE_OK) return absl::OkStatus();
    return gateway::ErrorFromReply(http, body, endpoint, path);
  }
};

EtcdKvStore::Reply EtcdKvStore::PerformLocked(size_t index, absl::string_view path,
                                              const std::string& body, const std::string& token,
                                              absl::Duration timeout) {
  Reply r;
  r.rc =
      PerformPost(static_cast<CURL*>(curl_), options_, token, absl::StrCat(endpoints_[index], path),
                  body, timeout, timeout, &AppendToString, &r.body, &r.http, &r.why, &r.os_errno);
  return r;
}

absl::StatusOr<std::string> EtcdKvStore::Login(void* handle, size_t first) {
  absl::StatusOr<std::string> password = ReadSecretFile(options_.password_file);
  if (!password.ok()) {
    return absl::Status(password.status().code(),
                        absl::StrCat("etcd password ", password.status().message()));
  }
  std::string body = Json{{"name", options_.user}, {"password", *password}}.dump();
  explicit_bzero(password->data(), password->size());
  std::vector<std::string> failures;
  absl::StatusOr<std::string> outcome = absl::UnknownError("no endpoint");
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const std::string& endpoint = endpoints_[(first + i) % endpoints_.size()];
    Reply r;
    r.rc = PerformPost(static_cast<CURL*>(handle), options_, "",
                       absl::StrCat(endpoint, "/v3/auth/authenticate"), body, options_.timeout,
                       options_.timeout, &AppendToString, &r.body, &r.http, &r.why, &r.os_errno);
    if (r.rc != CURLE_OK) {
      failures.push_back(absl::StrCat(endpoint, " (", r.why, TransportHint(r.rc, endpoint), ")"));
      continue;
    }
    if (absl::Status s = r.EtcdError(endpoint, "/v3/auth/authenticate"); !s.ok()) {
      if (absl::StrContains(s.message(), "authentication failed")) {
        outcome = absl::UnauthenticatedError(
            absl::StrCat("etcd at ", endpoint, " refused the login of user \"", options_.user,
                         "\": wrong user name or password (the password is read from ",
                         options_.password_file, ")"));
      } else if (absl::StrContains(s.message(), "authentication is not enabled")) {
        outcome = absl::FailedPreconditionError(absl::StrCat(
            "etcd at ", endpoint, " has authentication disabled, but user \"", options_.user,
            "\" is configured: enable it (scripts/cvol-etcd-auth) or configure no user"));
      } else {
        outcome = absl::Status(s.code(), absl::StrCat("etcd login of user \"", options_.user,
                                                      "\" at ", endpoint, ": ", s.message()));
      }
      break;
    }
    // The answer holds the token: never put it in a message.
    absl::StatusOr<std::string> token = gateway::ParseAuthToken(r.body);
    if (!token.ok()) {
      outcome = absl::InternalError(
          absl::StrCat("etcd at ", endpoint, " answered a login without a token"));
    } else {
      outcome = std::move(token);
    }
    explicit_bzero(r.body.data(), r.body.size());
    break;
  }
  explicit_bzero(body.data(), body.size());
  if (!failures.empty() && failures.size() == endpoints_.size()) {
    return absl::UnavailableError(absl::StrCat("etcd unreachable for the login of user \"",
                                               options_.user, "\" at ",
                                               absl::StrJoin(failures, ", ")));
  }
  return outcome;
}

absl::StatusOr<std::string> EtcdKvStore::Token(void* handle, size_t first) {
  if (tokens_ == nullptr) return std::string();
  return tokens_->Get([&] { return Login(handle, first); });
}

absl::StatusOr<std::string> EtcdKvStore::Post(absl::string_view path, const std::string& body,
                                              Retry retry) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::string token, Token(curl_, current_));
  bool renewed = false;
  std::vector<std::string> failures;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const size_t index = (current_ + i) % endpoints_.size();
    Reply r = PerformLocked(index, path, body, token, options_.timeout);
    absl::Status error = r.EtcdError(endpoints_[index], path);
    // The token was refused (nothing was applied), or an empty reply that
    // may be a refusal, for a request that is safe to repeat: once more
    // with a new token, here.
    const bool refused =
        IsTokenRefusal(error) || (r.rc == CURLE_GOT_NOTHING && retry == Retry::kAnyTransportError);
    if (tokens_ != nullptr && !renewed && refused) {
      renewed = true;
      ASSIGN_OR_RETURN(token, tokens_->Renew(token, [&] { return Login(curl_, index); }));
      r = PerformLocked(index, path, body, token, options_.timeout);
      error = r.EtcdError(endpoints_[index], path);
    }
    if (r.rc == CURLE_OK) {
      current_ = index;
      if (error.code() == absl::StatusCode::kPermissionDenied && tokens_ != nullptr) {
        return absl::PermissionDeniedError(
            absl::StrCat(error.message(), " (etcd user \"", options_.user, "\", ", path, ")"));
      }
      if (!error.ok()) return error;
      return std::move(r.body);
    }
    failures.push_back(
        absl::StrCat(endpoints_[index], " (", r.why, TransportHint(r.rc, endpoints_[index]), ")"));
    if (retry == Retry::kOnlyIfNotSent && !NotSent(r.rc)) {
      // An empty reply may be a refused token: the next request logs in.
      if (tokens_ != nullptr && r.rc == CURLE_GOT_NOTHING) tokens_->Drop(token);
      return absl::UnavailableError(absl::StrCat(
          "etcd request ", path, " to ", endpoints_[index], " failed: ", r.why,
          TransportHint(r.rc, endpoints_[index]),
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
    ASSIGN_OR_RETURN(RangeResult range, gateway::ParseRange(body));
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
    return gateway::ParseRange(body);
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
    return gateway::ParseTxnResponse(body);
  });
}

absl::StatusOr<int64_t> EtcdKvStore::LeaseGrant(int64_t ttl_seconds) {
  return NoThrow([&]() -> absl::StatusOr<int64_t> {
    const Json request = {{"TTL", absl::StrCat(ttl_seconds)}};
    ASSIGN_OR_RETURN(std::string body,
                     Post("/v3/lease/grant", request.dump(), Retry::kOnlyIfNotSent));
    return gateway::ParseLeaseGrant(body);
  });
}

absl::Status EtcdKvStore::LeaseKeepAlive(int64_t lease) {
  return NoThrow([&]() -> absl::Status {
    const Json request = {{"ID", absl::StrCat(lease)}};
    ASSIGN_OR_RETURN(std::string body,
                     Post("/v3/lease/keepalive", request.dump(), Retry::kAnyTransportError));
    ASSIGN_OR_RETURN(int64_t ttl, gateway::ParseKeepAliveTtl(body));
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
    // Status and the member list need no token on etcd 3.4; send the one
    // we have, but never log in here: this runs when requests fail already.
    const std::string token = tokens_ == nullptr ? "" : tokens_->Current();
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      Reply r = PerformLocked(i, "/v3/maintenance/status", "{}", token, timeout);
      if (r.rc == CURLE_COULDNT_CONNECT && r.os_errno == ECONNREFUSED) ++report.refused;
      if (r.rc != CURLE_OK || r.http != 200) continue;
      absl::StatusOr<bool> has_leader = gateway::ParseStatusHasLeader(r.body);
      if (!has_leader.ok()) continue;
      ++report.answered;
      if (!*has_leader) ++report.leaderless;
      // The cluster may have more members than this daemon was told of:
      // a majority of the endpoints alone would then prove nothing.
      if (listed == 0) r = PerformLocked(i, "/v3/cluster/member/list", "{}", token, timeout);
      if (listed == 0 && r.rc == CURLE_OK && r.http == 200) {
        absl::StatusOr<size_t> count = gateway::ParseMemberCount(r.body);
        if (count.ok()) listed = *count;
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
    // A revision read from etcd (or from whatever answered as etcd) is
    // the caller's; +1 must not overflow.
    if (after_revision < 0 || after_revision == std::numeric_limits<int64_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot watch after revision ", after_revision));
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
    ASSIGN_OR_RETURN(std::string token, Token(watch_curl_, first));
    bool renewed = false;
    std::vector<std::string> failures;
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      const size_t index = (first + i) % endpoints_.size();
      const std::string& endpoint = endpoints_[index];
      gateway::WatchStreamParser stream;
      std::string why;
      long http = 0;
      int rc = CURLE_OK;
      // A watch is a read: after a refused token (or an empty reply, which
      // may be one) it is made again once, here, with a new token.
      for (bool again = true; again;) {
        stream = gateway::WatchStreamParser();
        rc = PerformPost(static_cast<CURL*>(watch_curl_), options_, token,
                         absl::StrCat(endpoint, "/v3/watch"), body, connect_timeout, timeout,
                         &OnWatchData, &stream, &http, &why, nullptr);
        stream.Finish();
        const bool refused = (stream.decided() && IsTokenRefusal(stream.outcome().status())) ||
                             (!stream.decided() && rc == CURLE_GOT_NOTHING);
        again = tokens_ != nullptr && !renewed && refused;
        if (again) {
          renewed = true;
          ASSIGN_OR_RETURN(token, tokens_->Renew(token, [&] { return Login(watch_curl_, index); }));
        }
      }
      if (stream.decided()) return stream.outcome();
      if (NotSent(rc)) {
        failures.push_back(absl::StrCat(endpoint, " (", why, TransportHint(rc, endpoint), ")"));
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
      return absl::UnavailableError(
          absl::StrCat("etcd watch at ", endpoint, " ended without an answer: ",
                       rc == CURLE_OK ? "the stream closed" : why + TransportHint(rc, endpoint),
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
