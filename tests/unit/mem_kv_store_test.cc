// MemKvStore: the KvStore contract, plus what only the fake has (absolute
// revisions of a fresh store, its clock, its fault hook).
#include "cvol/store/mem_kv_store.h"

#include <memory>
#include <thread>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kv_store_contract.h"

namespace cvol::store {
namespace {

class MemHarness {
 public:
  std::unique_ptr<KvStore> NewStore() {
    auto store = std::make_unique<MemKvStore>();
    mem_ = store.get();
    return store;
  }
  std::unique_ptr<KvStore> NewUnavailableStore() {
    auto store = std::make_unique<MemKvStore>();
    store->SetUnavailable(true);
    return store;
  }
  // Lease time passes on the fake clock: no sleeping.
  void Wait(absl::Duration d) { mem_->AdvanceTime(d); }
  absl::Status Compact(KvStore& store, int64_t revision) {
    return static_cast<MemKvStore&>(store).Compact(revision);
  }

 private:
  MemKvStore* mem_ = nullptr;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Mem, KvStoreContract, MemHarness);

TEST(MemKvStoreTest, FreshStoreIsAtRevisionOne) {
  MemKvStore store;
  EXPECT_EQ(store.revision(), 1);
  absl::StatusOr<RangeResult> r = store.Range("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());
  EXPECT_EQ(r->revision, 1);
  absl::StatusOr<TxnResult> t = store.Txn({}, {Op::Put("/a", "1"), Op::Put("/b", "2")});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->revision, 2);
  EXPECT_EQ(store.revision(), 2);
}

// The time source is injectable: a test can own the clock outright.
TEST(MemKvStoreTest, InjectedClockDrivesLeaseExpiry) {
  absl::Time now = absl::FromUnixSeconds(1000);
  MemKvStore::Options options;
  options.clock = [&now] { return now; };
  MemKvStore store(options);
  absl::StatusOr<int64_t> lease = store.LeaseGrant(5);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store.Txn({}, {Op::Put("/m", "x", *lease)}).ok());
  now += absl::Milliseconds(4999);
  EXPECT_TRUE(store.Get("/m")->has_value());
  now += absl::Milliseconds(1);
  EXPECT_FALSE(store.Get("/m")->has_value());
  EXPECT_EQ(store.revision(), 3);  // put, then the expiry's delete
}

TEST(MemKvStoreTest, AdvanceTimeExpiresAtTheDeadline) {
  MemKvStore store;
  absl::StatusOr<int64_t> lease = store.LeaseGrant(5);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store.Txn({}, {Op::Put("/m", "x", *lease)}).ok());
  store.AdvanceTime(absl::Seconds(4));
  ASSERT_TRUE(store.LeaseKeepAlive(*lease).ok());
  store.AdvanceTime(absl::Seconds(4));
  EXPECT_TRUE(store.Get("/m")->has_value());
  store.AdvanceTime(absl::Seconds(1));  // 5 s since the keepalive
  EXPECT_EQ(store.revision(), 3);       // swept by AdvanceTime itself
  EXPECT_FALSE(store.Get("/m")->has_value());
  EXPECT_EQ(store.LeaseKeepAlive(*lease).code(), absl::StatusCode::kNotFound);
}

TEST(MemKvStoreTest, SmallTtlIsRaisedToEtcdsMinimum) {
  MemKvStore store;
  absl::StatusOr<int64_t> lease = store.LeaseGrant(0);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store.Txn({}, {Op::Put("/m", "x", *lease)}).ok());
  store.AdvanceTime(absl::Milliseconds(1999));
  EXPECT_TRUE(store.Get("/m")->has_value());
  store.AdvanceTime(absl::Milliseconds(1));
  EXPECT_FALSE(store.Get("/m")->has_value());
}

TEST(MemKvStoreTest, ExpireLeaseSimulatesALostLease) {
  MemKvStore store;
  absl::StatusOr<int64_t> a = store.LeaseGrant(60);
  absl::StatusOr<int64_t> b = store.LeaseGrant(60);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  ASSERT_TRUE(store.Txn({}, {Op::Put("/a1", "x", *a), Op::Put("/a2", "x", *a),
                             Op::Put("/b", "x", *b)})
                  .ok());
  ASSERT_TRUE(store.ExpireLease(*a).ok());
  EXPECT_EQ(store.revision(), 3);  // both keys of the lease in one revision
  absl::StatusOr<RangeResult> r = store.Range("/");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, "/b");
  EXPECT_EQ(store.ExpireLease(*a).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.LeaseKeepAlive(*b).ok());
}

