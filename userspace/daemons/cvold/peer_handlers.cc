#include "peer_handlers.h"

#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

std::string ChangeId(const std::string& move_key, const MoveRecord& move) {
  return absl::StrCat(move_key, "#", move.started_ns);
}

PeerHandlers::PeerHandlers(Deps deps) : deps_(std::move(deps)) {}

bool PeerHandlers::Serves(const std::string& type) {
  return type == "migrate_start" || type == "migrate_status" || type == "freeze" ||
         type == "recopy" || type == "apply" || type == "release" || type == "abort";
}

namespace {

// The move key of the change a request names ("<key>#<started_ns>"); ""
// for a body without one (it fails its own validation).
std::string MoveKeyOf(const nlohmann::json& body) {
  if (!body.is_object()) return "";
  auto it = body.find("change");
  if (it == body.end() || !it->is_string()) return "";
  const std::string& change = it->get_ref<const std::string&>();
  const size_t hash = change.rfind('#');
  return hash == std::string::npos ? change : change.substr(0, hash);
}

}  // namespace

absl::StatusOr<PeerHandlers::Json> PeerHandlers::Handle(const std::string& type, int64_t epoch,
                                                        const std::string& sender,
                                                        const Json& body) {
  // Requests of one extent run one at a time; those of different extents
  // side by side: one slow drain or re-copy must not make this host miss
  // the deadline of every other change (and look silent).
  absl::ReaderMutexLock gate(&gate_);
  const std::string key = MoveKeyOf(body);
  std::shared_ptr<absl::Mutex> extent_lock = ExtentLock(key);
  absl::StatusOr<Json> result;
  {
    absl::MutexLock lock(extent_lock.get());
    result = HandleLocked(type, epoch, sender, body);
  }
  DropExtentLock(key, std::move(extent_lock));
  return result;
}

std::shared_ptr<absl::Mutex> PeerHandlers::ExtentLock(const std::string& move_key) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<absl::Mutex>& slot = change_locks_[move_key];
  if (slot == nullptr) slot = std::make_shared<absl::Mutex>();
  return slot;
}

void PeerHandlers::DropExtentLock(const std::string& move_key,
                                  std::shared_ptr<absl::Mutex> extent_lock) {
  absl::MutexLock lock(&mu_);
  extent_lock.reset();
  auto it = change_locks_.find(move_key);
  if (it != change_locks_.end() && it->second.use_count() == 1) change_locks_.erase(it);
}

std::optional<PeerHandlers::HeldFreeze> PeerHandlers::Held(const std::string& change) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(change);
  if (it == held_.end()) return std::nullopt;
  return it->second;
}

void PeerHandlers::Hold(const std::string& change, HeldFreeze freeze) {
  absl::MutexLock lock(&mu_);
  held_[change] = std::move(freeze);
}

void PeerHandlers::Forget(const std::string& change) {
  absl::MutexLock lock(&mu_);
  held_.erase(change);
  recopy_rounds_.erase(change);
}

bool PeerHandlers::RecopySent(const std::string& change, uint64_t round) {
  absl::MutexLock lock(&mu_);
  auto it = recopy_rounds_.find(change);
  return it != recopy_rounds_.end() && it->second == round;
}

