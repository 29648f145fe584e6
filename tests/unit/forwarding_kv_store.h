// A KvStore that passes every call on to another, for tests that change
// one or two of them (a failing transaction, no watch). The watch is not
// passed on: it stays the interface's default (unimplemented), so a test
// store without it behaves as a store that cannot watch.
#ifndef CVOL_TESTS_UNIT_FORWARDING_KV_STORE_H_
#define CVOL_TESTS_UNIT_FORWARDING_KV_STORE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "cvol/store/kv_store.h"

namespace cvol::store {

class ForwardingKvStore : public KvStore {
 public:
  explicit ForwardingKvStore(KvStore& kv) : kv_(kv) {}
  absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key) override {
    return kv_.Get(key);
  }
  absl::StatusOr<RangeResult> Range(const std::string& prefix) override {
    return kv_.Range(prefix);
  }
  absl::StatusOr<TxnResult> Txn(absl::Span<const Compare> compares, absl::Span<const Op> success,
                                absl::Span<const Op> failure) override {
    return kv_.Txn(compares, success, failure);
  }
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl) override { return kv_.LeaseGrant(ttl); }
  absl::Status LeaseKeepAlive(int64_t lease) override { return kv_.LeaseKeepAlive(lease); }
  absl::Status LeaseRevoke(int64_t lease) override { return kv_.LeaseRevoke(lease); }
  absl::StatusOr<QuorumReport> ProbeQuorum() override { return kv_.ProbeQuorum(); }

 protected:
  KvStore& kv_;
};

}  // namespace cvol::store

#endif  // CVOL_TESTS_UNIT_FORWARDING_KV_STORE_H_
