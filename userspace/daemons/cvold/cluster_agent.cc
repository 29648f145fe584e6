#include "cluster_agent.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clock.h"
#include "log.h"
#include "nlohmann/json.hpp"
#include "records.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
namespace {

// Lease arithmetic on the monotonic clock: an NTP step of the wall clock
// must not stretch a kernel lease past the etcd lease.
absl::Time MonotonicNow() {
  static SteadyClock clock;
  return clock.Now();
}

}  // namespace

const char* ClusterAgent::StateName(State state) {
  switch (state) {
    case State::kActive:
      return "active";
    case State::kFenced:
      return "fenced";
    case State::kRejoining:
      return "rejoining";
  }
  return "unknown";
}

ClusterAgent::ClusterAgent(store::KvStore& kv, store::KvStore& lease_kv,
                           ClusterAgentOptions options, Hooks hooks)
    : kv_(kv),
      lease_kv_(lease_kv),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      // Six renewals per TTL: a missed one or two still leave margin.
      tick_(std::max(absl::Milliseconds(100), absl::Seconds(options_.lease_ttl_s) / 6)) {}

ClusterAgent::~ClusterAgent() { Stop(); }

std::string ClusterAgent::StateKey(const std::string& prefix, const std::string& host) {
  return absl::StrCat(prefix, "member_state/", host);
}

ClusterAgent::State ClusterAgent::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

int64_t ClusterAgent::fail_count() const {
  absl::MutexLock lock(&mu_);
  return fail_count_;
}

std::optional<ClusterAgent::UnfenceBasis> ClusterAgent::ActiveUnfenceBasis() const {
  absl::MutexLock lock(&mu_);
  if (state_ != State::kActive) return std::nullopt;
  return UnfenceBasis{last_renewal_sent_, view_.epoch};
}

absl::Time ClusterAgent::last_renewal_sent() const {
  absl::MutexLock lock(&mu_);
  return last_renewal_sent_;
}

void ClusterAgent::set_last_renewal_sent(absl::Time sent) {
  absl::MutexLock lock(&mu_);
  last_renewal_sent_ = sent;
}

cluster::ClusterView ClusterAgent::last_view() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

// A rejoining host holds a lease and ranks like any member: if it is the
// Primary it must drive the changes that its own re-integration waits for
// (after a fence of every host, nobody else could).
bool ClusterAgent::IsPrimary() const {
  absl::MutexLock lock(&mu_);
  return state_ != State::kFenced && view_.primary() != nullptr &&
         view_.primary()->host == options_.host;
}

absl::StatusOr<cluster::ClusterView> ClusterAgent::ReadView() const {
  return cluster::Membership::Read(kv_, options_.prefix);
}

absl::Status ClusterAgent::RevokeLease(int64_t lease) { return kv_.LeaseRevoke(lease); }

absl::Status ClusterAgent::CheckEpoch(int64_t epoch) const {
  ASSIGN_OR_RETURN(int64_t current, cluster::Membership::ReadEpoch(kv_, options_.prefix));
  cluster::ClusterView view;
  view.epoch = current;
  return cluster::CheckEpoch(epoch, view);
}

absl::Status ClusterAgent::CheckController(int64_t epoch, const std::string& sender) const {
  ASSIGN_OR_RETURN(cluster::Leader leader, cluster::Membership::ReadLeader(kv_, options_.prefix));
  return cluster::CheckController(epoch, sender, leader);
}

