// The contract every KvStore implementation must honour: etcd v3 semantics
// as cvold relies on them. Instantiated for MemKvStore (mem_kv_store_test.cc)
// and for EtcdKvStore against a real etcd (etcd_kv_store_test.cc), so the
// fake cannot drift from the real thing.
//
// A harness type H adapts one implementation:
//   std::unique_ptr<KvStore> NewStore();             // usable, holds no keys
//   std::unique_ptr<KvStore> NewUnavailableStore();  // every call kUnavailable
//   void Wait(absl::Duration d);  // let d pass for the store's leases
//   absl::Status Compact(KvStore& store, int64_t revision);  // etcd's compaction
// The tests never assume an absolute revision (a real etcd shared by the
// tests of one binary keeps counting), only revisions relative to a read.
#ifndef CVOL_TESTS_UNIT_KV_STORE_CONTRACT_H_
#define CVOL_TESTS_UNIT_KV_STORE_CONTRACT_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cvol/store/kv_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#define KV_CONCAT_INNER_(a, b) a##b
#define KV_CONCAT_(a, b) KV_CONCAT_INNER_(a, b)
#define KV_ASSIGN_OR_FAIL_(tmp, lhs, expr) \
  auto tmp = (expr);                       \
  ASSERT_TRUE(tmp.ok()) << tmp.status();   \
  lhs = std::move(tmp).value()
// lhs = the value of a StatusOr, or fail the test with its status.
#define KV_ASSIGN_OR_FAIL(lhs, expr) KV_ASSIGN_OR_FAIL_(KV_CONCAT_(kv_or_, __LINE__), lhs, expr)
#define KV_ASSERT_OK(expr)                  \
  do {                                      \
    const absl::Status kv_s_ = (expr);      \
    ASSERT_TRUE(kv_s_.ok()) << kv_s_;       \
  } while (0)

namespace cvol::store {

template <typename H>
class KvStoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = harness_.NewStore();
    ASSERT_NE(store_, nullptr);
  }

  KvStore& store() { return *store_; }

  // The store's current revision (a read of a prefix nobody uses).
  int64_t Revision() {
    absl::StatusOr<RangeResult> r = store_->Range("\x7f" "contract-revision-probe/");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->revision : -1;
  }

  absl::StatusOr<TxnResult> Put(const std::string& key, const std::string& value,
                                int64_t lease = 0) {
    return store_->Txn({}, {Op::Put(key, value, lease)});
  }

  std::vector<std::string> KeysOf(const RangeResult& r) {
    std::vector<std::string> keys;
    for (const KeyValue& kv : r.kvs) keys.push_back(kv.key);
    return keys;
  }

  // Waits (in the store's time) until key is gone; false after `limit`.
  bool WaitUntilAbsent(const std::string& key, absl::Duration limit) {
    for (absl::Duration waited; waited <= limit; waited += absl::Milliseconds(250)) {
      absl::StatusOr<std::optional<KeyValue>> kv = store_->Get(key);
      if (kv.ok() && !kv->has_value()) return true;
      harness_.Wait(absl::Milliseconds(250));
    }
    return false;
  }

  H harness_;
  std::unique_ptr<KvStore> store_;
};

TYPED_TEST_SUITE_P(KvStoreContract);

TYPED_TEST_P(KvStoreContract, GetAbsentKeyIsNullopt) {
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/absent"));
  EXPECT_FALSE(kv.has_value());
}

TYPED_TEST_P(KvStoreContract, PutCreatesKeyAtTheNewRevision) {
  const int64_t before = this->Revision();
  TxnResult put;
  KV_ASSIGN_OR_FAIL(put, this->Put("/k", "v1"));
  EXPECT_TRUE(put.succeeded);
  EXPECT_EQ(put.revision, before + 1);
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/k"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(*kv, (KeyValue{"/k", "v1", before + 1, before + 1, 1, 0}));
}

