#include "cvol/store/mem_kv_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cvol::store {
namespace {

// etcd's largest lease TTL (MaxLeaseTTL).
constexpr int64_t kMaxLeaseTtlSeconds = 9'000'000'000;

absl::Status Unavailable() {
  return absl::UnavailableError("etcd unavailable (MemKvStore fault injection)");
}

// The checks etcd makes on a branch before running anything (its
// checkIntervals): no empty key, and no key written twice, since the order
// of ops on one key inside a transaction is undefined there.
absl::Status CheckBranch(absl::Span<const Op> ops) {
  if (ops.size() > kMaxTxnOps) {
    return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
  }
  std::set<std::string> puts;
  for (const Op& op : ops) {
    if (op.kind != Op::Kind::kDeletePrefix && op.key.empty()) {
      return absl::InvalidArgumentError("etcdserver: key is not provided");
    }
    if (op.kind == Op::Kind::kPut && !puts.insert(op.key).second) {
      return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
    }
  }
  for (const Op& op : ops) {
    bool overlaps = false;
    if (op.kind == Op::Kind::kDelete) {
      overlaps = puts.count(op.key) > 0;
    } else if (op.kind == Op::Kind::kDeletePrefix) {
      auto it = puts.lower_bound(op.key);
      overlaps = it != puts.end() && absl::StartsWith(*it, op.key);
    }
    if (overlaps) {
      return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
    }
  }
  return absl::OkStatus();
}

template <typename T>
bool CompareResult(const T& actual, const T& wanted, Compare::Result result) {
  switch (result) {
    case Compare::Result::kEqual:
      return actual == wanted;
    case Compare::Result::kNotEqual:
      return actual != wanted;
    case Compare::Result::kLess:
      return actual < wanted;
    case Compare::Result::kGreater:
      return actual > wanted;
  }
  return false;
}

}  // namespace

MemKvStore::MemKvStore() : MemKvStore(Options()) {}

MemKvStore::MemKvStore(Options options) : options_(std::move(options)) {}

absl::Time MemKvStore::NowLocked() const {
  return (options_.clock ? options_.clock() : absl::Now()) + clock_offset_;
}

absl::Time MemKvStore::Now() const {
  absl::MutexLock lock(&mu_);
  return NowLocked();
}

int64_t MemKvStore::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

absl::Status MemKvStore::CheckAvailableLocked() {
  if (unavailable_) return Unavailable();
  if (quorum_lost_) return absl::UnavailableError("etcdserver: no leader");
  SweepLocked();
  return absl::OkStatus();
}

void MemKvStore::SweepLocked() {
  const absl::Time now = NowLocked();
  std::vector<int64_t> due;
  for (const auto& [id, lease] : leases_) {
    if (lease.deadline <= now) due.push_back(id);
  }
  for (int64_t id : due) RevokeLocked(id);
}

void MemKvStore::RecordLocked(WatchEvent event) {
  history_.push_back(std::move(event));
  if (history_.size() > options_.history_limit &&
      history_.front().revision < history_.back().revision) {
    // As etcd's auto-compaction: the oldest revision goes whole (never the
    // one being written).
    CompactLocked(history_.front().revision + 1);
  }
}

void MemKvStore::CompactLocked(int64_t revision) {
  compact_revision_ = revision;
  while (!history_.empty() && history_.front().revision < revision) history_.pop_front();
}

bool MemKvStore::EraseLocked(std::map<std::string, KeyValue>::iterator it) {
  if (it == kvs_.end()) return false;
  RecordLocked(WatchEvent{WatchEvent::Type::kDelete, it->first, revision_ + 1, 0});
  if (it->second.lease != 0) {
    auto lease = leases_.find(it->second.lease);
    if (lease != leases_.end()) lease->second.keys.erase(it->first);
  }
  kvs_.erase(it);
  return true;
}

void MemKvStore::RevokeLocked(int64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  std::set<std::string> keys = std::move(it->second.keys);
  leases_.erase(it);
  // etcd deletes the keys of a lease in one transaction: one revision.
  bool changed = false;
  for (const std::string& key : keys) changed |= EraseLocked(kvs_.find(key));
  if (changed) {
    ++revision_;
    changed_.SignalAll();
  }
}