absl::Status ClusterAgent::Start() {
  for (int attempt = 0;; ++attempt) {
    absl::Status s = JoinOrRenew();
    if (s.ok()) break;
    if (attempt % 20 == 0) LogWarning(absl::StrCat("cluster: join: ", s.message(), "; retrying"));
    absl::SleepFor(tick_);
  }
  // Re-integration may have to wait (a move in progress); the thread
  // retries it.
  if (absl::Status s = Rejoin(); !s.ok()) LogWarning(absl::StrCat("cluster: ", s.message()));
  thread_ = std::thread([this] { Run(); });
  duties_thread_ = std::thread([this] { RunDuties(); });
  watch_thread_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

void ClusterAgent::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (duties_thread_.joinable()) duties_thread_.join();
  // A wait ends by its timeout (a tick) at the latest.
  if (watch_thread_.joinable()) watch_thread_.join();
  if (membership_) {
    // Leaving ends the lease now, but the volumes stay live until their
    // kernel lease runs out: the marker tells every controller so.
    // Without the marker the lease is left to expire by itself (the kernel
    // leases end before it does).
    if (absl::Status s = cluster::Membership::MarkDeparting(lease_kv_, options_.prefix,
                                                           options_.host, options_.lease_ttl_s);
        !s.ok()) {
      LogWarning(absl::StrCat("cluster: leave: ", s.message(), "; the lease will expire instead"));
    } else if (absl::Status left = membership_->Leave(); !left.ok()) {
      LogWarning(absl::StrCat("cluster: leave: ", left.message()));
    }
  }
}

void ClusterAgent::RunDuties() {
  while (true) {
    bool sync, drive;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &ClusterAgent::DutyDue));
      if (stop_) return;
      sync = std::exchange(sync_due_, false);
      drive = std::exchange(drive_due_, false);
    }
    if (drive) hooks_.drive_changes();
    if (sync) hooks_.sync();
  }
}

void ClusterAgent::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), tick_)) return;
    }
    Tick();
  }
}

// Joins anew if the old lease is gone (or there is none), reloads the maps
// and unfences. The old lease, if it still lives, is kept: nobody can have
// excluded a host whose lease never expired.
absl::Status ClusterAgent::JoinOrRenew() {
  const absl::Time sent = MonotonicNow();
  if (membership_ == nullptr || !membership_->KeepAlive().ok()) {
    cluster::MemberInfo self{options_.host, options_.addresses};
    ASSIGN_OR_RETURN(
        std::unique_ptr<cluster::Membership> joined,
        cluster::Membership::Join(lease_kv_, options_.prefix, self, options_.lease_ttl_s));
    membership_ = std::move(joined);
    LogInfo(absl::StrCat("cluster: joined as ", options_.host, " (lease ", membership_->lease(),
                         ")"));
  }
  set_last_renewal_sent(sent);
  return absl::OkStatus();
}

absl::Status ClusterAgent::Rejoin() {
  absl::Status joined = JoinOrRenew();
  absl::StatusOr<cluster::ClusterView> view =
      joined.ok() ? cluster::Membership::Read(lease_kv_, options_.prefix) : joined;
  if (!view.ok()) {
    // Not a member for sure any more: no longer a candidate Primary.
    absl::MutexLock lock(&mu_);
    if (state_ == State::kRejoining) state_ = State::kFenced;
    return view.status();
  }
  State before;
  {
    absl::MutexLock lock(&mu_);
    view_ = *view;
    before = state_;
    state_ = State::kRejoining;
  }
  // Others see a fenced host that waits to re-integrate (a move on its
  // volumes) as rejoining; once per fence, not once per attempt.
  if (before == State::kFenced) PublishState();
  // Re-integration arms each device's kernel lease from the renewal just
  // before it unfences it: however long re-integration takes, no kernel
  // lease outlasts the etcd lease.
  if (absl::Status s = hooks_.reintegrate(view->epoch, last_renewal_sent()); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    state_ = State::kActive;
  }
  RenewKernelLeasesFromLastRenewal();
  PublishState();
  hooks_.publish("member_active", absl::StrCat("epoch ", view->epoch));
  LogInfo(absl::StrCat("cluster: ", options_.host, " is active (epoch ", view->epoch, ", ",
                       view->members.size(), " member(s))"));
  return absl::OkStatus();
}