TYPED_TEST_P(KvStoreContract, OverwriteBumpsVersionAndModRevisionOnly) {
  TxnResult first, second;
  KV_ASSIGN_OR_FAIL(first, this->Put("/k", "v1"));
  KV_ASSIGN_OR_FAIL(second, this->Put("/k", "v2"));
  EXPECT_EQ(second.revision, first.revision + 1);
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/k"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->value, "v2");
  EXPECT_EQ(kv->create_revision, first.revision);
  EXPECT_EQ(kv->mod_revision, second.revision);
  EXPECT_EQ(kv->version, 2);
  // The same value again is still a write.
  TxnResult third;
  KV_ASSIGN_OR_FAIL(third, this->Put("/k", "v2"));
  EXPECT_EQ(third.revision, second.revision + 1);
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/k"));
  EXPECT_EQ(kv->version, 3);
}

TYPED_TEST_P(KvStoreContract, DeleteForgetsVersionAndCreateRevision) {
  KV_ASSERT_OK(this->Put("/k", "v1").status());
  KV_ASSERT_OK(this->Put("/k", "v2").status());
  TxnResult del;
  KV_ASSIGN_OR_FAIL(del, this->store().Txn({}, {Op::Delete("/k")}));
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/k"));
  EXPECT_FALSE(kv.has_value());
  TxnResult again;
  KV_ASSIGN_OR_FAIL(again, this->Put("/k", "v3"));
  EXPECT_EQ(again.revision, del.revision + 1);
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/k"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->version, 1);
  EXPECT_EQ(kv->create_revision, again.revision);
}

TYPED_TEST_P(KvStoreContract, MultiOpTxnIsOneRevision) {
  KV_ASSERT_OK(this->Put("/m/c", "old").status());
  const int64_t before = this->Revision();
  TxnResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Txn(
                           {}, {Op::Put("/m/a", "1"), Op::Put("/m/b", "2"), Op::Delete("/m/c")}));
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, before + 1);
  RangeResult range;
  KV_ASSIGN_OR_FAIL(range, this->store().Range("/m/"));
  ASSERT_EQ(range.kvs.size(), 2u);
  for (const KeyValue& kv : range.kvs) {
    EXPECT_EQ(kv.mod_revision, before + 1) << kv.key;
    EXPECT_EQ(kv.create_revision, before + 1) << kv.key;
  }
  EXPECT_EQ(range.revision, before + 1);
}

TYPED_TEST_P(KvStoreContract, TxnThatWritesNothingKeepsTheRevision) {
  KV_ASSERT_OK(this->Put("/k", "v").status());
  const int64_t before = this->Revision();
  TxnResult r;
  // No ops at all.
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({Compare::VersionIs("/k", 1)}, {}));
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, before);
  // A failed compare with an empty failure branch.
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({Compare::Absent("/k")}, {Op::Put("/x", "1")}));
  EXPECT_FALSE(r.succeeded);
  EXPECT_EQ(r.revision, before);
  // Deletes that match nothing.
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({}, {Op::Delete("/nothing"),
                                              Op::DeletePrefix("/nothing/")}));
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, before);
  EXPECT_EQ(this->Revision(), before);
  std::optional<KeyValue> x;
  KV_ASSIGN_OR_FAIL(x, this->store().Get("/x"));
  EXPECT_FALSE(x.has_value());
}

TYPED_TEST_P(KvStoreContract, RangeIsSortedAndBoundedByThePrefix) {
  for (const char* key : {"/a/2", "/a", "/b", "/a/1", "/a0", "/a/1/x", "/"}) {
    KV_ASSERT_OK(this->Put(key, std::string("v") + key).status());
  }
  const int64_t now = this->Revision();
  RangeResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Range("/a/"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("/a/1", "/a/1/x", "/a/2"));
  EXPECT_EQ(r.revision, now);
  EXPECT_EQ(r.kvs[0].value, "v/a/1");
  KV_ASSIGN_OR_FAIL(r, this->store().Range("/a"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("/a", "/a/1", "/a/1/x", "/a/2", "/a0"));
  KV_ASSIGN_OR_FAIL(r, this->store().Range("/a/1/x"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("/a/1/x"));
  KV_ASSIGN_OR_FAIL(r, this->store().Range("/c"));
  EXPECT_TRUE(r.kvs.empty());
  EXPECT_EQ(r.revision, now);
}

TYPED_TEST_P(KvStoreContract, RangeEmptyPrefixIsEverything) {
  for (const char* key : {"b", "a", "\x01", "\xff\xff"}) {
    KV_ASSERT_OK(this->Put(key, "v").status());
  }
  RangeResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Range(""));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("\x01", "a", "b", "\xff\xff"));
}

