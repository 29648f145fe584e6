// The configuration-change controller of a cluster move (docs/cluster.md).
// It runs on the Primary only. The move record in etcd carries the step,
// the epoch, the hosts that follow the migration and the hosts taken out
// of the change, so a new Primary reads where its predecessor stopped:
//
//   follow   every other host starts a follow migration (dual-writes every
//            write to the extent, tracks the regions it wrote); the hosts
//            that did are recorded
//   copy     the Primary's kernel copies the extent until ready
//   freeze   every member freezes the extent and drains; followers report
//            their dirty regions; the Primary re-copies those (all of it if
//            a recorded follower is gone or a host was excluded) while
//            nothing moves; every freeze is checked to have held
//            throughout; then etcd gets the new map (phase committing)
//   apply    every member switches the extent to the destination
//   release  every member thaws; the record is deleted (frees the source)
//   abort    every member ends its migration and thaws; the record is
//            deleted (frees the destination); the source has every write
//
// Only a member that does not answer is excluded, never one that answers
// no (that one is asked again): all the silent ones at once, one lease TTL
// for all of them, and only while the members that answer are a majority
// (a controller cut off from most of the cluster must not fence it; after
// two TTLs without a majority it steps down instead, so that a host that
// reaches the others takes the change over). An exclusion is recorded in
// etcd before the change goes on.
//
// Everything it touches is a port (KernelPort, PeerCaller, Clock, the
// KvStore), so the seeded simulation drives this very code.
#ifndef CVOL_CVOLD_MOVE_CONTROLLER_H_
#define CVOL_CVOLD_MOVE_CONTROLLER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "change_messages.h"
#include "clock.h"
#include "config_db.h"
#include "cvol/cluster/membership.h"
#include "cvol/store/kv_store.h"
#include "kernel_port.h"
#include "linux/dm-cvol.h"
#include "nlohmann/json.hpp"
#include "peer_caller.h"

namespace cvol::daemon {

class MoveController {
 public:
  using Json = nlohmann::json;

  struct Options {
    absl::Duration peer_deadline = absl::Seconds(5);
    // A cluster freeze holds I/O at most this long (it outlasts a lease
    // TTL, so a silent host is fenced before its freeze could thaw).
    uint64_t freeze_timeout_ms = 30000;
    absl::Duration move_poll = absl::Milliseconds(100);
    // While the kernel copies, how often the step reads etcd and the view
    // again (the kernel is polled every move_poll).
    absl::Duration copy_recheck = absl::Seconds(1);
    // Before asking again a member that said no, or etcd when it is away.
    absl::Duration retry_pause = absl::Seconds(1);
    // Refusals before a change that is not committed is rolled back.
    int max_refusals = 30;
    // Moves of one volume under way at once: the kernel's default
    // max_migrations (migrate_throttle); the others queue.
    size_t migrations_per_volume = CVOL_DEFAULT_MIGRATIONS;
    // Commits of the new map tried at once when another move of the pool
    // committed first, before the freeze step is redone.
    int commit_attempts = 5;
    // A Primary that has not heard from a majority of the members for this
    // many lease TTLs steps down (it reaches etcd, or it could not run
    // changes at all): a host that reaches them takes over.
    int step_down_after_ttls = 2;
  };

  struct Deps {
    store::KvStore* kv = nullptr;
    ConfigDb* db = nullptr;
    std::string prefix;
    std::string self;
    int64_t lease_ttl_s = 10;
    KernelPort* kernel = nullptr;
    PeerCaller* peers = nullptr;
    Clock* clock = nullptr;
    std::function<bool()> is_primary;
    // This host is an active member (not fenced, not re-integrating).
    std::function<bool()> host_active;
    std::function<void(Json)> publish;
    // Hand the Primary role of `epoch` on (ClusterAgent::RequestStepDown).
    std::function<void(int64_t epoch)> step_down;
    // What clusterctl's progress shows of a move.
    std::function<void(const std::string& key, const std::string& phase, uint64_t copied,
                       uint64_t regions)>
        set_phase;
    // The move's record as read at each step (render it when it changed).
    std::function<void(const std::string& key, const Versioned<MoveRecord>& move)> remember;
    // Named points where the VM tests inject a crash or a stall
    // ("crash_at:<step>", "stall_at:<step>", "crash_in:freeze",
    // "stall_before:<request>"). May be empty.
    std::function<void(const std::string& point)> fault_point;
  };

  // What RunStep asks of its caller.
  struct Next {
    bool done = false;  // the record is gone: the move is over
    absl::Duration wait = absl::ZeroDuration();  // before the next step
  };

  MoveController(Deps deps, Options options);

