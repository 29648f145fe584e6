// EtcdKvStore against a real etcd: the KvStore contract, plus endpoint
// handling and transport errors. One etcd (/usr/bin/etcd, package
// etcd-server) is started per test process on free local ports and a
// temporary data dir; its absence is a failure, not a skip.
#include "cvol/store/etcd_kv_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "etcd_test_process.h"
#include "kv_store_contract.h"

namespace cvol::store {
namespace {

using etcd_test::ClosedPortUrl;
using etcd_test::EtcdProcess;
using etcd_test::LocalSocket;

// The plain-http etcd of these tests: allowed explicitly.
EtcdKvStore::Options Insecure() {
  EtcdKvStore::Options options;
  options.allow_insecure = true;
  return options;
}

// The one etcd of this process, started by the first test that needs it
// (MemKvStore tests in the same binary never pay for it).
struct SharedEtcd {
  static absl::StatusOr<EtcdProcess*> Get() {
    if (!started) {
      started = true;
      absl::StatusOr<std::unique_ptr<EtcdProcess>> p = EtcdProcess::Start();
      if (p.ok()) {
        process = *std::move(p);
      } else {
        error = p.status();
      }
    }
    if (process == nullptr) return error;
    return process.get();
  }
  static inline bool started = false;
  static inline std::unique_ptr<EtcdProcess> process;
  static inline absl::Status error;
};

class StopEtcdEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedEtcd::process.reset(); }
};
[[maybe_unused]] ::testing::Environment* const kStopEtcd =
    ::testing::AddGlobalTestEnvironment(new StopEtcdEnvironment);

class EtcdHarness {
 public:
  // A store on the shared etcd, emptied (revisions keep counting).
  std::unique_ptr<KvStore> NewStore() {
    absl::StatusOr<EtcdProcess*> etcd = SharedEtcd::Get();
    if (!etcd.ok()) {
      ADD_FAILURE() << "cannot start etcd: " << etcd.status();
      return nullptr;
    }
    absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
        EtcdKvStore::Connect((*etcd)->endpoint(), Insecure());
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      return nullptr;
    }
    absl::StatusOr<TxnResult> wipe = (*store)->Txn({}, {Op::DeletePrefix("")});
    if (!wipe.ok()) {
      ADD_FAILURE() << "cannot empty etcd: " << wipe.status();
      return nullptr;
    }
    return *std::move(store);
  }

  std::unique_ptr<KvStore> NewUnavailableStore() {
    EtcdKvStore::Options options = Insecure();
    options.require_reachable = false;
    absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
        EtcdKvStore::Connect(ClosedPortUrl(), options);
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      return nullptr;
    }
    return *std::move(store);
  }

  void Wait(absl::Duration d) { absl::SleepFor(d); }
  absl::Status Compact(KvStore& store, int64_t revision) {
    return static_cast<EtcdKvStore&>(store).Compact(revision);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Etcd, KvStoreContract, EtcdHarness);

std::string RealEndpoint() {
  absl::StatusOr<EtcdProcess*> etcd = SharedEtcd::Get();
  EXPECT_TRUE(etcd.ok()) << etcd.status();
  return etcd.ok() ? (*etcd)->endpoint() : "";
}

TEST(EtcdPrefixRangeEndTest, MatchesEtcdsGetPrefixRangeEnd) {
  EXPECT_EQ(EtcdPrefixRangeEnd("/a/"), "/a0");
  EXPECT_EQ(EtcdPrefixRangeEnd("a"), "b");
  EXPECT_EQ(EtcdPrefixRangeEnd("a\xff"), "b");
  EXPECT_EQ(EtcdPrefixRangeEnd("a\xfe"), "a\xff");
  EXPECT_EQ(EtcdPrefixRangeEnd("a\xff\xff"), "b");
  EXPECT_EQ(EtcdPrefixRangeEnd(std::string("a\x00", 2)), "a\x01");
  EXPECT_EQ(EtcdPrefixRangeEnd(""), std::string(1, '\0'));
  EXPECT_EQ(EtcdPrefixRangeEnd("\xff\xff"), std::string(1, '\0'));
}

