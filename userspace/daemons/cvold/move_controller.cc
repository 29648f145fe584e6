#include "move_controller.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "change_messages.h"
#include "log.h"
#include "peer_handlers.h"
#include "cvol/status_macros.h"
#include "volume_layout.h"

namespace cvol::daemon {

using Step = MoveRecord::Step;

// What one step works with, read afresh from etcd.
struct MoveController::Context {
  std::string key;
  std::string change;
  std::string full;  // pool/volume
  int64_t epoch = 0;
  cluster::ClusterView view;
  Versioned<MoveRecord> move;
  Versioned<VolumeRecord> volume;
  Versioned<PoolRecord> pool;
  ExtentRef extent;

  ChangeExtent At() const {
    return ChangeExtent{change, move.record.pool, move.record.volume, move.record.vext};
  }
};

MoveController::MoveController(Deps deps, Options options)
    : deps_(std::move(deps)), options_(options) {}

void MoveController::Fault(const std::string& point) {
  if (deps_.fault_point) deps_.fault_point(point);
}

absl::StatusOr<MoveController::Next> MoveController::RetryOrFail(const std::string& key,
                                                                 const absl::Status& s) {
  if (s.code() == absl::StatusCode::kAborted) return Next{};
  if (s.code() != absl::StatusCode::kUnavailable) return s;
  // While etcd is unavailable nothing can be decided or recorded: the
  // change waits where it is (no host is left frozen), and goes on from
  // the record once etcd answers (docs/cluster.md, "etcd without quorum").
  bool first;
  {
    absl::MutexLock lock(&mu_);
    first = !waiting_for_etcd_.contains(key);
    waiting_for_etcd_[key] = std::string(s.message());
  }
  if (first) {
    LogWarning(absl::StrCat("move ", key, ": waiting for etcd: ", s.message()));
    Publish({{"type", "change_waiting"}, {"move", key}, {"reason", std::string(s.message())}});
  }
  return Next{false, options_.retry_pause};
}

absl::StatusOr<MoveController::Next> MoveController::RunStep(const std::string& key) {
  Context c;
  c.key = key;
  absl::StatusOr<cluster::ClusterView> view = cluster::Membership::Read(*deps_.kv, deps_.prefix);
  if (!view.ok()) return RetryOrFail(key, view.status());
  c.view = *std::move(view);
  if (!deps_.is_primary() || c.view.primary() == nullptr ||
      c.view.primary()->host != deps_.self) {
    return absl::CancelledError("this host is no longer the Primary; the new one finishes it");
  }
  c.epoch = c.view.epoch;
  // The move's own records, not the whole prefix: every commit below
  // guards each record it changes (config_db.h, MoveScope).
  absl::StatusOr<std::optional<MoveScope>> scope = deps_.db->LoadMove(key);
  if (!scope.ok()) return RetryOrFail(key, scope.status());
  {
    absl::MutexLock lock(&mu_);
    if (waiting_for_etcd_.erase(key) != 0) Publish({{"type", "change_resumed"}, {"move", key}});
  }
  if (!scope->has_value()) {
    deps_.set_phase(key, "done", 0, 0);
    return Next{true};
  }
  c.move = (*scope)->move;
  c.volume = (*scope)->volume;
  c.pool = (*scope)->pool;
  const MoveRecord& m = c.move.record;
  deps_.remember(key, c.move);
  c.full = absl::StrCat(m.pool, "/", m.volume);
  c.change = ChangeId(key, m);
  c.extent = ExtentRef{c.volume.record, c.pool.record.extent_sectors, m.vext};

  // A controller whose own host is re-integrating (it was fenced, and its
  // volumes wait for this very change) rolls back what is not committed
  // rather than copy from a fenced host: that releases every host soonest.
  const bool stranded = !deps_.host_active() && m.phase != MoveRecord::Phase::kCommitting &&
                        m.step != Step::kAbort;
  // A move no controller has taken up has no migration on any host: it
  // waits for a slot of its volume, and for this host to be active (a
  // re-integrating Primary rolls back what it must, not a queue).
  if (WaitsToStart(m)) {
    bool may_start = false;
    if (!stranded) {
      absl::StatusOr<std::map<std::string, Versioned<MoveRecord>>> moves =
          deps_.db->LoadMovesOf(m.pool, m.volume);
      if (!moves.ok()) return RetryOrFail(key, moves.status());
      may_start = MayStartMigrations(*moves, key, options_.migrations_per_volume);
    }
    if (!may_start) {
      deps_.set_phase(key, "queued", 0, 0);
      return Next{false, options_.retry_pause};
    }
  }
  if (m.step == Step::kNone || m.epoch != static_cast<uint64_t>(c.epoch) || stranded) {
    return TakeOver(c);
  }
  switch (m.step) {
    case Step::kFollow:
      return Follow(c);
    case Step::kCopy:
      return Copy(c);
    case Step::kFreeze:
      return Freeze(c);
    case Step::kApply:
      return Apply(c);
    case Step::kRelease:
      return Finish(c, /*abort=*/false);
    case Step::kAbort:
      return Finish(c, /*abort=*/true);
    case Step::kNone:
      break;
  }
  return absl::DataLossError(absl::StrCat("no step in ", key));
}

// A record from another epoch (or a fresh one): a committed change goes
// forward, anything else that began goes back.
absl::StatusOr<MoveController::Next> MoveController::TakeOver(Context& c) {
  const MoveRecord& m = c.move.record;
  const bool stranded = !deps_.host_active();
  Step next = Step::kFollow;
  if (m.phase == MoveRecord::Phase::kCommitting) {
    next = Step::kApply;
  } else if (m.step != Step::kNone || stranded) {
    next = Step::kAbort;
  }
  if (m.step != Step::kNone) {
    Publish({{"type", "change_taken_over"}, {"change", c.change}, {"from_epoch", m.epoch},
             {"epoch", c.epoch}, {"step", StepName(m.step)}, {"next", StepName(next)}});
  }
  return SetStep(c, next);
}

// Every transaction of the controller holds only while its epoch does:
// its campaign key still exists with the revision that is the epoch (a
// deposed controller's late commit fails instead of undoing its
// successor's work).
ChangeSet MoveController::Guarded(const Context& c) const {
  ChangeSet cs(*deps_.db);
  store::Compare still_primary;
  still_primary.key = cluster::Membership::CampaignKey(deps_.prefix, deps_.self);
  still_primary.target = store::Compare::Target::kCreateRevision;
  still_primary.result = store::Compare::Result::kEqual;
  still_primary.number = c.epoch;
  cs.Require(std::move(still_primary));
  return cs;
}

absl::StatusOr<MoveController::Next> MoveController::SetStep(
    Context& c, Step next, const std::function<void(MoveRecord&)>& edit) {
  MoveRecord updated = c.move.record;
  updated.step = next;
  updated.epoch = static_cast<uint64_t>(c.epoch);
  if (edit) edit(updated);
  ChangeSet cs = Guarded(c);
  cs.UpdateMove(c.move, updated);
  if (absl::Status s = deps_.db->Commit(cs); !s.ok()) return RetryOrFail(c.key, s);
  {
    absl::MutexLock lock(&mu_);
    if (next != c.move.record.step) refusals_.erase(c.key);
  }
  Publish({{"type", "change_step"}, {"change", c.change}, {"volume", c.full},
           {"vext", c.move.record.vext}, {"step", StepName(next)}, {"epoch", c.epoch}});
  Fault(absl::StrCat("crash_at:", StepName(next)));
  Fault(absl::StrCat("stall_at:", StepName(next)));
  return Next{};
}

MoveController::Round MoveController::AskRound(Context& c, const std::string& type,
                                               const Json& body, bool include_self) {
  Fault(absl::StrCat("stall_before:", type));
  std::vector<PeerTarget> targets;
  std::vector<const cluster::Member*> members;
  const std::vector<std::string>& excluded = c.move.record.excluded;
  for (const cluster::Member& m : c.view.members) {
    if (!include_self && m.host == deps_.self) continue;
    // A host taken out of this change rejoined under a new lease, but it
    // cannot re-integrate this volume while the move is recorded: it stays
    // fenced and has nothing to do here (its re-integration thaws and
    // aborts what is left, and loads etcd's map). Asking it would take it
    // out again and again if it stays cut off from this host.
    if (m.host != deps_.self &&
        std::find(excluded.begin(), excluded.end(), m.host) != excluded.end()) {
      continue;
    }
    targets.push_back(PeerTarget{m.host, m.addresses.empty() ? "" : m.addresses.front()});
    members.push_back(&m);
  }
  std::vector<PeerAnswer> answers =
      deps_.peers->AskAll(targets, type, c.epoch, body, options_.peer_deadline);
  Round round;
  for (size_t i = 0; i < members.size(); ++i) {
    const cluster::Member& m = *members[i];
    if (!answers[i].answered()) {
      round.silent.push_back(m);
      LogWarning(absl::StrCat("move ", c.key, ": ", type, ": ", m.host, " did not answer: ",
                              answers[i].transport.message()));
    } else if (!answers[i].verdict.ok()) {
      round.refused.emplace(m.host, answers[i].verdict.status());
      LogWarning(absl::StrCat("move ", c.key, ": ", type, ": ", m.host, " refused: ",
                              answers[i].verdict.status().message()));
    } else {
      round.replies.emplace(m.host, *answers[i].verdict);
    }
  }
  // Only an answer counts: a host taken out of this change and not asked
  // cannot vouch for anyone. This host itself does, asked or not.
  const size_t heard = round.replies.size() + round.refused.size() + (include_self ? 0 : 1);
  round.majority = heard * 2 > c.view.members.size();
  {
    // A stretch without a majority counts only while rounds keep finding
    // none: after a quiet spell (no change ran for twice the step-down
    // limit; a round with silent hosts may itself take several deadlines)
    // it starts anew.
    const absl::Time now = deps_.clock->Now();
    const absl::Duration limit = absl::Seconds(deps_.lease_ttl_s) * options_.step_down_after_ttls;
    absl::MutexLock lock(&mu_);
    if (round.majority) {
      cut_off_since_ = absl::InfiniteFuture();
    } else {
      if (cut_off_since_ == absl::InfiniteFuture() || now - cut_off_seen_ > 2 * limit) {
        cut_off_since_ = now;
      }
      cut_off_seen_ = now;
    }
  }
  return round;
}

void MoveController::ThawAll(Context& c) {
  (void)AskRound(c, "release", ReleaseRequest{c.change}.ToJson(), /*include_self=*/true);
}

absl::StatusOr<MoveController::Next> MoveController::Refused(Context& c, const Round& round,
                                                             Step rollback_to) {
  int refusals;
  {
    absl::MutexLock lock(&mu_);
    refusals = ++refusals_[c.key];
  }
  const auto& [host, why] = *round.refused.begin();
  if (rollback_to == Step::kAbort && refusals > options_.max_refusals) {
    LogWarning(absl::StrCat("move ", c.key, ": ", host, " keeps refusing (", why.message(),
                            "); rolling back"));
    return SetStep(c, Step::kAbort);
  }
  return Next{false, options_.retry_pause};
}

absl::StatusOr<MoveController::Next> MoveController::Retry(Context& c, const std::string& why) {
  int refusals;
  {
    absl::MutexLock lock(&mu_);
    refusals = ++refusals_[c.key];
  }
  if (c.move.record.phase != MoveRecord::Phase::kCommitting &&
      refusals > options_.max_refusals) {
    LogWarning(absl::StrCat("move ", c.key, ": ", why, ", ", refusals, " times; rolling back"));
    return SetStep(c, Step::kAbort);
  }
  LogWarning(absl::StrCat("move ", c.key, ": ", why, "; again"));
  return Next{false, options_.retry_pause};
}

absl::StatusOr<MoveController::Next> MoveController::Exclude(Context& c, const Round& round) {
  // The controller's own host is never excluded by itself: its own handler
  // was only slow (a long re-copy, a queue of requests). Try again.
  for (const cluster::Member& m : round.silent) {
    if (m.host == deps_.self) return Retry(c, "this host's own handler did not answer in time");
  }
  // Fencing needs a majority that answers: a controller cut off from most
  // of the cluster (but not from etcd) would otherwise revoke everyone.
  if (!round.majority) return WithoutMajority(c, round.silent);
  return TakeOut(c, round.silent, {});
}

absl::StatusOr<MoveController::Next> MoveController::ExcludeGone(
    Context& c, const std::vector<std::string>& gone) {
  return TakeOut(c, {}, gone);
}

absl::StatusOr<MoveController::Next> MoveController::TakeOut(
    Context& c, const std::vector<cluster::Member>& silent, const std::vector<std::string>& gone) {
  absl::StatusOr<cluster::ClusterView> now = cluster::Membership::Read(*deps_.kv, deps_.prefix);
  // Without etcd nobody can tell whether a host still holds its lease.
  if (!now.ok()) return RetryOrFail(c.key, now.status());
  // A deposed controller must not touch anyone's lease.
  if (now->epoch != c.epoch) {
    return absl::CancelledError(absl::StrCat("epoch ", c.epoch, " is over (current ", now->epoch,
                                             "); the new Primary finishes the change"));
  }
  std::vector<std::string> hosts = gone;
  absl::Status revoke_error;
  for (const cluster::Member& m : silent) {
    hosts.push_back(m.host);
    Publish({{"type", "host_unresponsive"}, {"host", m.host}, {"change", c.change}});
    const cluster::Member* still = now->Find(m.host);
    if (still == nullptr || still->lease != m.lease) continue;
    // The marker first: once the lease is gone, other changes must see
    // that this host may still write for a TTL.
    if (absl::Status s = cluster::Membership::MarkDeparting(*deps_.kv, deps_.prefix, m.host,
                                                           deps_.lease_ttl_s);
        !s.ok()) {
      revoke_error.Update(s);
      continue;
    }
    if (absl::Status s = deps_.kv->LeaseRevoke(m.lease); !s.ok()) {
      revoke_error.Update(s);
    } else {
      Publish({{"type", "host_lease_revoked"}, {"host", m.host}, {"change", c.change},
               {"lease", m.lease}});
    }
  }
  LogWarning(absl::StrCat("move ", c.key, ": taking ", absl::StrJoin(hosts, ", "),
                          " out of the change; waiting one lease TTL for them to fence"));
  // One wait for all: each host fenced itself by now, by its daemon at a
  // failed renewal or by its kernel lease (at most 3/4 TTL after its last
  // renewal). Even a revoke whose answer was lost may have ended a lease.
  deps_.clock->SleepFor(absl::Seconds(deps_.lease_ttl_s));
  if (!revoke_error.ok()) return RetryOrFail(c.key, revoke_error);
  // Recorded before the change goes on: a successor must know that these
  // hosts' writes are not all reported (whole re-copy) even if this
  // controller dies now.
  MoveRecord updated = c.move.record;
  for (const std::string& h : hosts) {
    if (std::find(updated.excluded.begin(), updated.excluded.end(), h) == updated.excluded.end()) {
      updated.excluded.push_back(h);
    }
  }
  ChangeSet cs = Guarded(c);
  cs.UpdateMove(c.move, updated);
  if (absl::Status s = deps_.db->Commit(cs); !s.ok()) return RetryOrFail(c.key, s);
  for (const std::string& h : hosts) {
    Publish({{"type", "host_excluded"}, {"host", h}, {"change", c.change}, {"volume", c.full},
             {"vext", c.move.record.vext}});
  }
  return Next{};
}

// The others may be cut off from this host, or this host from them: it
// cannot tell. Waiting keeps every change of the cluster stalled for as
// long as this host stays the Primary, so after a while it hands the role
// on; a successor that reaches a majority excludes whoever is really cut
// off (this host, perhaps). Hosts cut off from each other all round pass
// the role on in turn, each after the same wait, and nobody is fenced.
absl::StatusOr<MoveController::Next> MoveController::WithoutMajority(
    Context& c, const std::vector<cluster::Member>& silent) {
  const absl::Time now = deps_.clock->Now();
  const absl::Duration limit = absl::Seconds(deps_.lease_ttl_s) * options_.step_down_after_ttls;
  absl::Time since;
  {
    absl::MutexLock lock(&mu_);
    if (cut_off_since_ == absl::InfiniteFuture()) cut_off_since_ = now;
    since = cut_off_since_;
  }
  std::vector<std::string> hosts;
  for (const cluster::Member& m : silent) hosts.push_back(m.host);
  if (deps_.step_down && now - since >= limit) {
    LogWarning(absl::StrCat("move ", c.key, ": no majority of the members has answered for ",
                            absl::FormatDuration(now - since), " (", absl::StrJoin(hosts, ", "),
                            " silent); stepping down as the Primary"));
    Publish({{"type", "primary_stepping_down"}, {"move", c.key}, {"epoch", c.epoch},
             {"silent", hosts}});
    deps_.step_down(c.epoch);
    return absl::CancelledError(absl::StrCat(
        "this host steps down as the Primary (epoch ", c.epoch,
        "): it has not reached a majority of the members; the next Primary finishes the change"));
  }
  LogWarning(absl::StrCat("move ", c.key, ": ", silent.size(), " of ", c.view.members.size(),
                          " members do not answer; not excluding them without a majority"));
  Publish({{"type", "change_waiting"}, {"move", c.key}, {"reason", "no majority answers"}});
  return Next{false, options_.retry_pause};
}

uint64_t MoveController::NextRound() {
  absl::MutexLock lock(&mu_);
  return ++rounds_;
}

// The copier is this host: its handler hands the regions to its kernel
// (migrate_recopy) and is asked again with the same request until the
// kernel's migration is ready. The freezes hold for freeze_timeout_ms at
// most; past half of it the step is redone rather than risk the rest.
absl::StatusOr<RecopyReply> MoveController::Recopy(Context& c, const RecopyRequest& request) {
  const cluster::Member* self = c.view.Find(deps_.self);
  const PeerTarget target{deps_.self, self == nullptr || self->addresses.empty()
                                          ? ""
                                          : self->addresses.front()};
  const absl::Time give_up =
      deps_.clock->Now() + absl::Milliseconds(options_.freeze_timeout_ms) / 2;
  while (true) {
    std::vector<PeerAnswer> answers =
        deps_.peers->AskAll({target}, "recopy", c.epoch, request.ToJson(), options_.peer_deadline);
    ASSIGN_OR_RETURN(Json json, answers.front().Flatten());
    ASSIGN_OR_RETURN(RecopyReply reply, RecopyReply::FromJson(json));
    if (reply.done) return reply;
    // In regions, as the copy's progress.
    const uint64_t region_bytes = request.region_sectors * 512;
    deps_.set_phase(c.key, "recopying", reply.copied_bytes / region_bytes,
                    reply.total_bytes / region_bytes);
    if (deps_.clock->Now() >= give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("the re-copy did not end within half the freeze timeout (",
                       reply.copied_bytes, " of ", reply.total_bytes, " bytes)"));
    }
    deps_.clock->SleepFor(options_.move_poll);
  }
}