// The kernel lease runs from now; it must end before the etcd lease, which
// runs from when etcd got the renewal (after it was sent), with a quarter
// of the TTL to spare. A renewal that took so long that less than a
// quarter would be left is not passed on: the next one comes.
void ClusterAgent::RenewKernelLeasesFromLastRenewal() {
  const absl::Duration ttl = absl::Seconds(options_.lease_ttl_s);
  const absl::Duration kernel_lease = ttl * 3 / 4 - (MonotonicNow() - last_renewal_sent());
  if (kernel_lease >= ttl / 4) {
    hooks_.renew_kernel_leases(static_cast<uint64_t>(absl::ToInt64Milliseconds(kernel_lease)));
  }
}

void ClusterAgent::Lose(const std::string& why) {
  bool was_active;
  {
    absl::MutexLock lock(&mu_);
    was_active = state_ == State::kActive;
    if (was_active) {
      state_ = State::kFenced;
      ++fail_count_;
      // Its controller work ends here (IsPrimary is false while fenced): a
      // Primary after the rejoin takes the changes over as a new one.
      was_primary_ = false;
    }
  }
  if (!was_active) return;
  // Fence first: a controller may exclude this host as soon as the lease
  // is gone, and the kernel lease may still have a moment to run.
  hooks_.fence_all();
  LogError(absl::StrCat("cluster: fenced this host's volumes: ", why));
  hooks_.publish("member_fenced", why);
}

void ClusterAgent::OnKernelFenced(const std::string& why) {
  // The etcd lease may well be alive (the daemon was only slow): Rejoin
  // keeps it, reloads the maps and unfences.
  Lose(why);
}

// OK if the etcd lease lasts at least a TTL from *sent: it was renewed, or
// etcd has no quorum. Without a quorum nobody can expire a lease or commit
// a change, and etcd's next leader gives every lease its whole TTL again
// (docs/cluster.md, "etcd without quorum"). After a failed keepalive the
// members are asked first: a keepalive would only wait for its timeouts.
absl::Status ClusterAgent::HoldLease(absl::Time* sent) {
  absl::Status renewed = absl::UnavailableError("etcd has no quorum");
  bool probed = false;
  absl::StatusOr<store::QuorumReport> q = absl::UnavailableError("not asked");
  if (quorum_lost_ || keepalive_failed_) {
    *sent = MonotonicNow();
    q = lease_kv_.ProbeQuorum();
    probed = true;
  }
  if (!probed || !(q.ok() && q->Lost())) {
    *sent = MonotonicNow();
    renewed = membership_->KeepAlive();
    keepalive_failed_ = !renewed.ok();
    if (renewed.ok() && quorum_lost_) {
      quorum_lost_ = false;
      LogInfo("cluster: etcd has a leader again");
      hooks_.publish("etcd_quorum_back", "the lease was renewed");
    }
    if (renewed.ok() || renewed.code() == absl::StatusCode::kNotFound) return renewed;
    *sent = MonotonicNow();
    q = lease_kv_.ProbeQuorum();
  }
  const bool lost = q.ok() && q->Lost();
  if (lost && !quorum_lost_) {
    quorum_lost_ = true;
    const std::string detail =
        absl::StrCat(q->answered, " of ", q->members, " etcd members answered, all without a ",
                     "leader; ", q->refused, " refused the connection");
    LogWarning(absl::StrCat("cluster: etcd has lost its quorum (", detail,
                            "); I/O goes on with the current maps, changes wait"));
    hooks_.publish("etcd_quorum_lost", detail);
  }
  // A member has a leader again but the keepalive failed: the next tick
  // tries again, within the usual deadline.
  return lost ? absl::OkStatus() : renewed;
}