bool MemKvStore::CompareHoldsLocked(const Compare& c) const {
  auto it = kvs_.find(c.key);
  if (it == kvs_.end() && c.target == Compare::Target::kValue) {
    return false;  // etcd: a value compare on an absent key always fails
  }
  const KeyValue absent;
  const KeyValue& kv = it == kvs_.end() ? absent : it->second;
  switch (c.target) {
    case Compare::Target::kVersion:
      return CompareResult(kv.version, c.number, c.result);
    case Compare::Target::kCreateRevision:
      return CompareResult(kv.create_revision, c.number, c.result);
    case Compare::Target::kModRevision:
      return CompareResult(kv.mod_revision, c.number, c.result);
    case Compare::Target::kValue:
      return CompareResult(kv.value, c.value, c.result);
  }
  return false;
}

absl::Status MemKvStore::CheckLeasesLocked(absl::Span<const Op> ops) const {
  for (const Op& op : ops) {
    if (op.kind == Op::Kind::kPut && op.lease != 0 && !leases_.contains(op.lease)) {
      return absl::NotFoundError("etcdserver: requested lease not found");
    }
  }
  return absl::OkStatus();
}

bool MemKvStore::ApplyLocked(absl::Span<const Op> ops) {
  const int64_t rev = revision_ + 1;
  bool changed = false;
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut: {
        KeyValue& kv = kvs_[op.key];
        if (kv.version == 0) {
          kv.key = op.key;
          kv.create_revision = rev;
        }
        if (kv.lease != op.lease) {
          if (kv.lease != 0) {
            auto old = leases_.find(kv.lease);
            if (old != leases_.end()) old->second.keys.erase(op.key);
          }
          if (op.lease != 0) leases_[op.lease].keys.insert(op.key);
          kv.lease = op.lease;
        }
        kv.value = op.value;
        kv.mod_revision = rev;
        ++kv.version;
        RecordLocked(WatchEvent{WatchEvent::Type::kPut, op.key, rev, kv.version});
        changed = true;
        break;
      }
      case Op::Kind::kDelete:
        changed |= EraseLocked(kvs_.find(op.key));
        break;
      case Op::Kind::kDeletePrefix: {
        auto it = kvs_.lower_bound(op.key);
        while (it != kvs_.end() && absl::StartsWith(it->first, op.key)) {
          EraseLocked(it++);
          changed = true;
        }
        break;
      }
    }
  }
  if (changed) {
    revision_ = rev;
    changed_.SignalAll();
  }
  return changed;
}

absl::StatusOr<std::optional<KeyValue>> MemKvStore::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  if (key.empty()) return absl::InvalidArgumentError("etcdserver: key is not provided");
  auto it = kvs_.find(key);
  if (it == kvs_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<RangeResult> MemKvStore::Range(const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  RangeResult result;
  result.revision = revision_;
  for (auto it = kvs_.lower_bound(prefix);
       it != kvs_.end() && absl::StartsWith(it->first, prefix); ++it) {
    result.kvs.push_back(it->second);
  }
  return result;
}

absl::StatusOr<TxnResult> MemKvStore::Txn(absl::Span<const Compare> compares,
                                          absl::Span<const Op> success,
                                          absl::Span<const Op> failure) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  if (compares.size() > kMaxTxnOps) {
    return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
  }
  for (const Compare& c : compares) {
    if (c.key.empty()) return absl::InvalidArgumentError("etcdserver: key is not provided");
  }
  if (absl::Status s = CheckBranch(success); !s.ok()) return s;
  if (absl::Status s = CheckBranch(failure); !s.ok()) return s;

  TxnResult result;
  result.succeeded = true;
  for (const Compare& c : compares) {
    if (!CompareHoldsLocked(c)) {
      result.succeeded = false;
      break;
    }
  }
  absl::Span<const Op> ops = result.succeeded ? success : failure;
  // All or nothing: a bad lease fails the whole transaction before any op.
  if (absl::Status s = CheckLeasesLocked(ops); !s.ok()) return s;
  ApplyLocked(ops);
  result.revision = revision_;
  return result;
}

