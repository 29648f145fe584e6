// This host's membership of the cluster (docs/cluster.md, "Membership and
// fencing"): joins under an etcd lease, renews it, and keeps the kernel
// lease of every local volume shorter than the etcd lease, so that by the
// time a controller sees this host's etcd lease expire, the host's volumes
// have fenced themselves -- whether the daemon is alive and cut off, hung,
// or dead.
//
//   active     lease renewed (or etcd has no quorum: nobody can expire it);
//              kernel leases renewed after each renewal
//   fenced     a renewal failed for half the TTL, or the lease is gone:
//              every volume is fenced (I/O held) at once
//   rejoining  a member again (the old lease, or a new one); the maps are
//              being reloaded from etcd before the volumes are unfenced
//
// What other hosts change reaches this one through a watch of the prefix
// (a thread of its own, blocked in KvStore::WaitForChange): a change of a
// pool, pv or volume record, or a move created or ended, runs the sync
// hook at once. Reading everything every 10 s stays as the fallback, and
// every other tick while the watch fails.
#ifndef CVOL_CVOLD_CLUSTER_AGENT_H_
#define CVOL_CVOLD_CLUSTER_AGENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cvol/cluster/membership.h"
#include "cvol/store/kv_store.h"

namespace cvol::daemon {

struct ClusterAgentOptions {
  std::string prefix;                  // etcd key prefix, e.g. "/cvol/"
  std::string host;                    // this host's member name
  std::vector<std::string> addresses;  // its peer address(es), host:port
  int64_t lease_ttl_s = 10;
};

class ClusterAgent {
 public:
  // What the agent asks of the daemon. sync and drive_changes are called
  // from a thread of their own: they take the service's lock, which a peer
  // request may hold for seconds, and that must never delay a renewal.
  // The others are called from the lease thread.
  struct Hooks {
    std::function<void(uint64_t lease_ms)> renew_kernel_leases;
    std::function<void()> fence_all;
    // Reload every local volume's map from etcd, then unfence under epoch,
    // each device under a kernel lease counted from renewal_sent (the send
    // time of the last etcd renewal, on the monotonic clock). An error
    // keeps the host fenced; the agent tries again.
    std::function<absl::Status(int64_t epoch, absl::Time renewal_sent)> reintegrate;
    // Activate volumes created elsewhere (runs while active).
    std::function<void()> sync;
    // This host is the Primary: drive every recorded change that has no
    // worker (on becoming the Primary, and again every TTL).
    std::function<void()> drive_changes;
    // A cluster event for `clusterctl events`.
    std::function<void(const std::string& type, const std::string& detail)> publish;
  };

  enum class State { kActive, kFenced, kRejoining };
  static const char* StateName(State state);

  // kv serves the other threads' reads (ReadView, CheckEpoch) and
  // revocations, and the watch (EtcdKvStore waits on a connection of their
  // own); lease_kv is the agent's own connection, for its lease and its
  // own reads, so that a slow request of another thread never delays a
  // renewal (docs/cluster.md). They may be the same store.
  ClusterAgent(store::KvStore& kv, store::KvStore& lease_kv, ClusterAgentOptions options,
               Hooks hooks);
  ~ClusterAgent();
  ClusterAgent(const ClusterAgent&) = delete;
  ClusterAgent& operator=(const ClusterAgent&) = delete;

  // Joins (retrying while the name is held by this host's previous,
  // still-live lease), reintegrates, and starts renewing.
  absl::Status Start();
  // Stops renewing and leaves (revokes the lease).
  void Stop();
  // Runs the drive_changes hook soon (on the agent's duty thread) if this
  // host is the Primary.
  void RequestDrive();

  // The controller of `epoch` could not reach a majority of the members
  // for too long: at its next renewal, if this host is still the Primary
  // of that epoch, it ranks itself last (Membership::StepDown) and the
  // next member takes the role over. Its volumes stay live.
  void RequestStepDown(int64_t epoch);

  // A volume's kernel lease ran out (lease_expired): the host counts as
  // fenced and re-integrates.
  void OnKernelFenced(const std::string& why);

  // The ranking, read from etcd now.
  absl::StatusOr<cluster::ClusterView> ReadView() const;
  // Ends another member's lease (the controller excludes a host that
  // keeps renewing but does not answer).
  absl::Status RevokeLease(int64_t lease);
  // OK if epoch is the current one (docs/cluster.md: stale controllers).
  absl::Status CheckEpoch(int64_t epoch) const;
  // And that sender is the host whose epoch it is (cluster::CheckController).
  absl::Status CheckController(int64_t epoch, const std::string& sender) const;