std::vector<std::string> MoveController::GoneFollowers(const Context& c) const {
  const MoveRecord& m = c.move.record;
  std::vector<std::string> gone;
  for (const std::string& host : m.followers) {
    if (c.view.Find(host) == nullptr &&
        std::find(m.excluded.begin(), m.excluded.end(), host) == m.excluded.end()) {
      gone.push_back(host);
    }
  }
  return gone;
}

std::optional<absl::StatusOr<MoveController::Next>> MoveController::WaitForDepartingHosts(
    Context& c) {
  absl::StatusOr<std::vector<std::string>> departing =
      cluster::Membership::ReadDeparting(*deps_.kv, deps_.prefix);
  if (!departing.ok()) return RetryOrFail(c.key, departing.status());
  for (const std::string& host : *departing) {
    if (c.view.Find(host) == nullptr) {
      LogInfo(absl::StrCat("move ", c.key, ": ", host, " may still write; waiting"));
      return Next{false, options_.retry_pause};
    }
  }
  return std::nullopt;
}

absl::StatusOr<MoveController::Next> MoveController::Follow(Context& c) {
  deps_.set_phase(c.key, "copying", 0, 0);
  const MoveRecord& m = c.move.record;
  // A host revoked moments ago is out of the view but may still write
  // (without dual-writing, unreported): the copy waits until it cannot.
  if (std::optional<absl::StatusOr<Next>> wait = WaitForDepartingHosts(c)) return *wait;
  MigrateStartRequest request{c.At(), m.dst, /*follow=*/true};
  Round round = AskRound(c, "migrate_start", request.ToJson(), /*include_self=*/false);
  if (!round.silent.empty()) return Exclude(c, round);
  if (!round.refused.empty()) return Refused(c, round, Step::kAbort);
  std::vector<std::string> followers;
  for (const auto& [host, reply] : round.replies) followers.push_back(host);
  return SetStep(c, Step::kCopy, [&followers](MoveRecord& r) { r.followers = followers; });
}