void ClusterAgent::Tick() {
  if (state() != State::kActive) {
    sync_on_active_ = true;
    if (absl::Status s = Rejoin(); !s.ok() && ++ticks_ % 20 == 0) {
      LogWarning(absl::StrCat("cluster: rejoin: ", s.message()));
    }
    if (state() == State::kRejoining) FollowRole(last_view());
    return;
  }
  const absl::Duration ttl = absl::Seconds(options_.lease_ttl_s);
  absl::Time sent;
  absl::Status held = HoldLease(&sent);
  if (held.code() == absl::StatusCode::kNotFound) {
    Lose(std::string(held.message()));
    return;
  }
  // A renewal counts however late it is. A quorum report counts only
  // while the kernel leases still run (5/8 of the TTL, with margin, since
  // the last renewal): the etcd lease may have expired while etcd still
  // had a quorum, before it lost it. Without either, the host fences after
  // half the TTL.
  const bool renewed = held.ok() && !quorum_lost_;
  const absl::Duration deadline = held.ok() ? ttl * 5 / 8 : ttl / 2;
  const absl::Duration since = MonotonicNow() - last_renewal_sent();
  if (!renewed && since > deadline) {
    Lose(absl::StrCat("the lease could not be renewed for ", absl::FormatDuration(since), ": ",
                      held.ok() ? "etcd has no quorum" : held.message()));
    return;
  }
  if (!held.ok()) return;
  set_last_renewal_sent(sent);
  RenewKernelLeasesFromLastRenewal();
  if (quorum_lost_) return;  // nothing to read until a leader is back
  absl::StatusOr<cluster::ClusterView> view = cluster::Membership::Read(lease_kv_, options_.prefix);
  if (!view.ok()) return;
  if (StepDownIfAsked(*view)) {
    view = cluster::Membership::Read(lease_kv_, options_.prefix);
    if (!view.ok()) return;
  }
  FollowRole(*view);
  // The fallback for what the watch may miss (it failed, or this host was
  // not active when the change came).
  bool poll;
  {
    absl::MutexLock lock(&mu_);
    const absl::Duration every = watching_ ? kWatchedPoll : 2 * tick_;
    poll = MonotonicNow() - last_sync_request_ >= every;
  }
  if (std::exchange(sync_on_active_, false) || poll) RequestSync();
}

void ClusterAgent::RequestSync() {
  absl::MutexLock lock(&mu_);
  if (state_ != State::kActive) return;
  sync_due_ = true;
  last_sync_request_ = MonotonicNow();
}

bool ClusterAgent::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
}

bool ClusterAgent::AffectsDevices(const std::string& prefix, const store::WatchEvent& event) {
  if (!absl::StartsWith(event.key, prefix)) return false;
  const absl::string_view rest = absl::string_view(event.key).substr(prefix.size());
  if (absl::StartsWith(rest, "pools/") || absl::StartsWith(rest, "pvs/") ||
      absl::StartsWith(rest, "volumes/")) {
    return true;
  }
  // A move's steps change nothing here; its start (the table must list
  // the destination) and its end (the volume is synced again) do.
  return absl::StartsWith(rest, "moves/") &&
         (event.type == store::WatchEvent::Type::kDelete || event.version == 1);
}

// Each wait starts where the last one ended, so no change is missed between
// two waits. Without a position (at start, after an error, or when the
// history was compacted) the position is read first and then one sync runs:
// it reads at or after that position, so together they miss nothing.
void ClusterAgent::Watch() {
  int64_t after = 0;
  bool warned = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (after == 0) {
      absl::StatusOr<store::RangeResult> now =
          kv_.Range(absl::StrCat(options_.prefix, "pools/"));
      if (!now.ok()) {
        if (SleepUnlessStopped(tick_)) return;
        continue;
      }
      after = now->revision;
      RequestSync();
    }
    // A tick at most, so that Stop() never waits long for this thread.
    absl::StatusOr<store::WatchResult> r = kv_.WaitForChange(options_.prefix, after, tick_);
    if (r.status().code() == absl::StatusCode::kUnimplemented) {
      LogInfo("cluster: the store cannot watch; reading it every other tick");
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      watching_ = r.ok();
    }
    if (!r.ok()) {
      if (!std::exchange(warned, true)) {
        LogWarning(absl::StrCat("cluster: watch: ", r.status().message(),
                                "; reading etcd every other tick until it works again"));
      }
      after = 0;  // etcd may have restarted: read everything again when it answers
      if (SleepUnlessStopped(tick_)) return;
      continue;
    }
    if (std::exchange(warned, false)) LogInfo("cluster: watch: working again");
    switch (r->outcome) {
      case store::WatchResult::Outcome::kTimedOut:
        break;
      case store::WatchResult::Outcome::kCompacted:
        after = 0;
        break;
      case store::WatchResult::Outcome::kChanged:
        after = r->revision;
        for (const store::WatchEvent& e : r->events) {
          if (!AffectsDevices(options_.prefix, e)) continue;
          RequestSync();
          if (SleepUnlessStopped(kSyncSpacing)) return;
          break;
        }
        break;
    }
  }
}