TEST(EtcdKvStoreTest, MalformedEndpointsAreInvalidArgument) {
  for (const char* endpoints : {"", " , ", "127.0.0.1:2379", "https://127.0.0.1:2379",
                                "http://", "http://127.0.0.1:2379,etcd:2379"}) {
    EXPECT_EQ(EtcdKvStore::Connect(endpoints, Insecure()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << endpoints;
  }
}

TEST(EtcdKvStoreTest, ClosedPortIsUnavailableAndNamed) {
  const std::string url = ClosedPortUrl();
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store = EtcdKvStore::Connect(url, Insecure());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(store.status().message(), url)) << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "check that etcd is running"))
      << store.status();
}

TEST(EtcdKvStoreTest, FailsOverToTheNextEndpointAndRemembersIt) {
  const std::string real = RealEndpoint();
  const std::string dead = ClosedPortUrl();
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect(absl::StrCat(dead, ", ", real, "/"), Insecure());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->endpoint(), real);
  absl::StatusOr<TxnResult> r = (*store)->Txn({}, {Op::Put("/failover", "1")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*store)->endpoint(), real);
}

TEST(EtcdKvStoreTest, StartsWhileEtcdIsDownWhenAllowed) {
  EtcdKvStore::Options options = Insecure();
  options.require_reachable = false;
  const std::string dead = ClosedPortUrl();
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store = EtcdKvStore::Connect(dead, options);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Status s = (*store)->Get("/k").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(s.message(), dead)) << s;
}

// An endpoint that accepts connections and never answers: the request
// times out within the option's bound, and a write says its outcome is
// unknown instead of being retried elsewhere.
// A healthy member reports its leader; a closed port refuses the
// connection (that member is not running) but still counts as a member.
TEST(EtcdKvStoreTest, ProbeQuorumAsksEveryMember) {
  const std::string real = RealEndpoint();
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store = EtcdKvStore::Connect(real, Insecure());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<QuorumReport> healthy = (*store)->ProbeQuorum();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_EQ(healthy->members, 1u);
  EXPECT_EQ(healthy->answered, 1u);
  EXPECT_EQ(healthy->leaderless, 0u);
  EXPECT_EQ(healthy->refused, 0u);
  EXPECT_FALSE(healthy->Lost());

  absl::StatusOr<std::unique_ptr<EtcdKvStore>> half =
      EtcdKvStore::Connect(absl::StrCat(ClosedPortUrl(), ",", real), Insecure());
  ASSERT_TRUE(half.ok()) << half.status();
  absl::StatusOr<QuorumReport> report = (*half)->ProbeQuorum();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->members, 2u);
  EXPECT_EQ(report->answered, 1u);
  EXPECT_EQ(report->refused, 1u);
  EXPECT_FALSE(report->Lost());  // the one that answered has a leader
}

// {members, answered, leaderless, refused}
TEST(QuorumReportTest, LostOnlyWhenNoMajorityCanHaveALeader) {
  EXPECT_TRUE((QuorumReport{3, 1, 1, 2}.Lost()));   // two members down
  EXPECT_TRUE((QuorumReport{3, 3, 3, 0}.Lost()));   // all up, no leader
  EXPECT_TRUE((QuorumReport{3, 1, 1, 1}.Lost()));   // one unknown cannot be a majority
  EXPECT_TRUE((QuorumReport{3, 0, 0, 3}.Lost()));   // etcd down everywhere
  EXPECT_FALSE((QuorumReport{3, 1, 1, 0}.Lost()));  // the other two may have a leader
  EXPECT_FALSE((QuorumReport{3, 2, 1, 1}.Lost()));  // one member has a leader
  EXPECT_FALSE((QuorumReport{5, 2, 2, 0}.Lost()));  // three unknown: a majority
  EXPECT_FALSE((QuorumReport{3, 0, 0, 0}.Lost()));  // cut off: nothing known
  EXPECT_FALSE((QuorumReport{0, 0, 0, 0}.Lost()));
}