  // Whether the move under key may be taken up now: fewer than per_volume
  // other moves of its volume are taken up or wait ahead of it (in key
  // order).
  static bool MayStartMigrations(const Snapshot& snap, const std::string& key,
                                 size_t per_volume);
  // The same from the moves of the key's volume alone (ConfigDb::LoadMovesOf).
  static bool MayStartMigrations(const std::map<std::string, Versioned<MoveRecord>>& moves,
                                 const std::string& key, size_t per_volume);
  // No controller has taken it up yet: no member runs its migration.
  static bool WaitsToStart(const MoveRecord& m);

  // One step of the move recorded under key (its records re-read from
  // etcd each time, not the whole prefix: ConfigDb::LoadMove).
  // Errors end the drive: kCancelled (no longer the Primary), kAborted
  // (rolled back to the source), others (the record is inconsistent).
  absl::StatusOr<Next> RunStep(const std::string& key);

 private:
  struct Context;
  // The answers of one round of requests.
  struct Round {
    std::map<std::string, Json> replies;    // by host
    std::vector<cluster::Member> silent;    // no answer in time
    std::map<std::string, absl::Status> refused;  // answered no
    // More than half of the view's members answered (this host included).
    bool majority = false;
  };

  absl::StatusOr<Next> TakeOver(Context& c);
  absl::StatusOr<Next> Follow(Context& c);
  absl::StatusOr<Next> Copy(Context& c);
  absl::StatusOr<Next> Freeze(Context& c);
  absl::StatusOr<Next> Apply(Context& c);
  absl::StatusOr<Next> Finish(Context& c, bool abort);

  Round AskRound(Context& c, const std::string& type, const Json& body, bool include_self);
  void ThawAll(Context& c);
  // A new freeze round's number (RecopyRequest::round).
  uint64_t NextRound();
  // Asks this host's handler to re-copy, and again until it is done.
  absl::StatusOr<RecopyReply> Recopy(Context& c, const RecopyRequest& request);
  // Takes the round's silent hosts out of the change if a majority
  // answered; otherwise waits, or steps down (WithoutMajority).
  absl::StatusOr<Next> Exclude(Context& c, const Round& round);
  // Takes out followers that left the view (their lease ended).
  absl::StatusOr<Next> ExcludeGone(Context& c, const std::vector<std::string>& gone);
  // Takes hosts out of the control range: revokes the leases of the ones
  // still renewing, waits one TTL for all (by then each has fenced itself,
  // by its daemon or its kernel lease), and records them in the move.
  absl::StatusOr<Next> TakeOut(Context& c, const std::vector<cluster::Member>& silent,
                               const std::vector<std::string>& gone);
  // No majority answered: wait, or step down once that has lasted
  // step_down_after_ttls.
  absl::StatusOr<Next> WithoutMajority(Context& c, const std::vector<cluster::Member>& silent);
  // Commits the record with the next step; a conflict or an absent etcd
  // means "step again".
  absl::StatusOr<Next> SetStep(Context& c, MoveRecord::Step next,
                               const std::function<void(MoveRecord&)>& edit = nullptr);
  // kUnavailable/kAborted from etcd: redo the step (after a pause for the
  // former). Other errors end the drive.
  absl::StatusOr<Next> RetryOrFail(const std::string& key, const absl::Status& s);
  // A member said no: ask again after a pause, until max_refusals.
  absl::StatusOr<Next> Refused(Context& c, const Round& round, MoveRecord::Step rollback_to);
  // Something to try again (counted with the refusals): after a pause, or
  // a rollback once a change that is not committed has failed too often.
  absl::StatusOr<Next> Retry(Context& c, const std::string& why);
  ChangeSet Guarded(const Context& c) const;
  // Re-reads the records for a commit that lost a race with another move
  // of the pool; kAborted if this move's own record changed (redo the
  // step), etcd's error otherwise.
  absl::Status ReloadForCommit(Context& c);
  // Recorded followers that left the view and are not recorded as excluded:
  // their writes are unreported and they may still write.
  std::vector<std::string> GoneFollowers(const Context& c) const;
  // A host revoked moments ago (a departing/ marker) outside the view may
  // still write: the step to return (wait, or etcd's error), or nullopt.
  std::optional<absl::StatusOr<Next>> WaitForDepartingHosts(Context& c);
  void Fault(const std::string& point);
  void Publish(Json event) {
    if (deps_.publish) deps_.publish(std::move(event));
  }

  const Deps deps_;
  const Options options_;
  absl::Mutex mu_;
  std::map<std::string, int> refusals_ ABSL_GUARDED_BY(mu_);  // by move key
  std::map<std::string, std::string> waiting_for_etcd_ ABSL_GUARDED_BY(mu_);
  // Since when no round of any move heard from a majority (InfiniteFuture:
  // the last one did).
  absl::Time cut_off_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time cut_off_seen_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_MOVE_CONTROLLER_H_