void PeerHandlers::NoteRecopySent(const std::string& change, uint64_t round) {
  absl::MutexLock lock(&mu_);
  recopy_rounds_[change] = round;
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::HandleLocked(const std::string& type,
                                                              int64_t epoch,
                                                              const std::string& sender,
                                                              const Json& body) {
  // Checked again under the lock: a request that waited here behind a slow
  // one must not act for a controller deposed meanwhile.
  if (absl::Status s = deps_.check_controller(epoch, sender); !s.ok()) {
    deps_.publish({{"type", "stale_epoch_refused"}, {"request", type}, {"epoch", epoch},
                   {"reason", std::string(s.message())}});
    return s;
  }
  // The kernel checks the epoch once more as it acts (KernelPort): a new
  // Primary may come between the check above and the kernel call.
  const uint64_t e = static_cast<uint64_t>(epoch);
  if (type == "migrate_start") return MigrateStart(body, e);
  if (type == "migrate_status") return MigrateStatus(body);
  if (type == "freeze") return Freeze(body, e);
  if (type == "recopy") return Recopy(body, e);
  if (type == "apply") return Apply(body, e);
  if (type == "abort") return Abort(body, e);
  if (type == "release") {
    ASSIGN_OR_RETURN(ReleaseRequest r, ReleaseRequest::FromJson(body));
    return Release(r.change, e);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown peer request '", type, "'"));
}

void PeerHandlers::WithHeldFreezes(
    const std::function<void(std::map<std::string, HeldFreeze>&)>& fn) {
  absl::WriterMutexLock gate(&gate_);
  absl::MutexLock lock(&mu_);
  fn(held_);
  // The rounds of changes whose freeze is gone (thawed here because the
  // change ended without this host, whose release never came).
  for (auto it = recopy_rounds_.begin(); it != recopy_rounds_.end();) {
    it = held_.contains(it->first) ? std::next(it) : recopy_rounds_.erase(it);
  }
}

absl::StatusOr<PeerHandlers::ChangeContext> PeerHandlers::LoadChange(const ChangeExtent& at,
                                                                    const Snapshot& snap) const {
  const std::string key = deps_.db->MoveKey(at.pool, at.volume, at.vext);
  auto mit = snap.moves.find(key);
  if (mit == snap.moves.end() || ChangeId(key, mit->second.record) != at.change) {
    return absl::FailedPreconditionError(
        absl::StrCat("change ", at.change, " is not in progress (ended, or replaced)"));
  }
  const VolumeRecord* volume = snap.FindVolume(at.pool, at.volume);
  if (volume == nullptr) return absl::NotFoundError(absl::StrCat("no volume ", at.pool, "/", at.volume));
  ChangeContext out;
  out.move = mit->second.record;
  out.extent = ExtentRef{*volume, snap.pools.at(at.pool).record.extent_sectors, at.vext};
  return out;
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::MigrateStart(const Json& body,
                                                              uint64_t epoch) {
  ASSIGN_OR_RETURN(MigrateStartRequest r, MigrateStartRequest::FromJson(body));
  const absl::Time deadline = deps_.clock->Now() + deps_.follow_start_deadline;
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  ASSIGN_OR_RETURN(ChangeContext c, LoadChange(r.at, snap));
  if (c.move.phase != MoveRecord::Phase::kCopying || r.dst != c.move.dst) {
    return absl::FailedPreconditionError(
        absl::StrCat("change ", r.at.change, " does not start a migration to ", ToString(r.dst)));
  }
  // No device (a host that rebooted during a change): it cannot write, and
  // it must not get one before it re-integrates. At `freeze` it reports no
  // migration, so the whole extent is copied again.
  if (absl::StatusOr<KernelExtent> st = deps_.kernel->Read(c.extent);
      st.status().code() == absl::StatusCode::kNotFound) {
    return Json{{"state", "no device"}};
  }
  // The table must list the destination's slot (a pv added since).
  RETURN_IF_ERROR(deps_.kernel->Activate(snap, c.extent.volume));
  while (true) {
    ASSIGN_OR_RETURN(KernelExtent st, deps_.kernel->Read(c.extent));
    if (!st.migration) {
      RETURN_IF_ERROR(deps_.kernel->MigrateStart(
          c.extent, c.move.dst, r.follow ? MigrateMode::kFollow : MigrateMode::kCopy, epoch));
      continue;
    }
    // A follower reports once it dual-writes every write: after the
    // migration's start drain, which is what `ready` means for it.
    if (!r.follow || st.migration->state == MigrationState::kReady) {
      return Json{{"state", MigrationStateName(st.migration->state)}};
    }
    if (deps_.clock->Now() > deadline) {
      return absl::DeadlineExceededError("the follow migration did not start in time");
    }
    deps_.kernel->WaitForProgress(absl::Milliseconds(50));
  }
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::MigrateStatus(const Json& body) {
  ASSIGN_OR_RETURN(AbortRequest r, AbortRequest::FromJson(body));
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  ASSIGN_OR_RETURN(ChangeContext c, LoadChange(r.at, snap));
  ASSIGN_OR_RETURN(KernelExtent st, deps_.kernel->Read(c.extent));
  Json out{{"state", st.migration ? MigrationStateName(st.migration->state) : "none"}};
  if (st.migration) {
    out["copied"] = st.migration->copied_regions;
    out["regions"] = st.migration->regions;
  }
  return out;
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::Freeze(const Json& body, uint64_t epoch) {
  ASSIGN_OR_RETURN(FreezeRequest r, FreezeRequest::FromJson(body));
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  ASSIGN_OR_RETURN(ChangeContext c, LoadChange(r.at, snap));
  std::optional<HeldFreeze> held = Held(r.at.change);
  if (held) {
    // A freeze that thawed itself (its timeout) or was ended is lost: take
    // a new one, whose new id tells the controller (its earlier re-copy did
    // not cover what this host wrote since).
    absl::Status alive = deps_.kernel->FreezeWait(held->extent, held->id, deps_.freeze_wait_ms);
    if (alive.code() == absl::StatusCode::kNotFound) {
      Forget(r.at.change);
      held.reset();
    } else if (!alive.ok()) {
      return alive;
    }
  }
  const bool fresh = !held;
  if (fresh) {
    absl::StatusOr<uint64_t> frozen = deps_.kernel->Freeze(c.extent, r.timeout_ms, epoch);
    if (frozen.status().code() == absl::StatusCode::kNotFound) {
      // No device here: this host cannot write the extent at all. Not
      // migrating either, so the controller copies the whole extent again.
      return FreezeReply{}.ToJson();
    }
    ASSIGN_OR_RETURN(uint64_t id, frozen);
    held = HeldFreeze{c.extent, id};
    Hold(r.at.change, *held);
    RETURN_IF_ERROR(deps_.kernel->FreezeWait(c.extent, id, deps_.freeze_wait_ms));
  }
  FreezeReply reply;
  reply.freeze_id = held->id;
  ASSIGN_OR_RETURN(KernelExtent st, deps_.kernel->Read(c.extent));
  reply.migrating = st.migration.has_value();
  reply.ready = st.migration && st.migration->state == MigrationState::kReady;
  if (st.migration) {
    ASSIGN_OR_RETURN(MigrateDirty dirty, deps_.kernel->MigrateDirtyRegions(c.extent, epoch));
    reply.region_sectors = dirty.region_sectors;
    reply.regions = dirty.nr_regions;
    reply.dirty = std::move(dirty.runs);
  }
  if (fresh) {
    deps_.publish({{"type", "cluster_frozen"}, {"change", r.at.change},
                   {"volume", absl::StrCat(r.at.pool, "/", r.at.volume)}, {"vext", r.at.vext}});
  }
  return reply.ToJson();
}

absl::Status PeerHandlers::FreezeStillHeld(const std::string& change,
                                           std::optional<uint64_t> id) {
  std::optional<HeldFreeze> held = Held(change);
  if (!held || (id && held->id != *id)) {
    return absl::AbortedError(absl::StrCat("change ", change, ": this host holds no freeze",
                                           id ? absl::StrCat(" ", *id) : ""));
  }
  absl::Status alive = deps_.kernel->FreezeWait(held->extent, held->id, deps_.freeze_wait_ms);
  if (!alive.ok()) {
    return absl::AbortedError(absl::StrCat("change ", change, ": the freeze was lost (",
                                           alive.message(), ")"));
  }
  return absl::OkStatus();
}

// The copier's kernel copies the regions again (migrate_recopy): there the
// copy stops at this host's fence like any other, so a host that lost its
// lease writes nowhere, not even a late re-copy. The request is asked
// again, with the same round, until the migration is ready once more.
absl::StatusOr<PeerHandlers::Json> PeerHandlers::Recopy(const Json& body, uint64_t epoch) {
  ASSIGN_OR_RETURN(RecopyRequest r, RecopyRequest::FromJson(body));
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  ASSIGN_OR_RETURN(ChangeContext c, LoadChange(r.at, snap));
  // Only the record's extents: a request naming others (a bug, or a
  // forged message) must not copy anywhere else.
  if (r.src != c.move.src || r.dst != c.move.dst || c.move.phase != MoveRecord::Phase::kCopying) {
    return absl::FailedPreconditionError(
        absl::StrCat("change ", r.at.change, " does not copy ", ToString(r.src), " to ",
                     ToString(r.dst)));
  }
  const uint64_t es = c.extent.extent_sectors;
  if (r.region_sectors == 0 || r.region_sectors > es || es % r.region_sectors != 0) {
    return absl::InvalidArgumentError("region_sectors does not divide the extent");
  }
  const uint64_t regions = es / r.region_sectors;
  uint64_t asked = 0;
  for (const DirtyRun& run : r.runs) {
    if (run.count == 0 || run.first >= regions || run.count > regions - run.first) {
      return absl::InvalidArgumentError("a run is outside the extent");
    }
    asked += run.count;
  }
  // The copy is only right while no host writes the extent: this host's
  // freeze must hold (the controller checks every freeze after the copy
  // and redoes the step if one was lost).
  RETURN_IF_ERROR(FreezeStillHeld(r.at.change));
  const uint64_t region_bytes = r.region_sectors * 512;
  if (asked == 0) return RecopyReply{true, 0, 0}.ToJson();
  // Round 0 (none given) could not tell a new round from a poll.
  if (r.round == 0) return absl::InvalidArgumentError("a recopy needs its freeze round");
  if (!RecopySent(r.at.change, r.round)) {
    // The runs count in the kernel migration's regions: the same geometry,
    // or they would name other bytes.
    ASSIGN_OR_RETURN(KernelExtent st, deps_.kernel->Read(c.extent));
    if (!st.migration || st.migration->regions != regions) {
      return absl::FailedPreconditionError(
          absl::StrCat("the migration of ", r.at.change, " is gone or has other regions"));
    }
    RETURN_IF_ERROR(deps_.kernel->MigrateRecopy(c.extent, r.runs, epoch));
    NoteRecopySent(r.at.change, r.round);
  }
  const absl::Time give_up = deps_.clock->Now() + deps_.recopy_inline_budget;
  while (true) {
    ASSIGN_OR_RETURN(KernelExtent st, deps_.kernel->Read(c.extent));
    if (!st.migration || st.migration->state == MigrationState::kFailed ||
        st.migration->state == MigrationState::kAbort) {
      return absl::FailedPreconditionError(
          absl::StrCat("the migration of ", r.at.change, " ended during its re-copy"));
    }
    // Regions not copied now are the asked ones still to do (the
    // migration was ready before, every region copied).
    const uint64_t left = std::min(asked, st.migration->regions - st.migration->copied_regions);
    RecopyReply reply{st.migration->state == MigrationState::kReady,
                      (asked - left) * region_bytes, asked * region_bytes};
    if (reply.done || deps_.clock->Now() >= give_up) return reply.ToJson();
    RETURN_IF_ERROR(FreezeStillHeld(r.at.change));
    deps_.kernel->WaitForProgress(
        std::min(give_up - deps_.clock->Now(), absl::Milliseconds(100)));
  }
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::Apply(const Json& body, uint64_t epoch) {
  ASSIGN_OR_RETURN(ApplyRequest r, ApplyRequest::FromJson(body));
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  ASSIGN_OR_RETURN(ChangeContext c, LoadChange(r.at, snap));
  // Only a committed change switches a host: etcd's map says dst already.
  if (c.move.phase != MoveRecord::Phase::kCommitting || r.dst != c.move.dst) {
    return absl::FailedPreconditionError(
        absl::StrCat("change ", r.at.change, " is not committed to ", ToString(r.dst)));
  }
  absl::StatusOr<KernelExtent> read = deps_.kernel->Read(c.extent);
  if (read.status().code() == absl::StatusCode::kNotFound) {
    // No device: it is created from etcd's map (dst) when the host
    // re-integrates.
    return Json{{"how", "no device"}};
  }
  ASSIGN_OR_RETURN(KernelExtent st, read);
  std::string how = "already";
  if (st.location != c.move.dst) {
    if (st.migration) {
      // Under the change's drained freeze this is the cluster form (no
      // hold of its own); without it the kernel holds and drains itself.
      RETURN_IF_ERROR(deps_.kernel->MigrateCommit(c.extent, epoch));
      how = "migrate_commit";
    } else {
      // No migration here (a host that joined after it began): set the
      // entry under a freeze of its own.
      RETURN_IF_ERROR(deps_.kernel->SetLocation(c.extent, c.move.dst, epoch));
      how = "map_set";
    }
  }
  deps_.publish({{"type", "cluster_applied"}, {"change", r.at.change},
                 {"volume", absl::StrCat(r.at.pool, "/", r.at.volume)}, {"vext", r.at.vext},
                 {"how", how}});
  return Json{{"how", how}};
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::Release(const std::string& change,
                                                         uint64_t epoch) {
  // A re-copy still running in the kernel goes on: the kernel orders it
  // with this host's writes, the other hosts' writes are in their dirty
  // sets for the next round, and the next freeze waits for the copier's
  // migration to be ready again.
  std::optional<HeldFreeze> held = Held(change);
  if (!held) return Json{{"released", false}};
  absl::Status s = deps_.kernel->Thaw(held->extent, held->id, epoch);
  // Refused for a newer epoch: the freeze still holds, and the new
  // Primary's release must find it.
  if (IsStaleEpoch(s)) return s;
  // A freeze that thawed itself (its timeout) is gone: NotFound is fine.
  Forget(change);
  deps_.publish({{"type", "cluster_released"}, {"change", change}});
  if (!s.ok() && s.code() != absl::StatusCode::kNotFound) return s;
  return Json{{"released", true}};
}

absl::StatusOr<PeerHandlers::Json> PeerHandlers::Abort(const Json& body, uint64_t epoch) {
  ASSIGN_OR_RETURN(AbortRequest r, AbortRequest::FromJson(body));
  // The destination is freed once every host aborted: the kernel's abort
  // waits for the copies in flight, so no re-copy writes it after this
  // answer.
  ASSIGN_OR_RETURN(Snapshot snap, deps_.db->Load());
  absl::StatusOr<ChangeContext> c = LoadChange(r.at, snap);
  if (c.ok()) {
    // Once etcd's map says dst, ending the migration would leave this host
    // writing to the source: a committed change only goes forward.
    if (c->move.phase == MoveRecord::Phase::kCommitting) {
      return absl::FailedPreconditionError(
          absl::StrCat("change ", r.at.change, " is committed; it cannot be rolled back"));
    }
    absl::StatusOr<KernelExtent> st = deps_.kernel->Read(c->extent);
    // No device: no migration, nothing to end.
    if (!st.ok() && st.status().code() != absl::StatusCode::kNotFound) return st.status();
    if (st.ok() && st->migration) RETURN_IF_ERROR(deps_.kernel->MigrateAbort(c->extent, epoch));
  } else if (c.status().code() != absl::StatusCode::kFailedPrecondition) {
    return c.status();
  }
  // An ended change (its record gone) has nothing left here but maybe its
  // freeze.
  return Release(r.at.change, epoch);
}

}  // namespace cvol::daemon