// Every member runs one migration per move of the volume, and a kernel
// refuses more than its limit (EBUSY). Moves beyond it wait before any
// step is recorded, oldest first (then in key order), rather than be
// refused by every member and rolled back; a move with a step holds its
// slot until it is over.
bool MoveController::MayStartMigrations(const Snapshot& snap, const std::string& key,
                                        size_t per_volume) {
  return MayStartMigrations(snap.moves, key, per_volume);
}

bool MoveController::MayStartMigrations(const std::map<std::string, Versioned<MoveRecord>>& moves,
                                        const std::string& key, size_t per_volume) {
  auto it = moves.find(key);
  if (it == moves.end()) return false;
  const MoveRecord& m = it->second.record;
  size_t taken = 0;
  for (const auto& [other_key, other] : moves) {
    const MoveRecord& o = other.record;
    if (other_key == key || o.pool != m.pool || o.volume != m.volume) continue;
    const bool ahead = std::tie(o.started_ns, other_key) < std::tie(m.started_ns, key);
    if (!WaitsToStart(o) || ahead) ++taken;
  }
  return taken < per_volume;
}

bool MoveController::WaitsToStart(const MoveRecord& m) { return !m.TakenUp(); }

absl::StatusOr<MoveController::Next> MoveController::Copy(Context& c) {
  ASSIGN_OR_RETURN(KernelExtent st, deps_.kernel->Read(c.extent));
  if (!st.migration) {
    absl::Status s = deps_.kernel->MigrateStart(c.extent, c.move.record.dst, MigrateMode::kCopy,
                                                static_cast<uint64_t>(c.epoch));
    // The kernel has seen a newer epoch: a new Primary acted after this
    // step read etcd. It finishes the change; nothing is recorded here.
    if (IsStaleEpoch(s)) {
      return absl::CancelledError(absl::StrCat("epoch ", c.epoch, " is over (", s.message(),
                                               "); the new Primary finishes the change"));
    }
    // EBUSY: the volume runs its maximum of migrations; this one waits,
    // and gives its worker to the moves behind it meanwhile.
    if (s.code() == absl::StatusCode::kFailedPrecondition ||
        s.code() == absl::StatusCode::kUnavailable) {
      deps_.set_phase(c.key, "queued", 0, 0);
      return Next{false, options_.move_poll};
    }
    if (!s.ok()) {
      LogWarning(absl::StrCat("move ", c.key, ": migrate_start: ", s.message()));
      return SetStep(c, Step::kAbort);
    }
    return Next{};
  }
  // The kernel's progress is followed here, and etcd and the view read
  // again only every copy_recheck: a step's reads are several etcd
  // requests, and eight moves polling them every 100 ms load etcd more
  // than the lease renewals can bear on a slow machine. Then the turn
  // ends: a long copy must not keep a worker that a committed move (which
  // holds I/O until it ends) is waiting for.
  const absl::Time recheck = deps_.clock->Now() + options_.copy_recheck;
  while (true) {
    deps_.set_phase(c.key, "copying", st.migration->copied_regions, st.migration->regions);
    if (st.migration->state == MigrationState::kFailed) return SetStep(c, Step::kAbort);
    if (st.migration->state == MigrationState::kReady) return SetStep(c, Step::kFreeze);
    deps_.kernel->WaitForProgress(options_.move_poll);
    if (deps_.clock->Now() >= recheck) return Next{false, absl::Milliseconds(1)};
    ASSIGN_OR_RETURN(st, deps_.kernel->Read(c.extent));
    if (!st.migration) return Next{};
  }
}

