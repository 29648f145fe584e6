// The membership agent's rule for etcd trouble (docs/cluster.md, "etcd
// without quorum"): a host that cannot reach etcd at all fences itself after
// half the lease TTL; a host whose etcd has lost its quorum (every member
// that answers has no leader) keeps its volumes running and its kernel
// leases renewed, because nobody can expire its lease or commit a change.
// A rejoining Primary drives the changes its own re-integration waits for.
// Another host's change reaches this one through the watch at once.
// Real time, short TTLs: the agent runs its own thread.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cluster_agent.h"
#include "clock.h"
#include "cvol/store/mem_kv_store.h"
#include "forwarding_kv_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cvol::daemon {
namespace {

using ::testing::Contains;
using ::testing::Not;

class ClusterAgentTest : public ::testing::Test {
 protected:
  static store::MemKvStoreOptions OneSecondLeases() {
    store::MemKvStoreOptions o;
    o.min_lease_ttl_seconds = 1;
    return o;
  }

  ClusterAgentTest() : kv_(OneSecondLeases()) {}
  ~ClusterAgentTest() override {
    kv_.SetUnavailable(false);
    kv_.SetQuorumLost(false);
    if (agent_) agent_->Stop();
  }

  // TTL 2 s: a tick every 333 ms, fenced after 1 s without a renewal.
  // Re-integration fails while changes_pending_ is set (a move in
  // progress); driving the changes clears it (the move ends).
  void StartAgent(ClusterAgent::State expected = ClusterAgent::State::kActive) {
    ClusterAgent::Hooks hooks;
    hooks.renew_kernel_leases = [this](uint64_t ms) {
      kernel_renewals_++;
      last_kernel_lease_ms_ = ms;
      kernel_lease_until_ns_ = absl::ToUnixNanos(absl::Now() + absl::Milliseconds(ms));
    };
    hooks.fence_all = [this] { fences_++; };
    hooks.reintegrate = [this](int64_t, absl::Time renewal_sent) {
      if (changes_pending_) return absl::UnavailableError("a move in progress");
      // As HostDevices: the kernel lease armed before the unfence ends 3/4
      // TTL after the renewal was sent; with less than a quarter TTL left
      // nothing is unfenced.
      if (model_kernel_lease_) {
        const absl::Duration ttl = absl::Seconds(2);
        const absl::Duration left = ttl * 3 / 4 - (SteadyClock().Now() - renewal_sent);
        if (left < ttl / 4) return absl::DeadlineExceededError("the last renewal is too old");
        kernel_lease_until_ns_ = absl::ToUnixNanos(absl::Now() + left);
      }
      return absl::OkStatus();
    };
    hooks.sync = [this] {
      syncs_++;
      absl::SleepFor(sync_takes_);
    };
    hooks.drive_changes = [this] {
      drives_++;
      if (agent_->IsPrimary()) changes_pending_ = false;
    };
    hooks.publish = [this](const std::string& type, const std::string&) {
      absl::MutexLock lock(&mu_);
      events_.push_back(type);
    };
    store::KvStore& kv = store_ != nullptr ? *store_ : kv_;
    agent_ = std::make_unique<ClusterAgent>(
        kv, kv, ClusterAgentOptions{"/t/", "h1", {"10.0.0.1:7450"}, 2}, std::move(hooks));
    ASSERT_TRUE(agent_->Start().ok());
    ASSERT_EQ(agent_->state(), expected);
  }

  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  store::MemKvStore kv_;
  store::KvStore* store_ = nullptr;  // the agent's store if set, else kv_
  std::unique_ptr<ClusterAgent> agent_;
  std::atomic<int> kernel_renewals_{0};
  std::atomic<uint64_t> last_kernel_lease_ms_{0};
  std::atomic<int64_t> kernel_lease_until_ns_{0};
  bool model_kernel_lease_ = false;  // set before StartAgent
  std::atomic<int> fences_{0};
  std::atomic<int> drives_{0};
  std::atomic<bool> changes_pending_{false};
  std::atomic<int> syncs_{0};
  absl::Duration sync_takes_ = absl::ZeroDuration();  // set before StartAgent
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ClusterAgentTest, UnreachableEtcdFencesAfterHalfTheTtl) {
  StartAgent();
  kv_.SetUnavailable(true);  // no member answers: the quorum may be elsewhere
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_EQ(fences_.load(), 1);
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kFenced);
  EXPECT_EQ(agent_->fail_count(), 1);
  EXPECT_THAT(events(), Contains("member_fenced"));
  EXPECT_THAT(events(), Not(Contains("etcd_quorum_lost")));
}

