// EtcdKvStore: KvStore over etcd's v3 JSON gateway (etcd 3.4: POST
// /v3/kv/range, /v3/kv/txn, /v3/lease/{grant,keepalive,revoke}; keys and
// values base64, int64 fields as JSON strings), using libcurl.
//
// Errors: a transport failure (refused, timed out, reset, a TLS handshake
// that fails) is kUnavailable and names the endpoint; an error answered by
// etcd keeps etcd's gRPC code (absl::StatusCode has the same numbering)
// and message. Nothing throws.
//
// Endpoints are tried in order and the one that answered is remembered.
// Reads and keepalives move on to the next endpoint after any transport
// failure; writes only when the request cannot have reached etcd (the
// connection was never made), because a write that timed out may have been
// applied, and repeating a guarded transaction would then report a failed
// compare for a change that in fact succeeded. Such a write returns
// kUnavailable saying its outcome is unknown; the caller re-reads.
//
// Security (docs/security.md). Endpoints are all https:// or all http://.
// https needs the CA that signed etcd's server certificates (ca_file);
// the peer's certificate and host name are always verified, and the client
// certificate and key are sent when given (etcd's --client-cert-auth).
// http is refused unless allow_insecure says the caller accepts traffic
// that anyone on the path can read and forge.
//
// With a user, requests carry an auth token ("Authorization: <token>"):
// etcd's gateway never takes the identity from the client certificate.
// The token comes from POST /v3/auth/authenticate (the password is read
// from password_file at each login, so a new password needs no restart),
// is cached, and shared by the store's connections (EtcdTokenCache: at
// most one login per min_login_interval). Tokens die: etcd's simple tokens
// expire after --auth-token-ttl (300 s) unused, vanish when the member
// restarts, and die with a password change. So a request that etcd refuses
// for its token is sent again ONCE with a new token, on the same endpoint:
//  - a refusal of the token (HTTP 401, gRPC Unauthenticated, "invalid auth
//    token", "user name is empty", "revision of auth store is old"):
//    resent, writes included. etcd checks the token before it proposes a
//    request to raft, and the revision of the auth store at apply time
//    before it applies any operation, so a refused request changed nothing;
//  - an empty reply (the connection closed before any answer), which some
//    3.4 releases are reported to give instead of a 401 on the gateway
//    (etcd #15256; Debian's 3.4.23 answers 401): resent only for reads,
//    keepalives and watches. For a write it is ambiguous (a member
//    that applied the write and crashed before answering looks the same,
//    and a restarted member has also lost every token), so the write
//    returns "outcome unknown" as above and the token is dropped: the
//    caller's re-read logs in first.
// A login refused for the user name or password is kUnauthenticated naming
// the user and the endpoint (never the password); it is not retried, and
// reported again without asking etcd within min_login_interval. Neither
// the password nor a token ever appears in a message.
//
// Certificates and keys are read by libcurl for each new connection
// (connections are kept alive between calls): replaced files take effect
// on the next connection, i.e. after an error or a restart.
//
// Requests are serialised on one curl handle per store (the daemon's etcd
// traffic is small; one handle keeps its connection alive between calls).
// WaitForChange has a handle (and a connection) of its own, so a blocked
// wait never delays the store's other requests; waits are serialised among
// themselves.
//
// A wait is one watch (POST /v3/watch, create_request from after_revision
// + 1) read until its first event, a cancel (compaction) or an error
// message, or until the timeout: the stream is then dropped, which ends
// the watch on etcd's side.
#ifndef CVOL_STORE_ETCD_KV_STORE_H_
#define CVOL_STORE_ETCD_KV_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cvol/store/kv_store.h"

namespace cvol::store {

class EtcdTokenCache;

struct EtcdKvStoreOptions {
  // Bound on one request, connection included, per endpoint tried.
  absl::Duration timeout = absl::Seconds(2);
  // Connect() fails unless an endpoint answers. Clear it to start while
  // etcd is down (calls return kUnavailable until it is back): the data
  // path must not depend on etcd.
  bool require_reachable = true;

  // TLS (https:// endpoints): the CA bundle etcd's server certificates
  // chain to (required for https), and this client's certificate and key
  // (PEM, unencrypted; both or neither). The key file must pass
  // ReadSecretFile's checks (cvol/secret_file.h: root's, mode 0600).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // http:// endpoints: refused unless this is set.
  bool allow_insecure = false;