// A prefix ending in 0xff has no "prefix + 1" in its last byte: the range end
// must carry into the byte before (etcd's GetPrefixRangeEnd), and an all-0xff
// prefix means "to the end of the keyspace".
TYPED_TEST_P(KvStoreContract, RangePrefixEndingInFF) {
  const std::vector<std::string> keys = {
      std::string("p\xfe"),         std::string("p\xff"),     std::string("p\xff\x00", 3),
      std::string("p\xff\xff"),     std::string("p\xff\xff\x01"),
      std::string("q"),             std::string("\xff"),      std::string("\xff\xff"),
      std::string("\xff\xff\xff")};
  for (const std::string& key : keys) KV_ASSERT_OK(this->Put(key, "v").status());
  RangeResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Range("p\xff"));
  EXPECT_THAT(this->KeysOf(r),
              ::testing::ElementsAre(std::string("p\xff"), std::string("p\xff\x00", 3),
                                     std::string("p\xff\xff"), std::string("p\xff\xff\x01")));
  KV_ASSIGN_OR_FAIL(r, this->store().Range("p\xff\xff"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre(std::string("p\xff\xff"),
                                                      std::string("p\xff\xff\x01")));
  KV_ASSIGN_OR_FAIL(r, this->store().Range("\xff"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("\xff", "\xff\xff", "\xff\xff\xff"));
  KV_ASSIGN_OR_FAIL(r, this->store().Range("\xff\xff"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("\xff\xff", "\xff\xff\xff"));
  KV_ASSIGN_OR_FAIL(r, this->store().Range("p"));
  EXPECT_EQ(r.kvs.size(), 5u);
}

TYPED_TEST_P(KvStoreContract, TxnRunsSuccessOrFailureBranch) {
  TxnResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({Compare::Absent("/lock")}, {Op::Put("/lock", "me")},
                                         {Op::Put("/lost", "1")}));
  EXPECT_TRUE(r.succeeded);
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({Compare::Absent("/lock")}, {Op::Put("/lock", "you")},
                                         {Op::Put("/lost", "1")}));
  EXPECT_FALSE(r.succeeded);
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/lock"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->value, "me");
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/lost"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->mod_revision, r.revision);
}