TEST_F(ClusterAgentTest, LostQuorumKeepsTheHostActiveAndItsKernelLeases) {
  StartAgent();
  kv_.SetQuorumLost(true);
  absl::SleepFor(absl::Milliseconds(200));
  const int renewals_at_loss = kernel_renewals_.load();
  // Three times as long as a host without a renewal may stay unfenced.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(fences_.load(), 0);
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_GE(kernel_renewals_.load(), renewals_at_loss + 5);
  // Still shorter than the etcd lease would be from the probe on.
  EXPECT_LE(last_kernel_lease_ms_.load(), 1500u);
  EXPECT_GE(last_kernel_lease_ms_.load(), 500u);
  EXPECT_THAT(events(), Contains("etcd_quorum_lost"));

  kv_.SetQuorumLost(false);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_THAT(events(), Contains("etcd_quorum_back"));
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_EQ(fences_.load(), 0);
  EXPECT_EQ(agent_->fail_count(), 0);
  // The lease survived (etcd's new leader renews every lease): the host
  // keeps renewing it and never rejoined.
  EXPECT_THAT(events(), Not(Contains("member_fenced")));
}

TEST_F(ClusterAgentTest, QuorumLossAfterTheDeadlineDoesNotUnfence) {
  StartAgent();
  kv_.SetUnavailable(true);
  absl::SleepFor(absl::Milliseconds(2000));
  ASSERT_EQ(agent_->state(), ClusterAgent::State::kFenced);
  // The lease may have expired before the quorum went: a report of no
  // leader now proves nothing about it.
  kv_.SetUnavailable(false);
  kv_.SetQuorumLost(true);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_NE(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_EQ(fences_.load(), 1);
}

// Sync waits for the service's lock, which a peer request may hold for
// seconds (a drain, a re-copy): the lease must be renewed all the same.
TEST_F(ClusterAgentTest, SlowSyncNeverDelaysARenewal) {
  sync_takes_ = absl::Seconds(3);  // three times the fence deadline
  StartAgent();
  absl::SleepFor(absl::Seconds(4));
  EXPECT_GE(syncs_.load(), 1);
  EXPECT_EQ(fences_.load(), 0);
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_GE(kernel_renewals_.load(), 8);
}

// The only member starts with a move on record: nobody else can finish it.
TEST_F(ClusterAgentTest, RejoiningPrimaryDrivesTheChangeItWaitsFor) {
  changes_pending_ = true;
  StartAgent(ClusterAgent::State::kRejoining);
  EXPECT_TRUE(agent_->IsPrimary());
  absl::SleepFor(absl::Seconds(1));
  EXPECT_GE(drives_.load(), 1);
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_THAT(events(), Contains("primary"));
}

// The Primary is fenced in the middle of a change (its worker stops: it is
// no longer the Primary), keeps its lease, and rejoins in the same epoch:
// it must drive the change again, or its re-integration waits forever.
TEST_F(ClusterAgentTest, PrimaryFencedMidChangeDrivesItAgainAfterRejoining) {
  StartAgent();
  absl::SleepFor(absl::Milliseconds(500));
  const int drives_before = drives_.load();
  EXPECT_GE(drives_before, 1);
  changes_pending_ = true;
  kv_.SetQuorumLost(false);
  kv_.SetUnavailable(true);
  absl::SleepFor(absl::Milliseconds(1500));
  ASSERT_EQ(agent_->state(), ClusterAgent::State::kFenced);
  EXPECT_FALSE(agent_->IsPrimary());
  kv_.SetUnavailable(false);
  // At most a TTL (six ticks) until the change is driven again.
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_GT(drives_.load(), drives_before);
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_EQ(agent_->fail_count(), 1);
}

// The kernel leases run on while the host is fenced and run out while it
// waits to rejoin (here: etcd unreachable for longer than the kernel
// lease). Re-integration arms each lease again before the unfence, counted
// from the rejoin's own renewal: it must get that renewal's send time, not
// an older one, or it never succeeds. (Found in the VM: cluster_faults, a
// host fenced while a move was in progress.)
TEST_F(ClusterAgentTest, RejoinUnfencesUnderALeaseFromItsOwnRenewal) {
  model_kernel_lease_ = true;
  StartAgent();
  kv_.SetUnavailable(true);
  absl::SleepFor(absl::Milliseconds(3000));  // fenced, and the kernel lease ran out
  ASSERT_EQ(agent_->state(), ClusterAgent::State::kFenced);
  ASSERT_GT(absl::ToUnixNanos(absl::Now()), kernel_lease_until_ns_.load());
  kv_.SetUnavailable(false);
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
  EXPECT_EQ(agent_->fail_count(), 1);
}

absl::Status Put(store::KvStore& kv, const std::string& key, const std::string& value) {
  return kv.Txn({}, {store::Op::Put(key, value)}).status();
}

// A change of a volume record reaches the sync hook at once (not at the
// next poll, which the watch puts off to every 10 s); a change that cannot
// affect this host's devices (a move's step, a member's state) does not.
TEST_F(ClusterAgentTest, AVolumeChangedElsewhereIsSyncedAtOnce) {
  StartAgent();
  absl::SleepFor(absl::Seconds(1));  // the first syncs (start, watch set up) are over
  const int settled = syncs_.load();
  ASSERT_GE(settled, 1);
  ASSERT_TRUE(Put(kv_, "/t/moves/p/v/00000000000000000001", "created").ok());
  ASSERT_TRUE(Put(kv_, "/t/moves/p/v/00000000000000000001", "step 2").ok());
  absl::SleepFor(absl::Milliseconds(500));
  const int after_create = syncs_.load();
  EXPECT_EQ(after_create, settled + 1);  // the move's creation, not its step
  ASSERT_TRUE(Put(kv_, "/t/member_state/h2", "fenced").ok());
  ASSERT_TRUE(Put(kv_, "/t/moves/p/v/00000000000000000001", "step 3").ok());
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(syncs_.load(), after_create);
  const absl::Time changed = absl::Now();
  ASSERT_TRUE(Put(kv_, "/t/volumes/p/v", "grown").ok());
  while (syncs_.load() == after_create && absl::Now() - changed < absl::Seconds(5)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(syncs_.load(), after_create + 1);
  // While the watch works the poll comes every 10 s: anything well under
  // that is the watch (typically a few ms; the bound leaves room for a
  // loaded machine under the sanitizers).
  EXPECT_LT(absl::Now() - changed, absl::Seconds(1));
}

TEST(ClusterAgentWatchTest, OnlyDeviceRecordsAndMoveStartsAndEndsMatter) {
  using T = store::WatchEvent::Type;
  auto affects = [](std::string key, T type, int64_t version) {
    return ClusterAgent::AffectsDevices("/c/", store::WatchEvent{type, std::move(key), 9, version});
  };
  EXPECT_TRUE(affects("/c/volumes/p/v", T::kPut, 4));
  EXPECT_TRUE(affects("/c/volumes/p/v", T::kDelete, 0));
  EXPECT_TRUE(affects("/c/pools/p", T::kPut, 7));
  EXPECT_TRUE(affects("/c/pvs/u", T::kPut, 1));
  EXPECT_TRUE(affects("/c/moves/p/v/1", T::kPut, 1));
  EXPECT_TRUE(affects("/c/moves/p/v/1", T::kDelete, 0));
  EXPECT_FALSE(affects("/c/moves/p/v/1", T::kPut, 2));
  EXPECT_FALSE(affects("/c/members/h1", T::kPut, 1));
  EXPECT_FALSE(affects("/c/member_state/h1", T::kPut, 3));
  EXPECT_FALSE(affects("/c/election/h1", T::kDelete, 0));
  EXPECT_FALSE(affects("/other/volumes/p/v", T::kPut, 1));
}

// A store that cannot watch (the default WaitForChange): the agent reads
// everything every other tick, as before the watch.
using NoWatchKv = store::ForwardingKvStore;

TEST_F(ClusterAgentTest, WithoutAWatchItPollsEveryOtherTick) {
  NoWatchKv no_watch(kv_);
  store_ = &no_watch;
  StartAgent();
  absl::SleepFor(absl::Seconds(2));
  // A tick every 333 ms: a sync every 667 ms, the first at once.
  EXPECT_GE(syncs_.load(), 3);
  EXPECT_LE(syncs_.load(), 5);
  agent_->Stop();
}

// A wait that failed (etcd restarted, a connection dropped) may have
// missed changes: once the store answers again, everything is read again.
TEST_F(ClusterAgentTest, AFailedWatchMeansASyncOnceEtcdAnswers) {
  StartAgent();
  absl::SleepFor(absl::Seconds(1));
  const int settled = syncs_.load();
  kv_.SetUnavailable(true);  // the wait in progress fails at once
  absl::SleepFor(absl::Milliseconds(50));
  kv_.SetUnavailable(false);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_GE(syncs_.load(), settled + 1);
  EXPECT_EQ(agent_->state(), ClusterAgent::State::kActive);
}

}  // namespace
}  // namespace cvol::daemon
