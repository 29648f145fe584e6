// EtcdKvStore: KvStore over etcd's v3 JSON gateway (etcd 3.4: POST
// /v3/kv/range, /v3/kv/txn, /v3/lease/{grant,keepalive,revoke}; keys and
// values base64, int64 fields as JSON strings), using libcurl.
//
// Errors: a transport failure (refused, timed out, reset) is kUnavailable
// and names the endpoint; an error answered by etcd keeps etcd's gRPC code
// (absl::StatusCode has the same numbering) and message. Nothing throws.
//
// Endpoints are tried in order and the one that answered is remembered.
// Reads and keepalives move on to the next endpoint after any transport
// failure; writes only when the request cannot have reached etcd (the
// connection was never made), because a write that timed out may have been
// applied, and repeating a guarded transaction would then report a failed
// compare for a change that in fact succeeded. Such a write returns
// kUnavailable saying its outcome is unknown; the caller re-reads.
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

struct EtcdKvStoreOptions {
  // Bound on one request, connection included, per endpoint tried.
  absl::Duration timeout = absl::Seconds(2);
  // Connect() fails unless an endpoint answers. Clear it to start while
  // etcd is down (calls return kUnavailable until it is back): the data
  // path must not depend on etcd.
  bool require_reachable = true;
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
  // "http://10.0.0.1:2379,http://10.0.0.2:2379" (http only).
  static absl::StatusOr<std::unique_ptr<EtcdKvStore>> Connect(absl::string_view endpoints,
                                                              const Options& options);
  static absl::StatusOr<std::unique_ptr<EtcdKvStore>> Connect(absl::string_view endpoints) {
    return Connect(endpoints, Options());
  }

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

 private:
  enum class Retry { kAnyTransportError, kOnlyIfNotSent };

  EtcdKvStore(std::vector<std::string> endpoints, const Options& options);

  // POSTs a JSON body to path on the current endpoint, failing over as
  // described above. Returns the 200 response's body, or etcd's error.
  absl::StatusOr<std::string> Post(absl::string_view path, const std::string& body, Retry retry);
  // One POST to one endpoint: the CURLcode; *http and *response when it is
  // CURLE_OK, *error (and *os_errno, if not null) otherwise.
  int PerformLocked(size_t index, absl::string_view path, const std::string& body,
                    absl::Duration timeout, std::string* response, long* http,
                    std::string* error, int* os_errno) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> endpoints_;
  const Options options_;
  void* const headers_;  // curl_slist*, kept out of this header; read-only
  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  void* curl_ ABSL_GUARDED_BY(mu_) = nullptr;  // CURL*
  // Taken before mu_, never while holding it.
  absl::Mutex watch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  void* watch_curl_ ABSL_GUARDED_BY(watch_mu_) = nullptr;  // CURL*
};

}  // namespace cvol::store

#endif  // CVOL_STORE_ETCD_KV_STORE_H_