TYPED_TEST_P(KvStoreContract, CompareTargetsAndResults) {
  TxnResult put;
  KV_ASSIGN_OR_FAIL(put, this->Put("/c", "m"));
  const int64_t rev = put.revision;
  auto holds = [&](Compare c) -> bool {
    absl::StatusOr<TxnResult> r = this->store().Txn({c}, {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->succeeded;
  };
  using T = Compare::Target;
  using R = Compare::Result;
  auto cmp = [](T target, R result, int64_t number, std::string value = "") {
    Compare c;
    c.key = "/c";
    c.target = target;
    c.result = result;
    c.number = number;
    c.value = std::move(value);
    return c;
  };
  EXPECT_TRUE(holds(Compare::ModRevisionIs("/c", rev)));
  EXPECT_FALSE(holds(Compare::ModRevisionIs("/c", rev - 1)));
  EXPECT_TRUE(holds(Compare::VersionIs("/c", 1)));
  EXPECT_FALSE(holds(Compare::Absent("/c")));
  EXPECT_TRUE(holds(Compare::ValueIs("/c", "m")));
  EXPECT_FALSE(holds(Compare::ValueIs("/c", "n")));
  EXPECT_TRUE(holds(cmp(T::kCreateRevision, R::kEqual, rev)));
  EXPECT_TRUE(holds(cmp(T::kModRevision, R::kNotEqual, rev + 1)));
  EXPECT_FALSE(holds(cmp(T::kModRevision, R::kNotEqual, rev)));
  EXPECT_TRUE(holds(cmp(T::kModRevision, R::kLess, rev + 1)));
  EXPECT_FALSE(holds(cmp(T::kModRevision, R::kLess, rev)));
  EXPECT_TRUE(holds(cmp(T::kVersion, R::kGreater, 0)));
  EXPECT_FALSE(holds(cmp(T::kVersion, R::kGreater, 1)));
  EXPECT_TRUE(holds(cmp(T::kValue, R::kLess, 0, "n")));
  EXPECT_TRUE(holds(cmp(T::kValue, R::kGreater, 0, "l")));
  EXPECT_TRUE(holds(cmp(T::kValue, R::kNotEqual, 0, "x")));
  // Several compares: all must hold.
  absl::StatusOr<TxnResult> both =
      this->store().Txn({Compare::VersionIs("/c", 1), Compare::Absent("/c")}, {});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_FALSE(both->succeeded);
}

TYPED_TEST_P(KvStoreContract, CompareOnAbsentKey) {
  auto holds = [&](Compare c) -> bool {
    absl::StatusOr<TxnResult> r = this->store().Txn({c}, {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->succeeded;
  };
  EXPECT_TRUE(holds(Compare::Absent("/none")));
  EXPECT_TRUE(holds(Compare::ModRevisionIs("/none", 0)));
  Compare create;
  create.key = "/none";
  create.target = Compare::Target::kCreateRevision;
  create.number = 0;
  EXPECT_TRUE(holds(create));
  // A value compare on an absent key is false whatever the value and result.
  EXPECT_FALSE(holds(Compare::ValueIs("/none", "")));
  Compare ne = Compare::ValueIs("/none", "x");
  ne.result = Compare::Result::kNotEqual;
  EXPECT_FALSE(holds(ne));
}

// The allocation pattern of cvold: read a pool's record, then write the
// updated record and a new volume in one transaction guarded by the record's
// mod_revision. A writer that read an older record loses and writes nothing.
TYPED_TEST_P(KvStoreContract, GuardedMultiKeyTxnForAllocation) {
  KV_ASSERT_OK(this->Put("/pools/p1", "free=100").status());
  std::optional<KeyValue> pool;
  KV_ASSIGN_OR_FAIL(pool, this->store().Get("/pools/p1"));
  ASSERT_TRUE(pool.has_value());
  const int64_t seen = pool->mod_revision;

  TxnResult first;
  KV_ASSIGN_OR_FAIL(first, this->store().Txn(
                               {Compare::ModRevisionIs("/pools/p1", seen),
                                Compare::Absent("/volumes/v1")},
                               {Op::Put("/pools/p1", "free=90"), Op::Put("/volumes/v1", "10")}));
  EXPECT_TRUE(first.succeeded);
  EXPECT_EQ(first.revision, seen + 1);

  // A second allocator working from the same (now stale) read.
  TxnResult stale;
  KV_ASSIGN_OR_FAIL(stale, this->store().Txn(
                               {Compare::ModRevisionIs("/pools/p1", seen),
                                Compare::Absent("/volumes/v2")},
                               {Op::Put("/pools/p1", "free=80"), Op::Put("/volumes/v2", "10")}));
  EXPECT_FALSE(stale.succeeded);
  EXPECT_EQ(stale.revision, first.revision);

  RangeResult all;
  KV_ASSIGN_OR_FAIL(all, this->store().Range("/"));
  ASSERT_EQ(all.kvs.size(), 2u);
  EXPECT_EQ(all.kvs[0], (KeyValue{"/pools/p1", "free=90", seen, first.revision, 2, 0}));
  EXPECT_EQ(all.kvs[1], (KeyValue{"/volumes/v1", "10", first.revision, first.revision, 1, 0}));
}

TYPED_TEST_P(KvStoreContract, DeletePrefixRemovesOnlyThePrefix) {
  for (const char* key : {"/v/1", "/v/2", "/v/2/x", "/v", "/vv", "/w"}) {
    KV_ASSERT_OK(this->Put(key, "v").status());
  }
  const int64_t before = this->Revision();
  TxnResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({}, {Op::DeletePrefix("/v/")}));
  EXPECT_EQ(r.revision, before + 1);
  RangeResult all;
  KV_ASSIGN_OR_FAIL(all, this->store().Range("/"));
  EXPECT_THAT(this->KeysOf(all), ::testing::ElementsAre("/v", "/vv", "/w"));
  // DeletePrefix("") is everything.
  KV_ASSIGN_OR_FAIL(r, this->store().Txn({}, {Op::DeletePrefix("")}));
  KV_ASSIGN_OR_FAIL(all, this->store().Range(""));
  EXPECT_TRUE(all.kvs.empty());
}

TYPED_TEST_P(KvStoreContract, DuplicateKeyInOneBranchIsInvalid) {
  const std::vector<std::vector<Op>> bad = {
      {Op::Put("/d", "1"), Op::Put("/d", "2")},
      {Op::Put("/d", "1"), Op::Delete("/d")},
      {Op::Delete("/d"), Op::Put("/d", "1")},
      {Op::Put("/d/x", "1"), Op::DeletePrefix("/d/")},
  };
  for (const std::vector<Op>& ops : bad) {
    absl::StatusOr<TxnResult> r = this->store().Txn({}, ops);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    // Checked in the branch that does not run, too.
    r = this->store().Txn({}, {}, ops);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  }
  // Deleting twice is fine, and nothing above was written.
  absl::StatusOr<TxnResult> r =
      this->store().Txn({}, {Op::Delete("/d"), Op::DeletePrefix("/d")});
  ASSERT_TRUE(r.ok()) << r.status();
  RangeResult all;
  KV_ASSIGN_OR_FAIL(all, this->store().Range("/d"));
  EXPECT_TRUE(all.kvs.empty());
}

TYPED_TEST_P(KvStoreContract, EmptyKeyIsInvalid) {
  EXPECT_EQ(this->store().Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->Put("", "v").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store().Txn({}, {Op::Delete("")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store().Txn({Compare::Absent("")}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TYPED_TEST_P(KvStoreContract, TooManyOpsIsInvalid) {
  std::vector<Op> ops;
  for (size_t i = 0; i <= kMaxTxnOps; ++i) ops.push_back(Op::Put(absl::StrCat("/many/", i), "v"));
  EXPECT_EQ(this->store().Txn({}, ops).status().code(), absl::StatusCode::kInvalidArgument);
  ops.pop_back();
  absl::StatusOr<TxnResult> r = this->store().Txn({}, ops);
  ASSERT_TRUE(r.ok()) << r.status();
  RangeResult all;
  KV_ASSIGN_OR_FAIL(all, this->store().Range("/many/"));
  EXPECT_EQ(all.kvs.size(), kMaxTxnOps);
}

TYPED_TEST_P(KvStoreContract, BinaryKeysAndValuesRoundTrip) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  const std::string nul_value("a\0b\0", 4);
  const std::string binary_key = std::string("/bin/\x00\x01\xff\x80", 9);
  KV_ASSERT_OK(this->Put("/bin/every", every_byte).status());
  KV_ASSERT_OK(this->Put("/bin/nul", nul_value).status());
  KV_ASSERT_OK(this->Put("/bin/empty", "").status());
  KV_ASSERT_OK(this->Put(binary_key, every_byte).status());
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/bin/every"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->value, every_byte);
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/bin/nul"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->value, nul_value);
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/bin/empty"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->value, "");
  EXPECT_EQ(kv->version, 1);
  KV_ASSIGN_OR_FAIL(kv, this->store().Get(binary_key));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->key, binary_key);
  // A NUL inside a key is part of the key, not its end.
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/bin/"));
  EXPECT_FALSE(kv.has_value());
  RangeResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Range(std::string("/bin/\x00", 6)));
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].key, binary_key);
  // Values compare as bytes.
  absl::StatusOr<TxnResult> t = this->store().Txn({Compare::ValueIs("/bin/nul", nul_value)}, {});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->succeeded);
  t = this->store().Txn({Compare::ValueIs("/bin/nul", "a")}, {});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->succeeded);
}

TYPED_TEST_P(KvStoreContract, LeaseGrantKeepAliveRevoke) {
  int64_t lease = 0;
  KV_ASSIGN_OR_FAIL(lease, this->store().LeaseGrant(30));
  EXPECT_NE(lease, 0);
  KV_ASSERT_OK(this->Put("/members/a", "host-a", lease).status());
  KV_ASSERT_OK(this->Put("/members/b", "host-b", lease).status());
  KV_ASSERT_OK(this->Put("/members/c", "host-c").status());
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/members/a"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->lease, lease);
  KV_ASSERT_OK(this->store().LeaseKeepAlive(lease));

  const int64_t before = this->Revision();
  KV_ASSERT_OK(this->store().LeaseRevoke(lease));
  // Both keys go in one revision; the key without the lease stays.
  EXPECT_EQ(this->Revision(), before + 1);
  RangeResult r;
  KV_ASSIGN_OR_FAIL(r, this->store().Range("/members/"));
  EXPECT_THAT(this->KeysOf(r), ::testing::ElementsAre("/members/c"));

  EXPECT_EQ(this->store().LeaseKeepAlive(lease).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store().LeaseRevoke(lease).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->Put("/members/a", "again", lease).status().code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST_P(KvStoreContract, PutWithUnknownLeaseFailsTheWholeTxn) {
  absl::StatusOr<TxnResult> r =
      this->store().Txn({}, {Op::Put("/ok", "1"), Op::Put("/leased", "1", 0x1234567)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/ok"));
  EXPECT_FALSE(kv.has_value());
}

TYPED_TEST_P(KvStoreContract, RewritingWithoutLeaseDetachesTheKey) {
  int64_t lease = 0;
  KV_ASSIGN_OR_FAIL(lease, this->store().LeaseGrant(30));
  KV_ASSERT_OK(this->Put("/k", "leased", lease).status());
  KV_ASSERT_OK(this->Put("/k", "plain").status());
  const int64_t before = this->Revision();
  KV_ASSERT_OK(this->store().LeaseRevoke(lease));
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/k"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->lease, 0);
  EXPECT_EQ(this->Revision(), before);  // the revoke deleted nothing
}

TYPED_TEST_P(KvStoreContract, ExpiredLeaseDeletesItsKeys) {
  int64_t lease = 0;
  KV_ASSIGN_OR_FAIL(lease, this->store().LeaseGrant(2));
  KV_ASSERT_OK(this->Put("/members/me", "x", lease).status());
  KV_ASSERT_OK(this->Put("/stays", "x").status());
  // Kept alive past its TTL, it lives on.
  for (int i = 0; i < 3; ++i) {
    this->harness_.Wait(absl::Seconds(1));
    KV_ASSERT_OK(this->store().LeaseKeepAlive(lease));
  }
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/members/me"));
  EXPECT_TRUE(kv.has_value());
  // Left alone, it expires (etcd checks every 500 ms, then revokes through
  // raft: allow a few seconds).
  EXPECT_TRUE(this->WaitUntilAbsent("/members/me", absl::Seconds(10)));
  EXPECT_EQ(this->store().LeaseKeepAlive(lease).code(), absl::StatusCode::kNotFound);
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/stays"));
  EXPECT_TRUE(kv.has_value());
}

TYPED_TEST_P(KvStoreContract, TooLargeTtlIsOutOfRange) {
  EXPECT_EQ(this->store().LeaseGrant(9'000'000'001).status().code(),
            absl::StatusCode::kOutOfRange);
}

TYPED_TEST_P(KvStoreContract, UnreachableStoreIsUnavailable) {
  std::unique_ptr<KvStore> down = this->harness_.NewUnavailableStore();
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->Get("/k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down->Range("/").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down->Txn({}, {Op::Put("/k", "v")}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(down->LeaseGrant(5).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down->LeaseKeepAlive(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down->LeaseRevoke(1).code(), absl::StatusCode::kUnavailable);
  const absl::Time start = absl::Now();
  EXPECT_EQ(down->WaitForChange("/", 1, absl::Seconds(10)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // an error, not a wait
}

// Many writers doing read-modify-write with a mod_revision guard: every
// successful increment is counted exactly once.
TYPED_TEST_P(KvStoreContract, ConcurrentGuardedIncrements) {
  KV_ASSERT_OK(this->Put("/counter", "0").status());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kPerThread && errors.load() == 0;) {
        absl::StatusOr<std::optional<KeyValue>> kv = this->store().Get("/counter");
        int n = 0;
        if (!kv.ok() || !kv->has_value() || !absl::SimpleAtoi((*kv)->value, &n)) {
          ++errors;
          return;
        }
        absl::StatusOr<TxnResult> r =
            this->store().Txn({Compare::ModRevisionIs("/counter", (*kv)->mod_revision)},
                              {Op::Put("/counter", absl::StrCat(n + 1))});
        if (!r.ok()) {
          ++errors;
          return;
        }
        if (r->succeeded) ++done;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  std::optional<KeyValue> kv;
  KV_ASSIGN_OR_FAIL(kv, this->store().Get("/counter"));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->value, absl::StrCat(kThreads * kPerThread));
  EXPECT_EQ(kv->version, kThreads * kPerThread + 1);
}

// A change under the prefix wakes a waiter at once; one elsewhere does not.
// The writer uses the same store while the wait blocks: a wait must never
// hold up the store's other requests.
TYPED_TEST_P(KvStoreContract, WaitWakesOnAChangeUnderThePrefix) {
  const int64_t before = this->Revision();
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_TRUE(this->Put("/watched-not/x", "1").ok());
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_TRUE(this->Put("/watched/a", "1").ok());
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<WatchResult> r =
      this->store().WaitForChange("/watched/", before, absl::Seconds(20));
  const absl::Duration took = absl::Now() - start;
  writer.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kChanged);
  EXPECT_THAT(r->events, ::testing::ElementsAre(
                             WatchEvent{WatchEvent::Type::kPut, "/watched/a", before + 2, 1}));
  EXPECT_EQ(r->revision, before + 2);
  EXPECT_GE(took, absl::Milliseconds(350));
  EXPECT_LT(took, absl::Seconds(5));
}

// Changes made before the wait are reported at once, and waiting again
// from each result's revision sees every later change exactly once.
TYPED_TEST_P(KvStoreContract, WaitReportsEveryChangeAfterTheRevision) {
  const int64_t before = this->Revision();
  KV_ASSERT_OK(this->Put("/w/a", "1").status());
  KV_ASSERT_OK(this->Put("/w/a", "2").status());
  KV_ASSERT_OK(this->store().Txn({}, {Op::Delete("/w/a"), Op::Put("/w/b", "1")}).status());
  std::vector<WatchEvent> seen;
  int64_t after = before;
  while (seen.size() < 4) {
    absl::StatusOr<WatchResult> r = this->store().WaitForChange("/w/", after, absl::Seconds(5));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->outcome, WatchResult::Outcome::kChanged) << seen.size();
    ASSERT_FALSE(r->events.empty());
    EXPECT_EQ(r->revision, r->events.back().revision);
    seen.insert(seen.end(), r->events.begin(), r->events.end());
    after = r->revision;
  }
  using T = WatchEvent::Type;
  EXPECT_THAT(seen, ::testing::ElementsAre(WatchEvent{T::kPut, "/w/a", before + 1, 1},
                                           WatchEvent{T::kPut, "/w/a", before + 2, 2},
                                           WatchEvent{T::kDelete, "/w/a", before + 3, 0},
                                           WatchEvent{T::kPut, "/w/b", before + 3, 1}));
  // Nothing after the last one.
  absl::StatusOr<WatchResult> quiet =
      this->store().WaitForChange("/w/", after, absl::Milliseconds(200));
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_EQ(quiet->outcome, WatchResult::Outcome::kTimedOut);
}

TYPED_TEST_P(KvStoreContract, WaitTimesOutWithoutAChange) {
  const int64_t before = this->Revision();
  KV_ASSERT_OK(this->Put("/elsewhere", "1").status());
  const absl::Time start = absl::Now();
  absl::StatusOr<WatchResult> r =
      this->store().WaitForChange("/quiet/", before, absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kTimedOut);
  EXPECT_EQ(r->revision, before);
  EXPECT_TRUE(r->events.empty());
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(5));
}

// Once the history after a revision is compacted away, a wait from it
// says so (the caller reads everything again); from the compaction
// revision on, history is still there.
TYPED_TEST_P(KvStoreContract, WaitAfterACompactedRevisionSaysSo) {
  TxnResult r1, r2, r3;
  KV_ASSIGN_OR_FAIL(r1, this->Put("/c/a", "1"));
  KV_ASSIGN_OR_FAIL(r2, this->Put("/c/a", "2"));
  KV_ASSIGN_OR_FAIL(r3, this->Put("/c/a", "3"));
  KV_ASSERT_OK(this->harness_.Compact(this->store(), r3.revision));
  absl::StatusOr<WatchResult> r =
      this->store().WaitForChange("/c/", r1.revision, absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kCompacted);
  EXPECT_EQ(r->revision, r3.revision);
  r = this->store().WaitForChange("/c/", r2.revision, absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, WatchResult::Outcome::kChanged);
  EXPECT_THAT(r->events, ::testing::ElementsAre(
                             WatchEvent{WatchEvent::Type::kPut, "/c/a", r3.revision, 3}));
}

REGISTER_TYPED_TEST_SUITE_P(KvStoreContract, GetAbsentKeyIsNullopt, PutCreatesKeyAtTheNewRevision,
                            OverwriteBumpsVersionAndModRevisionOnly,
                            DeleteForgetsVersionAndCreateRevision, MultiOpTxnIsOneRevision,
                            TxnThatWritesNothingKeepsTheRevision,
                            RangeIsSortedAndBoundedByThePrefix, RangeEmptyPrefixIsEverything,
                            RangePrefixEndingInFF, TxnRunsSuccessOrFailureBranch,
                            CompareTargetsAndResults, CompareOnAbsentKey,
                            GuardedMultiKeyTxnForAllocation, DeletePrefixRemovesOnlyThePrefix,
                            DuplicateKeyInOneBranchIsInvalid, EmptyKeyIsInvalid,
                            TooManyOpsIsInvalid, BinaryKeysAndValuesRoundTrip,
                            LeaseGrantKeepAliveRevoke, PutWithUnknownLeaseFailsTheWholeTxn,
                            RewritingWithoutLeaseDetachesTheKey, ExpiredLeaseDeletesItsKeys,
                            TooLargeTtlIsOutOfRange, UnreachableStoreIsUnavailable,
                            ConcurrentGuardedIncrements, WaitWakesOnAChangeUnderThePrefix,
                            WaitReportsEveryChangeAfterTheRevision, WaitTimesOutWithoutAChange,
                            WaitAfterACompactedRevisionSaysSo);

}  // namespace cvol::store

#endif  // CVOL_TESTS_UNIT_KV_STORE_CONTRACT_H_
