// The configuration database as cvold sees it: a revisioned key-value store
// with etcd v3 semantics (ranges, multi-key guarded transactions, leases).
// Implementations: EtcdKvStore (the real etcd through its v3 JSON gateway)
// and MemKvStore (an in-memory fake for unit tests). Both must pass the same
// contract tests (tests/unit/kv_store_contract.h).
#ifndef CVOL_STORE_KV_STORE_H_
#define CVOL_STORE_KV_STORE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace cvol::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;  // 1 on creation, +1 per put; 0 never stored
  int64_t lease = 0;

  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t revision = 0;       // the store's revision when read
};

// One condition of a transaction, as etcd's Compare. A key that does not
// exist has version, create_revision and mod_revision 0 and no value (a
// kValue compare on it is false).
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue };
  enum class Result { kEqual, kNotEqual, kLess, kGreater };

  std::string key;
  Target target = Target::kModRevision;
  Result result = Result::kEqual;
  int64_t number = 0;  // for the revision/version targets
  std::string value;   // for kValue

  static Compare ModRevisionIs(std::string key, int64_t revision);
  static Compare VersionIs(std::string key, int64_t version);
  static Compare CreateRevisionIs(std::string key, int64_t revision);
  static Compare Absent(std::string key) { return VersionIs(std::move(key), 0); }
  static Compare ValueIs(std::string key, std::string value);
};

struct Op {
  enum class Kind { kPut, kDelete, kDeletePrefix };

  Kind kind = Kind::kPut;
  std::string key;    // kDeletePrefix: the prefix
  std::string value;  // kPut
  int64_t lease = 0;  // kPut: 0 = none

  static Op Put(std::string key, std::string value, int64_t lease = 0);
  static Op Delete(std::string key);
  static Op DeletePrefix(std::string prefix);
};

// etcd refuses a transaction with more compares, or more ops in a branch,
// than this (its --max-txn-ops default) with kInvalidArgument.
inline constexpr size_t kMaxTxnOps = 128;

struct TxnResult {
  bool succeeded = false;  // every compare held; the success ops ran
  int64_t revision = 0;    // the store's revision after the transaction
};

// What etcd's members say of their quorum, each asked directly (a member
// answers a status request by itself, without a leader). Lost() means no
// quorum can exist anywhere, so nobody can write, expire a lease or commit
// a change: every member that answered has no leader, and the members that
// did not answer but may be running are too few to form a majority by
// themselves. A member that refuses the connection (ECONNREFUSED: its host
// is up and nothing listens) is not running; one that times out might be,
// on the far side of a partition.
struct QuorumReport {
  size_t members = 0;     // the cluster's size as far as known
  size_t answered = 0;    // members that answered
  size_t leaderless = 0;  // of those, how many have no leader
  size_t refused = 0;     // members whose port refused the connection
  bool Lost() const {
    const size_t unknown = members - std::min(members, answered + refused);
    return members > 0 && leaderless == answered && unknown < members / 2 + 1;
  }
};

// One change a watch saw.
struct WatchEvent {
  enum class Type { kPut, kDelete };

  Type type = Type::kPut;
  std::string key;
  int64_t revision = 0;  // the revision that made the change
  int64_t version = 0;   // a put's new version: 1 when it created the key

  friend bool operator==(const WatchEvent&, const WatchEvent&) = default;
};

struct WatchResult {
  enum class Outcome {
    kChanged,   // events holds the changes of at least one revision
    kTimedOut,  // nothing changed under the prefix within the timeout
    kCompacted  // the history after the revision is gone: read everything again
  };

  Outcome outcome = Outcome::kTimedOut;
  // Where the next wait starts: kChanged, the last event's revision (every
  // change at or before it that the caller has not seen is reported or
  // will be read by a reload); kTimedOut, the revision waited after;
  // kCompacted, the oldest revision the store still has.
  int64_t revision = 0;
  std::vector<WatchEvent> events;  // kChanged only, in revision order
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // One key; nullopt if absent.
  virtual absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key) = 0;

  // Every key starting with prefix, sorted, as of one revision.
  virtual absl::StatusOr<RangeResult> Range(const std::string& prefix) = 0;

  // Atomically: if every compare holds, run success ops, else failure ops.
  // A failed compare is not an error (succeeded = false); an unreachable
  // store is (kUnavailable), as is a malformed request (kInvalidArgument).
  virtual absl::StatusOr<TxnResult> Txn(absl::Span<const Compare> compares,
                                        absl::Span<const Op> success,
                                        absl::Span<const Op> failure = {}) = 0;

  // Leases (for membership, issue 6). ttl in seconds.
  virtual absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds) = 0;
  virtual absl::Status LeaseKeepAlive(int64_t lease) = 0;  // kNotFound if expired
  virtual absl::Status LeaseRevoke(int64_t lease) = 0;

  // Asks every member about its leader (see QuorumReport).
  virtual absl::StatusOr<QuorumReport> ProbeQuorum() = 0;

  // Waits until a key under prefix changes at a revision after
  // after_revision (changes already made count: they are reported at
  // once), at most timeout. A long poll, not a subscription: the caller
  // waits again from the result's revision, so nothing is missed between
  // two waits. A lost connection or an unreachable store is an error
  // (kUnavailable), never a hang past the timeout (plus the store's
  // connect timeout). Waits are for callers that can fall back to reading
  // everything: a store that cannot watch answers kUnimplemented.
  virtual absl::StatusOr<WatchResult> WaitForChange(const std::string& prefix,
                                                    int64_t after_revision,
                                                    absl::Duration timeout);
};

}  // namespace cvol::store

#endif  // CVOL_STORE_KV_STORE_H_