absl::StatusOr<int64_t> MemKvStore::LeaseGrant(int64_t ttl_seconds) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  if (ttl_seconds > kMaxLeaseTtlSeconds) {
    return absl::OutOfRangeError("etcdserver: too large lease TTL");
  }
  const int64_t ttl = std::max(ttl_seconds, options_.min_lease_ttl_seconds);
  const int64_t id = next_lease_id_++;
  Lease& lease = leases_[id];
  lease.ttl_seconds = ttl;
  lease.deadline = NowLocked() + absl::Seconds(ttl);
  return id;
}

absl::Status MemKvStore::LeaseKeepAlive(int64_t lease) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  auto it = leases_.find(lease);
  if (it == leases_.end()) {
    return absl::NotFoundError(absl::StrCat("lease ", lease, " not found or expired"));
  }
  it->second.deadline = NowLocked() + absl::Seconds(it->second.ttl_seconds);
  return absl::OkStatus();
}

absl::Status MemKvStore::LeaseRevoke(int64_t lease) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  if (!leases_.contains(lease)) {
    return absl::NotFoundError("etcdserver: requested lease not found");
  }
  RevokeLocked(lease);
  return absl::OkStatus();
}

void MemKvStore::SetQuorumLost(bool lost) {
  absl::MutexLock lock(&mu_);
  if (quorum_lost_ && !lost) {
    // etcd's new leader restarts every lease's TTL (lessor Promote): no
    // lease can expire for lack of keepalives while nobody could send one.
    const absl::Time now = NowLocked();
    for (auto& [id, lease] : leases_) lease.deadline = now + absl::Seconds(lease.ttl_seconds);
  }
  quorum_lost_ = lost;
  changed_.SignalAll();
}

absl::StatusOr<WatchResult> MemKvStore::WaitForChange(const std::string& prefix,
                                                       int64_t after_revision,
                                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (true) {
    if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
    WatchResult result;
    // etcd can still watch from the compaction revision itself.
    if (after_revision + 1 < compact_revision_) {
      result.outcome = WatchResult::Outcome::kCompacted;
      result.revision = compact_revision_;
      return result;
    }
    if (revision_ > after_revision) {
      for (const WatchEvent& e : history_) {
        if (e.revision > after_revision && absl::StartsWith(e.key, prefix)) {
          result.events.push_back(e);
        }
      }
    }
    if (!result.events.empty()) {
      result.outcome = WatchResult::Outcome::kChanged;
      result.revision = result.events.back().revision;
      return result;
    }
    const int64_t seen = revision_;
    while (revision_ == seen && !unavailable_ && !quorum_lost_) {
      if (changed_.WaitWithDeadline(&mu_, deadline)) {
        result.outcome = WatchResult::Outcome::kTimedOut;
        result.revision = after_revision;
        return result;
      }
    }
  }
}

absl::Status MemKvStore::Compact(int64_t revision) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckAvailableLocked(); !s.ok()) return s;
  if (revision > revision_) {
    return absl::OutOfRangeError("etcdserver: mvcc: required revision is a future revision");
  }
  if (revision <= compact_revision_) {
    return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
  }
  CompactLocked(revision);
  return absl::OkStatus();
}

absl::StatusOr<QuorumReport> MemKvStore::ProbeQuorum() {
  absl::MutexLock lock(&mu_);
  QuorumReport report;
  report.members = 1;
  if (unavailable_) return report;  // nobody answers
  report.answered = 1;
  report.leaderless = quorum_lost_ ? 1 : 0;
  return report;
}

void MemKvStore::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
  changed_.SignalAll();  // a wait in progress fails, as its connection would
}

void MemKvStore::AdvanceTime(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  clock_offset_ += d;
  SweepLocked();
}

void MemKvStore::ExpireLeasesNow() {
  absl::MutexLock lock(&mu_);
  SweepLocked();
}

absl::Status MemKvStore::ExpireLease(int64_t lease) {
  absl::MutexLock lock(&mu_);
  if (!leases_.contains(lease)) {
    return absl::NotFoundError(absl::StrCat("lease ", lease, " not found"));
  }
  RevokeLocked(lease);
  return absl::OkStatus();
}

}  // namespace cvol::store