TEST(EtcdKvStoreTest, SilentEndpointTimesOut) {
  LocalSocket hole;
  hole.Listen();
  EtcdKvStore::Options options = Insecure();
  options.timeout = absl::Milliseconds(300);
  options.require_reachable = false;
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect(absl::StrCat(hole.url(), ",", RealEndpoint()), options);
  ASSERT_TRUE(store.ok()) << store.status();

  const absl::Time start = absl::Now();
  absl::StatusOr<TxnResult> txn = (*store)->Txn({}, {Op::Put("/silent", "1")});
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(txn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(txn.status().message(), "outcome is unknown")) << txn.status();

  // A read is safe to repeat: it moves on to the real etcd.
  absl::StatusOr<std::optional<KeyValue>> kv = (*store)->Get("/silent");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ((*store)->endpoint(), RealEndpoint());
}

// etcd stopped while a wait blocks: the wait fails at once (the gateway
// sends an error, or the connection drops), and later waits fail fast
// while nothing listens. Never a wait to the timeout, never a hang.
TEST(EtcdKvStoreTest, WaitFailsWhenEtcdStops) {
  absl::StatusOr<std::unique_ptr<EtcdProcess>> own = EtcdProcess::Start();
  ASSERT_TRUE(own.ok()) << own.status();
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect((*own)->endpoint(), Insecure());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<RangeResult> now = (*store)->Range("/w/");
  ASSERT_TRUE(now.ok()) << now.status();
  absl::StatusOr<WatchResult> waited = absl::UnknownError("not run");
  absl::Duration took;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    waited = (*store)->WaitForChange("/w/", now->revision, absl::Seconds(60));
    took = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(500));  // the watch is set up
  own->reset();                             // SIGTERM, then SIGKILL after 5 s
  waiter.join();
  EXPECT_EQ(waited.status().code(), absl::StatusCode::kUnavailable) << waited.status();
  EXPECT_LT(took, absl::Seconds(10));
  const absl::Time start = absl::Now();
  absl::StatusOr<WatchResult> again =
      (*store)->WaitForChange("/w/", now->revision, absl::Seconds(60));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable) << again.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// An endpoint that accepts the connection and never answers: the wait
// ends with an error at its timeout, not a hang.
TEST(EtcdKvStoreTest, WaitOnASilentEndpointEndsAtItsTimeout) {
  LocalSocket hole;
  hole.Listen();
  EtcdKvStore::Options options = Insecure();
  options.require_reachable = false;
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect(hole.url(), options);
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<WatchResult> r = (*store)->WaitForChange("/w/", 1, absl::Milliseconds(500));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "never created")) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// A revision as large as int64 allows (from something posing as etcd)
// cannot be watched after: refused, not overflowed.
TEST(EtcdKvStoreTest, WatchAfterTheLastRevisionIsRefused) {
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect(RealEndpoint(), Insecure());
  ASSERT_TRUE(store.ok()) << store.status();
  for (int64_t bad : {std::numeric_limits<int64_t>::max(), int64_t{-1}}) {
    absl::StatusOr<WatchResult> r = (*store)->WaitForChange("/w/", bad, absl::Seconds(1));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(EtcdKvStoreTest, EtcdErrorsKeepTheirCodeAndMessage) {
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect(RealEndpoint(), Insecure());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<TxnResult> r =
      (*store)->Txn({}, {Op::Put("/dup", "1"), Op::Put("/dup", "2")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "duplicate key")) << r.status();
  absl::Status s = (*store)->LeaseRevoke(0x12345);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), "lease not found")) << s;
}

}  // namespace
}  // namespace cvol::store