absl::StatusOr<MoveController::Next> MoveController::Freeze(Context& c) {
  deps_.set_phase(c.key, "committing", 0, 0);
  const MoveRecord& m = c.move.record;
  // A follower that left the cluster since it began to follow (its lease
  // expired or was revoked) wrote regions nobody will report: it is taken
  // out like a silent host (it may have lost its lease only just now) and
  // the whole extent is copied again.
  if (std::vector<std::string> gone = GoneFollowers(c); !gone.empty()) {
    return ExcludeGone(c, gone);
  }

  // The copier's kernel may still be copying: a re-copy given up at half
  // the freeze timeout goes on after the thaw, and a destination write
  // error makes it copy a region again. Every host would be frozen for a
  // round that cannot end: wait for it instead, without counting a refusal.
  // It is followed in the kernel, etcd read again only every copy_recheck
  // (as in the copy step).
  const absl::Time recheck = deps_.clock->Now() + options_.copy_recheck;
  absl::StatusOr<KernelExtent> own = deps_.kernel->Read(c.extent);
  while (own.ok() && own->migration.has_value() &&
         own->migration->state == MigrationState::kCopy) {
    deps_.set_phase(c.key, "recopying", own->migration->copied_regions,
                    own->migration->regions);
    deps_.kernel->WaitForProgress(options_.move_poll);
    if (deps_.clock->Now() >= recheck) return Next{false, absl::Milliseconds(1)};
    own = deps_.kernel->Read(c.extent);
  }

  FreezeRequest request{c.At(), options_.freeze_timeout_ms};
  Round first = AskRound(c, "freeze", request.ToJson(), /*include_self=*/true);
  Fault("crash_in:freeze");  // every host frozen, nothing decided
  // Every way out of this step but the commit thaws the hosts first: held
  // I/O must not wait for an exclusion, etcd or the next attempt.
  if (!first.silent.empty()) {
    ThawAll(c);
    return Exclude(c, first);
  }
  std::map<std::string, FreezeReply> frozen;
  for (const auto& [host, json] : first.replies) {
    absl::StatusOr<FreezeReply> reply = FreezeReply::FromJson(json);
    if (!reply.ok()) {
      first.refused.emplace(host, reply.status());
      continue;
    }
    frozen.emplace(host, *std::move(reply));
  }
  if (!first.refused.empty()) {
    ThawAll(c);
    return Refused(c, first, Step::kAbort);
  }

  // Regions written by other hosts while the copy ran may be stale on the
  // destination; re-copy them now that no host writes. All of it when a
  // host left the change or wrote without dual-writing.
  // Every migration must dual-write every write now (the copier's drops
  // back to copying after a failed destination write), in the extent's
  // geometry.
  bool whole = !m.excluded.empty();
  std::set<uint64_t> regions;
  const uint64_t es = c.extent.extent_sectors;
  uint64_t region_sectors = 0, nr_regions = 0;
  for (const auto& [host, reply] : frozen) {
    if (!reply.migrating) {
      whole = true;
      continue;
    }
    if (!reply.ready || reply.region_sectors * reply.regions != es ||
        (region_sectors != 0 && reply.region_sectors != region_sectors)) {
      ThawAll(c);
      return Retry(c, absl::StrCat(host, "'s migration is not ready (or not of this extent)"));
    }
    region_sectors = reply.region_sectors;
    nr_regions = reply.regions;
    // The copier's own writes too: its kernel orders them with its own
    // copies, but not with this re-copy, which a lost freeze may race.
    for (const DirtyRun& run : reply.dirty) {
      for (uint64_t r = run.first; r < uint64_t{run.first} + run.count; ++r) regions.insert(r);
    }
  }
  if (!frozen.contains(deps_.self) || !frozen.at(deps_.self).migrating) {
    ThawAll(c);
    return Retry(c, "the copier has no migration");
  }
  std::vector<DirtyRun> runs;
  if (whole) {
    runs.push_back(DirtyRun{0, static_cast<uint32_t>(nr_regions)});
  } else {
    for (auto it = regions.begin(); it != regions.end();) {
      const uint64_t r0 = *it;
      uint32_t n = 0;
      while (it != regions.end() && *it == r0 + n) {
        ++n;
        ++it;
      }
      runs.push_back(DirtyRun{static_cast<uint32_t>(r0), n});
    }
  }
  RecopyRequest recopy{c.At(), m.src, m.dst, region_sectors, runs, NextRound()};
  absl::StatusOr<RecopyReply> recopied = Recopy(c, recopy);
  if (!recopied.ok()) {
    ThawAll(c);
    return Retry(c, absl::StrCat("recopy: ", recopied.status().message()));
  }
  Publish({{"type", "change_recopied"}, {"change", c.change},
           {"bytes", recopied->copied_bytes}, {"whole", whole}});
  deps_.set_phase(c.key, "committing", 0, 0);

  // Every freeze must have held from its report through the re-copy: a
  // freeze lost meanwhile (its timeout, a fence) let its host write.
  Round check = AskRound(c, "freeze", request.ToJson(), /*include_self=*/true);
  const absl::Time checked = deps_.clock->Now();
  bool held = check.silent.empty() && check.refused.empty();
  for (const auto& [host, json] : check.replies) {
    absl::StatusOr<FreezeReply> reply = FreezeReply::FromJson(json);
    // The same freeze, over the same migration (a host rebooted meanwhile
    // has neither).
    held = held && reply.ok() && frozen.contains(host) &&
           reply->freeze_id == frozen.at(host).freeze_id &&
           reply->migrating == frozen.at(host).migrating && reply->ready == frozen.at(host).ready;
  }
  if (!held || check.replies.size() != frozen.size()) {
    ThawAll(c);
    if (!check.silent.empty()) return Exclude(c, check);
    return Retry(c, "a freeze did not hold through the re-copy");
  }

  // The new map, before any host switches to it. Another move of the pool
  // may commit first (the allocation's revision moved on): then only the
  // records changed and the freezes checked above still hold, so the
  // commit is made again at once from fresh records, a few times, rather
  // than the whole step (moves of one pool would otherwise redo theirs in
  // turn until their freezes time out).
  uint64_t generation = 0;
  absl::Status s;
  // Only while the freezes surely still hold (well inside their timeout).
  const absl::Duration retry_window = absl::Milliseconds(options_.freeze_timeout_ms) / 4;
  for (int attempt = 0; attempt < options_.commit_attempts; ++attempt) {
    if (attempt > 0) {
      if (deps_.clock->Now() - checked > retry_window) break;
      if (absl::Status reloaded = ReloadForCommit(c); !reloaded.ok()) {
        ThawAll(c);
        return RetryOrFail(c.key, reloaded);
      }
    }
    MoveRecord committing = c.move.record;
    committing.phase = MoveRecord::Phase::kCommitting;
    committing.step = Step::kApply;
    committing.epoch = static_cast<uint64_t>(c.epoch);
    VolumeRecord updated = c.volume.record;
    updated.runs = Remap(updated.runs, committing.vext, committing.dst);
    generation = ++updated.generation;
    ChangeSet cs = Guarded(c);
    cs.ChangeAllocation(c.pool);
    cs.UpdateVolume(c.volume, updated);
    cs.UpdateMove(c.move, committing);
    s = deps_.db->Commit(cs);
    if (s.code() != absl::StatusCode::kAborted) break;
  }
  if (!s.ok()) {
    // Still a conflict: the step is redone under the same freezes.
    // Otherwise thaw: thawed hosts still dual-write, so either map is safe
    // to resume from (the commit's outcome may be unknown while etcd is
    // away).
    if (s.code() != absl::StatusCode::kAborted) ThawAll(c);
    return RetryOrFail(c.key, s);
  }
  Publish({{"type", "change_step"}, {"change", c.change}, {"volume", c.full}, {"vext", m.vext},
           {"step", "apply"}, {"epoch", c.epoch}, {"generation", generation}});
  Fault("crash_at:apply");
  return Next{};
}