// A new epoch makes this host the Primary anew even if it was the Primary
// before: a fence in between ended its controller's work. The Primary also
// drives the changes again every TTL, because a worker that stopped while
// this host was fenced (it was not the Primary then) is not restarted by
// anything else; the hook skips changes whose worker runs.
void ClusterAgent::FollowRole(const cluster::ClusterView& view) {
  const bool now_primary = view.primary() != nullptr && view.primary()->host == options_.host;
  bool became;
  {
    absl::MutexLock lock(&mu_);
    view_ = view;
    became = now_primary && (!was_primary_ || primary_epoch_ != view.epoch);
    was_primary_ = now_primary;
    if (now_primary) primary_epoch_ = view.epoch;
  }
  if (became) {
    LogInfo(absl::StrCat("cluster: ", options_.host, " is the Primary (epoch ", view.epoch, ")"));
    hooks_.publish("primary", absl::StrCat("epoch ", view.epoch));
  }
  if (became || (now_primary && ++primary_ticks_ % 6 == 0)) {
    absl::MutexLock lock(&mu_);
    drive_due_ = true;
  }
}

void ClusterAgent::RequestStepDown(int64_t epoch) {
  absl::MutexLock lock(&mu_);
  step_down_epoch_ = epoch;
}

// On the agent's thread, which alone may use membership_. A successor's
// epoch is larger: the request of an older one is dropped.
bool ClusterAgent::StepDownIfAsked(const cluster::ClusterView& view) {
  int64_t asked;
  {
    absl::MutexLock lock(&mu_);
    asked = std::exchange(step_down_epoch_, 0);
  }
  if (asked == 0 || asked != view.epoch || view.primary() == nullptr ||
      view.primary()->host != options_.host) {
    return false;
  }
  if (absl::Status s = membership_->StepDown(); !s.ok()) {
    // The next request (the controller asks again while it is cut off)
    // tries again.
    LogWarning(absl::StrCat("cluster: stepping down: ", s.message()));
    return false;
  }
  const std::string detail =
      absl::StrCat("epoch ", view.epoch, ": no majority of the members answered its controller");
  LogWarning(absl::StrCat("cluster: ", options_.host, " stepped down as the Primary (", detail,
                          ")"));
  hooks_.publish("primary_stepped_down", detail);
  return true;
}

void ClusterAgent::RequestDrive() {
  absl::MutexLock lock(&mu_);
  if (was_primary_) drive_due_ = true;
}

void ClusterAgent::PublishState() {
  nlohmann::json j{{"state", StateName(state())},
                   {"fail_count", fail_count()},
                   {"since_ns", WallClockNs()}};
  const store::Op put =
      store::Op::Put(StateKey(options_.prefix, options_.host), j.dump(), membership_->lease());
  if (absl::StatusOr<store::TxnResult> r = lease_kv_.Txn({}, {&put, 1}); !r.ok()) {
    LogWarning(absl::StrCat("cluster: publishing the member state: ", r.status().message()));
  }
}

}  // namespace cvol::daemon