  const std::string& host() const { return options_.host; }
  const std::string& prefix() const { return options_.prefix; }
  int64_t lease_ttl_s() const { return options_.lease_ttl_s; }
  State state() const;
  int64_t fail_count() const;

  // What a device this host creates while active is unfenced under
  // (HostDevices::Activate): the send time of the last successful renewal
  // (on the monotonic clock; the kernel lease is counted from it) and the
  // current epoch (the one it re-integrated under, or a newer one read
  // since). None unless active: a fenced or rejoining host unfences
  // nothing but through re-integration.
  struct UnfenceBasis {
    absl::Time renewal_sent;
    int64_t epoch = 0;
  };
  std::optional<UnfenceBasis> ActiveUnfenceBasis() const;

  // The last view this agent read (for status and member list).
  cluster::ClusterView last_view() const;
  bool IsPrimary() const;

  // The key under which each member publishes its state.
  static std::string StateKey(const std::string& prefix, const std::string& host);

  // Whether a change the watch saw may change this host's devices (the
  // sync hook's work): a pool, pv or volume record, or a move created or
  // ended (a volume with a move taken up is left alone until it ends).
  static bool AffectsDevices(const std::string& prefix, const store::WatchEvent& event);

  // How often everything is read while the watch works, and the least
  // time between two syncs the watch asks for (a burst of changes, such
  // as a long run of moves committing, costs a few full reads a second).
  static constexpr absl::Duration kWatchedPoll = absl::Seconds(10);
  static constexpr absl::Duration kSyncSpacing = absl::Milliseconds(250);

 private:
  void Run();
  void Tick();
  // The watch thread: asks for a sync whenever a change affects devices.
  void Watch();
  // Sleeps d, or less if Stop() is called; true if stopping.
  bool SleepUnlessStopped(absl::Duration d);
  // Runs the sync hook soon (while active).
  void RequestSync();
  // Runs the hooks that may block (sync, drive_changes) when due.
  void RunDuties();
  bool DutyDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || sync_due_ || drive_due_;
  }
  void Lose(const std::string& why);
  // Renews every kernel lease to end 3/4 TTL after the last renewal was
  // sent (a quarter before the etcd lease can), unless less than a quarter
  // would be left.
  void RenewKernelLeasesFromLastRenewal();
  // Steps down if asked to and still the Primary of that epoch; true if
  // it did (the view is stale then).
  bool StepDownIfAsked(const cluster::ClusterView& view);
  void FollowRole(const cluster::ClusterView& view);
  absl::Status JoinOrRenew();
  absl::Status HoldLease(absl::Time* sent);
  absl::Status Rejoin();
  void PublishState();

  store::KvStore& kv_;
  store::KvStore& lease_kv_;
  const ClusterAgentOptions options_;
  const Hooks hooks_;
  const absl::Duration tick_;

  std::unique_ptr<cluster::Membership> membership_;  // agent thread only (after Start)
  bool quorum_lost_ = false;                         // etcd's members last said so
  bool keepalive_failed_ = false;                    // the last keepalive did
  int ticks_ = 0;
  int primary_ticks_ = 0;
  // Sync at the first active tick: changes made while this host was
  // fenced reached nobody here.
  bool sync_on_active_ = true;

  // The send time of the last successful renewal. Written by the agent's
  // thread only; read by others too (ActiveUnfenceBasis).
  absl::Time last_renewal_sent() const;
  void set_last_renewal_sent(absl::Time sent);

  mutable absl::Mutex mu_;
  absl::Time last_renewal_sent_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_) = State::kRejoining;
  int64_t fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  cluster::ClusterView view_ ABSL_GUARDED_BY(mu_);
  bool was_primary_ ABSL_GUARDED_BY(mu_) = false;
  int64_t primary_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool sync_due_ ABSL_GUARDED_BY(mu_) = false;
  bool drive_due_ ABSL_GUARDED_BY(mu_) = false;
  int64_t step_down_epoch_ ABSL_GUARDED_BY(mu_) = 0;  // 0: not asked
  bool watching_ ABSL_GUARDED_BY(mu_) = false;  // the last wait answered
  absl::Time last_sync_request_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic
  std::thread thread_;
  std::thread duties_thread_;
  std::thread watch_thread_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_CLUSTER_AGENT_H_