absl::Status MoveController::ReloadForCommit(Context& c) {
  absl::StatusOr<std::optional<MoveScope>> scope = deps_.db->LoadMove(c.key);
  const absl::Status moved_on = absl::AbortedError("the move's record changed");
  if (scope.status().code() == absl::StatusCode::kDataLoss) return moved_on;  // volume gone
  if (!scope.ok()) return scope.status();
  // The same change, at the same step, in the same epoch: nothing but the
  // other records may have moved. Otherwise the step starts over.
  if (!scope->has_value()) return moved_on;
  const MoveRecord& now = (*scope)->move.record;
  if (ChangeId(c.key, now) != c.change || now.step != Step::kFreeze ||
      now.epoch != static_cast<uint64_t>(c.epoch) || now.phase != MoveRecord::Phase::kCopying ||
      now.excluded != c.move.record.excluded) {
    return moved_on;
  }
  if ((*scope)->volume.record.uuid != c.volume.record.uuid) return moved_on;
  c.move = (*scope)->move;
  c.volume = (*scope)->volume;
  c.pool = (*scope)->pool;
  return absl::OkStatus();
}

absl::StatusOr<MoveController::Next> MoveController::Apply(Context& c) {
  deps_.set_phase(c.key, "committing", 0, 0);
  ApplyRequest request{c.At(), c.move.record.dst};
  Round round = AskRound(c, "apply", request.ToJson(), /*include_self=*/true);
  // A silent host must be fenced before the others thaw: it may still
  // hold the old map. It re-integrates from etcd's map later.
  if (!round.silent.empty()) return Exclude(c, round);
  // Committed: only forward, however long it takes.
  if (!round.refused.empty()) return Refused(c, round, Step::kApply);
  return SetStep(c, Step::kRelease);
}