TEST(MemKvStoreTest, ExpireLeasesNowSweepsWithoutACall) {
  absl::Time now = absl::FromUnixSeconds(1000);
  MemKvStore::Options options;
  options.clock = [&now] { return now; };
  MemKvStore store(options);
  absl::StatusOr<int64_t> lease = store.LeaseGrant(3);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store.Txn({}, {Op::Put("/m", "x", *lease)}).ok());
  now += absl::Seconds(3);
  EXPECT_EQ(store.revision(), 2);  // nothing ran yet
  store.ExpireLeasesNow();
  EXPECT_EQ(store.revision(), 3);
}

TEST(MemKvStoreTest, UnavailableChangesNothingAndRecovers) {
  MemKvStore store;
  ASSERT_TRUE(store.Txn({}, {Op::Put("/a", "1")}).ok());
  store.SetUnavailable(true);
  EXPECT_EQ(store.Txn({}, {Op::Put("/a", "2")}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Get("/a").status().code(), absl::StatusCode::kUnavailable);
  store.SetUnavailable(false);
  absl::StatusOr<std::optional<KeyValue>> kv = store.Get("/a");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->value, "1");
  EXPECT_EQ(store.revision(), 2);
}

// A lease's keys go in one revision: a waiter sees their deletes.
TEST(MemKvStoreTest, WaitSeesTheDeletesOfAnExpiredLease) {
  MemKvStore store;
  absl::StatusOr<int64_t> lease = store.LeaseGrant(60);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store.Txn({}, {Op::Put("/m/a", "x", *lease), Op::Put("/m/b", "x", *lease)}).ok());
  ASSERT_TRUE(store.ExpireLease(*lease).ok());
  absl::StatusOr<WatchResult> r = store.WaitForChange("/m/", 2, absl::Seconds(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kChanged);
  EXPECT_THAT(r->events, ::testing::ElementsAre(
                             WatchEvent{WatchEvent::Type::kDelete, "/m/a", 3, 0},
                             WatchEvent{WatchEvent::Type::kDelete, "/m/b", 3, 0}));
}

// The history is bounded: past history_limit changes the oldest revisions
// are compacted, as etcd's auto-compaction does.
TEST(MemKvStoreTest, HistoryBeyondTheLimitIsCompacted) {
  MemKvStore::Options options;
  options.history_limit = 3;
  MemKvStore store(options);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store.Txn({}, {Op::Put("/k", "v")}).ok());  // revs 2-6
  absl::StatusOr<WatchResult> r = store.WaitForChange("/", 1, absl::Seconds(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kCompacted);
  EXPECT_EQ(r->revision, 4);
  r = store.WaitForChange("/", 3, absl::Seconds(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kChanged);
  EXPECT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->revision, 6);
}

TEST(MemKvStoreTest, CompactRefusesTheFutureAndThePast) {
  MemKvStore store;
  ASSERT_TRUE(store.Txn({}, {Op::Put("/k", "v")}).ok());
  EXPECT_EQ(store.Compact(3).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(store.Compact(2).ok());
  EXPECT_EQ(store.Compact(2).code(), absl::StatusCode::kOutOfRange);
}

// A store that goes away under a waiter fails the wait, as a dropped
// connection would, instead of leaving it to its timeout.
TEST(MemKvStoreTest, UnavailableEndsAWait) {
  MemKvStore store;
  std::thread breaker([&] {
    absl::SleepFor(absl::Milliseconds(100));
    store.SetUnavailable(true);
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<WatchResult> r = store.WaitForChange("/", 1, absl::Seconds(20));
  breaker.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(KvStoreTest, FactoriesFillTheFields) {
  Compare c = Compare::ModRevisionIs("/k", 7);
  EXPECT_EQ(c.key, "/k");
  EXPECT_EQ(c.target, Compare::Target::kModRevision);
  EXPECT_EQ(c.result, Compare::Result::kEqual);
  EXPECT_EQ(c.number, 7);
  c = Compare::Absent("/k");
  EXPECT_EQ(c.target, Compare::Target::kVersion);
  EXPECT_EQ(c.number, 0);
  c = Compare::ValueIs("/k", "v");
  EXPECT_EQ(c.target, Compare::Target::kValue);
  EXPECT_EQ(c.value, "v");
  Op op = Op::Put("/k", "v", 9);
  EXPECT_EQ(op.kind, Op::Kind::kPut);
  EXPECT_EQ(op.lease, 9);
  EXPECT_EQ(Op::Delete("/k").kind, Op::Kind::kDelete);
  op = Op::DeletePrefix("/p/");
  EXPECT_EQ(op.kind, Op::Kind::kDeletePrefix);
  EXPECT_EQ(op.key, "/p/");
}

}  // namespace
}  // namespace cvol::store