  // etcd auth: the user, and the file holding its password (the same
  // checks as the key; one trailing newline is not part of the password).
  // Both or neither.
  std::string user;
  std::string password_file;
  // Logins are at least this far apart (etcd hashes the password with
  // bcrypt for each).
  absl::Duration min_login_interval = absl::Seconds(1);
};

// The exclusive end of the key range holding every key that starts with
// prefix, as etcd's clientv3.GetPrefixRangeEnd: drop trailing 0xff bytes and
// add one to the last remaining byte. "\0" (with key "\0") means no end: an
// empty or all-0xff prefix.
std::string EtcdPrefixRangeEnd(absl::string_view prefix);

class EtcdKvStore final : public KvStore {
 public:
  using Options = EtcdKvStoreOptions;

  // endpoints: comma-separated client URLs, e.g.
  // "https://10.0.0.1:2379,https://10.0.0.2:2379". Options that do not fit
  // together (above) are kInvalidArgument; a key or password file that
  // fails its checks keeps ReadSecretFile's code. With require_reachable,
  // a configured user must log in.
  static absl::StatusOr<std::unique_ptr<EtcdKvStore>> Connect(absl::string_view endpoints,
                                                              const Options& options);

  ~EtcdKvStore() override;
  EtcdKvStore(const EtcdKvStore&) = delete;
  EtcdKvStore& operator=(const EtcdKvStore&) = delete;

  absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key) override;
  absl::StatusOr<RangeResult> Range(const std::string& prefix) override;
  absl::StatusOr<TxnResult> Txn(absl::Span<const Compare> compares,
                                absl::Span<const Op> success,
                                absl::Span<const Op> failure = {}) override;
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds) override;
  absl::Status LeaseKeepAlive(int64_t lease) override;
  absl::Status LeaseRevoke(int64_t lease) override;
  // Asks each endpoint's member for its status (1 s timeout at most each).
  absl::StatusOr<QuorumReport> ProbeQuorum() override;
  // Tries the endpoints in order from the current one while a connection
  // cannot be made; any other failure is kUnavailable at once.
  absl::StatusOr<WatchResult> WaitForChange(const std::string& prefix, int64_t after_revision,
                                            absl::Duration timeout) override;

  // Compacts etcd's history before revision (physically), as an operator
  // or etcd's auto-compaction would; for tests of the callers' fallback.
  absl::Status Compact(int64_t revision);

  // The endpoint that answered last (the first one before any answer).
  std::string endpoint() const;
  // Logins tried so far (0 without a user).
  int64_t logins() const;

 private:
  enum class Retry { kAnyTransportError, kOnlyIfNotSent };
  struct Reply;

  EtcdKvStore(std::vector<std::string> endpoints, const Options& options);

  // POSTs a JSON body to path on the current endpoint, failing over and
  // renewing the token as described above. Returns the 200 response's
  // body, or etcd's error.
  absl::StatusOr<std::string> Post(absl::string_view path, const std::string& body, Retry retry);
  // One POST to one endpoint on the store's main handle.
  Reply PerformLocked(size_t index, absl::string_view path, const std::string& body,
                      const std::string& token, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // POST /v3/auth/authenticate on handle (a CURL*), trying the endpoints
  // from first on: the new token. The caller holds the handle's mutex.
  absl::StatusOr<std::string> Login(void* handle, size_t first);
  // The token to send ("" without a user), logging in on handle if needed.
  absl::StatusOr<std::string> Token(void* handle, size_t first);

  const std::vector<std::string> endpoints_;
  const Options options_;
  // Null without a user. Has its own mutex, taken after mu_ or watch_mu_.
  const std::unique_ptr<EtcdTokenCache> tokens_;
  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  void* curl_ ABSL_GUARDED_BY(mu_) = nullptr;  // CURL*
  // Taken before mu_, never while holding it.
  absl::Mutex watch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  void* watch_curl_ ABSL_GUARDED_BY(watch_mu_) = nullptr;  // CURL*
};

}  // namespace cvol::store

#endif  // CVOL_STORE_ETCD_KV_STORE_H_
