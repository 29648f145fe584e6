// MemKvStore: an in-memory KvStore with etcd v3 semantics, for unit tests of
// cvold. It mirrors what the daemon can observe of a single-member etcd:
//  - the store's revision starts at 1 and grows by exactly 1 per transaction
//    that changes something (however many ops it has); a transaction that
//    writes nothing (no ops, or deletes of absent keys) leaves it alone;
//  - create_revision, mod_revision, version per key; a delete forgets them;
//  - etcd's request checks (empty key, the same key twice in one branch,
//    a put with an unknown lease, a too large TTL) with etcd's codes;
//  - leases with a TTL: keys attached to a lease that expires or is revoked
//    are deleted, all in one revision;
//  - the history of changes, for WaitForChange, back to the compaction
//    revision (Compact(), or the oldest kept once history_limit is
//    reached, as etcd's auto-compaction would).
// Time comes from an injectable clock shifted by AdvanceTime(), so tests
// expire leases without sleeping. Expired leases are swept at the start of
// every call (etcd's lessor does it in the background; the effect seen by a
// caller is the same). Thread-safe. WaitForChange blocks in real time (its
// timeout is not on the injected clock), so a single-threaded caller such
// as the simulation must not wait for a change only it could make; a wait
// for changes already made answers at once.
#ifndef CVOL_STORE_MEM_KV_STORE_H_
#define CVOL_STORE_MEM_KV_STORE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cvol/store/kv_store.h"

namespace cvol::store {

struct MemKvStoreOptions {
  // The store's notion of now; absl::Now when empty. AdvanceTime() adds an
  // offset on top of it.
  std::function<absl::Time()> clock;
  // etcd raises a smaller TTL to its minimum (1.5 election timeouts rounded
  // up to a second: 2 s with the default 1 s election timeout).
  int64_t min_lease_ttl_seconds = 2;
  // Changes kept for WaitForChange; older ones are compacted away.
  size_t history_limit = 100'000;
};

class MemKvStore final : public KvStore {
 public:
  using Options = MemKvStoreOptions;

  MemKvStore();
  explicit MemKvStore(Options options);

  MemKvStore(const MemKvStore&) = delete;
  MemKvStore& operator=(const MemKvStore&) = delete;

  absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key) override;
  absl::StatusOr<RangeResult> Range(const std::string& prefix) override;
  absl::StatusOr<TxnResult> Txn(absl::Span<const Compare> compares,
                                absl::Span<const Op> success,
                                absl::Span<const Op> failure = {}) override;
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds) override;
  absl::Status LeaseKeepAlive(int64_t lease) override;
  absl::Status LeaseRevoke(int64_t lease) override;
  // One member: it answers unless unavailable; leaderless while the
  // quorum is lost.
  absl::StatusOr<QuorumReport> ProbeQuorum() override;
  // Wakes at every change of the store (and when it becomes unavailable).
  absl::StatusOr<WatchResult> WaitForChange(const std::string& prefix, int64_t after_revision,
                                            absl::Duration timeout) override;

  // Forgets the history before revision, as etcd's compaction: a wait
  // after an older revision is answered kCompacted. etcd's errors: a
  // revision ahead of the store's, or not after the last compaction, is
  // kOutOfRange.
  absl::Status Compact(int64_t revision);

  // --- Test hooks ---

  // While set, every call fails with kUnavailable ("no leader") but
  // ProbeQuorum answers that the quorum is lost; no lease expires. When it
  // is cleared, every lease gets its whole TTL again, as etcd's new leader
  // gives it.
  void SetQuorumLost(bool lost);

  // While set, every call fails with kUnavailable and changes nothing, as
  // when etcd is down or has lost quorum.
  void SetUnavailable(bool unavailable);

  // Moves the store's clock forward, then expires the leases that are due.
  void AdvanceTime(absl::Duration d);

  // Expires the leases whose deadline has passed now, without waiting for
  // the next call (which would do it anyway).
  void ExpireLeasesNow();

  // Expires one lease at once, as if its TTL ran out (the daemon missed its
  // keepalives). kNotFound if there is no such lease.
  absl::Status ExpireLease(int64_t lease);

  // The current revision (never fails, even while unavailable).
  int64_t revision() const;

  // The store's clock: options.clock() + the AdvanceTime offset.
  absl::Time Now() const;

 private:
  struct Lease {
    int64_t ttl_seconds = 0;
    absl::Time deadline;
    std::set<std::string> keys;  // keys currently attached
  };

  absl::Time NowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckAvailableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes the lease and its keys (one revision if there were keys).
  void RevokeLocked(int64_t lease) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CompareHoldsLocked(const Compare& c) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckLeasesLocked(absl::Span<const Op> ops) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies ops at revision_ + 1; returns whether anything changed.
  bool ApplyLocked(absl::Span<const Op> ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Erases the key and records its delete at revision_ + 1.
  bool EraseLocked(std::map<std::string, KeyValue>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordLocked(WatchEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops history before revision (revision > compact_revision_).
  void CompactLocked(int64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::map<std::string, KeyValue> kvs_ ABSL_GUARDED_BY(mu_);  // byte order, as etcd
  std::map<int64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_lease_id_ ABSL_GUARDED_BY(mu_) = 0x7a11000000000001;
  absl::Duration clock_offset_ ABSL_GUARDED_BY(mu_);
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  bool quorum_lost_ ABSL_GUARDED_BY(mu_) = false;
  // Every change after compact_revision_ - 1, oldest first.
  std::deque<WatchEvent> history_ ABSL_GUARDED_BY(mu_);
  int64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // Signalled when the revision moves or the store becomes unavailable.
  absl::CondVar changed_;
};

}  // namespace cvol::store

#endif  // CVOL_STORE_MEM_KV_STORE_H_