absl::StatusOr<MoveController::Next> MoveController::Finish(Context& c, bool abort) {
  const MoveRecord& m = c.move.record;
  // Deleting the record frees an extent (the destination on abort, the
  // source after a release). A host that may still write there -- a
  // recorded follower gone from the view, or a host just revoked -- must
  // have fenced first.
  if (std::vector<std::string> gone = GoneFollowers(c); !gone.empty()) {
    return ExcludeGone(c, gone);
  }
  if (std::optional<absl::StatusOr<Next>> wait = WaitForDepartingHosts(c)) return *wait;
  if (abort) {
    // A host that may still dual-write into the destination must be
    // fenced before the destination is freed.
    Round round = AskRound(c, "abort", AbortRequest{c.At()}.ToJson(), /*include_self=*/true);
    if (!round.silent.empty()) return Exclude(c, round);
    if (!round.refused.empty()) return Refused(c, round, Step::kAbort);
  } else {
    // Every host switched already; a silent one thaws by its freeze's
    // timeout, so nobody needs to be excluded for it. But a lost message
    // must not hold a live host's I/O that long: ask the silent ones again
    // a few times.
    Round round = AskRound(c, "release", ReleaseRequest{c.change}.ToJson(), true);
    for (int attempt = 0; attempt < 3 && !round.silent.empty(); ++attempt) {
      std::vector<PeerTarget> again;
      for (const cluster::Member& member : round.silent) {
        again.push_back(
            PeerTarget{member.host, member.addresses.empty() ? "" : member.addresses.front()});
      }
      std::vector<PeerAnswer> answers = deps_.peers->AskAll(
          again, "release", c.epoch, ReleaseRequest{c.change}.ToJson(), options_.peer_deadline);
      std::vector<cluster::Member> still;
      for (size_t i = 0; i < answers.size(); ++i) {
        if (!answers[i].answered()) still.push_back(round.silent[i]);
      }
      round.silent = std::move(still);
    }
  }
  ChangeSet cs = Guarded(c);
  cs.ChangeAllocation(c.pool);
  cs.DeleteMove(c.move);
  if (absl::Status s = deps_.db->Commit(cs); !s.ok()) return RetryOrFail(c.key, s);
  {
    absl::MutexLock lock(&mu_);
    refusals_.erase(c.key);
  }
  if (abort) {
    deps_.set_phase(c.key, "rolled_back", 0, 0);
    Publish({{"type", "move_failed"}, {"volume", c.full}, {"vext", m.vext}, {"change", c.change},
             {"reason", "rolled back"}});
    return absl::AbortedError("rolled back to the source");
  }
  deps_.set_phase(c.key, "done", 0, 0);
  Publish({{"type", "move_done"}, {"volume", c.full}, {"vext", m.vext}, {"change", c.change},
           {"generation", c.volume.record.generation}, {"excluded", m.excluded}});
  return Next{true};
}

}  // namespace cvol::daemon
