// The membership agent's rule for etcd trouble (docs/cluster.md, "etcd
// without quorum"): a host that cannot reach etcd at all fences itself after
// half the lease TTL; a host whose etcd has lost its quorum (every member
// that answers has no leader) keeps its volumes running and its kernel
// leases renewed, because nobody can expire its lease or commit a change.
// A rejoining Primary drives the changes its own re-integration waits for.
// Real time, short TTLs: the agent runs its own thread.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cluster_agent.h"
#include "cvol/store/mem_kv_store.h"
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
    hooks.reintegrate = [this](int64_t) {
      if (changes_pending_) return absl::UnavailableError("a move in progress");
      // The kernel refuses to unfence a volume whose lease ran out.
      if (model_kernel_lease_ && absl::ToUnixNanos(absl::Now()) > kernel_lease_until_ns_) {
        return absl::DeadlineExceededError("unfence: the kernel lease ran out");
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
    agent_ = std::make_unique<ClusterAgent>(
        kv_, kv_, ClusterAgentOptions{"/t/", "h1", {"10.0.0.1:7450"}, 2}, std::move(hooks));
    ASSERT_TRUE(agent_->Start().ok());
    ASSERT_EQ(agent_->state(), expected);
  }

  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  store::MemKvStore kv_;
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
// lease). The kernel refuses to unfence under a lease that ran out, so the
// rejoin must renew them first, or it never succeeds. (Found in the VM:
// cluster_faults, a host fenced while a move was in progress.)
TEST_F(ClusterAgentTest, RejoinRenewsTheKernelLeasesBeforeUnfencing) {
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

}  // namespace
}  // namespace cvol::daemon
