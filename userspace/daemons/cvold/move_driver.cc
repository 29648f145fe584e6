// volume.move and the worker that drives each recorded move through the
// kernel migration (docs/cvold.md, "Moves"):
//
//   copying     record says: map = src, dst reserved.  Kernel: migrate_start,
//               copy, dual-write, until ready.
//   committing  record says: map = dst, src reserved.  Written BEFORE the
//               kernel switches, so etcd never lags the kernel: a crash after
//               migrate_commit finds dst in etcd, which is where writes go.
//   done        the record is deleted, which frees src.
//
// Every step is re-derived from etcd plus the kernel's state, so a worker
// restarted after a crash (or a daemon restart) simply continues.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cluster_agent.h"
#include "cvol/control/args.h"
#include "cvol/control/names.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "cvol/status.h"
#include "log.h"
#include "pool_view.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
namespace {

using control::ArgReader;

}  // namespace

// In a cluster the Primary runs every move: another host forwards the
// command to it and, with --wait, follows the moves' progress there.
absl::StatusOr<Service::Json> Service::VolumeMove(const Json& args, const Progress& progress) {
  ArgReader reader(args);
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  ASSIGN_OR_RETURN(uint64_t vext, reader.Uint("vext"));
  ASSIGN_OR_RETURN(std::optional<uint64_t> count_arg, reader.OptionalUint("count"));
  ASSIGN_OR_RETURN(std::optional<std::string> to_pv, reader.OptionalString("to_pv"));
  ASSIGN_OR_RETURN(bool wait, reader.Bool("wait", false));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));
  const uint64_t count = count_arg.value_or(1);
  if (count == 0 || count > 1024) {
    return absl::InvalidArgumentError("count must be 1 to 1024 extents");
  }
  Json start{{"volume", name.full()}, {"vext", vext}, {"count", count}};
  if (to_pv) start["to_pv"] = *to_pv;
  if (clustered() && !agent_->IsPrimary()) {
    return ForwardVolumeMove(name.full(), start, wait, progress);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> keys, StartMoves(start));
  auto report = [&]() {
    Json moves = Json::array();
    for (const std::string& key : keys) moves.push_back(MoveProgress(key));
    return Json{{"moves", std::move(moves)}};
  };
  if (!wait) return report();
  while (true) {
    Json moves = report();
    ASSIGN_OR_RETURN(bool finished, MovesFinished(name.full(), moves));
    if (finished) return moves;
    if (progress) progress(moves);
    absl::MutexLock lock(&moves_mu_);
    move_finished_.WaitWithTimeout(&moves_mu_, absl::Milliseconds(200));
  }
}

// True once every move of a report has finished; an error names the first
// that failed or was rolled back.
absl::StatusOr<bool> Service::MovesFinished(const std::string& volume, const Json& report) {
  std::vector<std::string> failures;
  for (const Json& m : report.value("moves", Json::array())) {
    if (!m.value("finished", false)) return false;
    if (m.value("phase", "") == "failed" || m.value("phase", "") == "rolled_back") {
      failures.push_back(absl::StrCat("extent ", m.value("vext", 0), ": ",
                                      m.value("error", std::string("failed"))));
    }
  }
  if (!failures.empty()) {
    return absl::AbortedError(
        absl::StrCat("move of '", volume, "' did not complete: ", failures.front()));
  }
  return true;
}

absl::StatusOr<Service::Json> Service::ForwardVolumeMove(const std::string& volume,
                                                         const Json& start, bool wait,
                                                         const Progress& progress) {
  const cluster::ClusterView view = agent_->last_view();
  const cluster::Member* primary = view.primary();
  if (primary == nullptr || primary->addresses.empty()) {
    return absl::UnavailableError("the cluster has no Primary to run the move; try again");
  }
  const PeerTarget to{primary->host, primary->addresses.front()};
  auto call = [&](const std::string& type, const Json& body) -> absl::StatusOr<Json> {
    absl::StatusOr<Json> r = peers_->Call(to, type, view.epoch, body, options_.peer_deadline);
    if (!r.ok()) {
      return absl::Status(r.status().code(), absl::StrCat("the Primary (", primary->host, "): ",
                                                          r.status().message()));
    }
    return r;
  };
  ASSIGN_OR_RETURN(Json started, call("volume_move", start));
  events_.Publish({{"type", "move_forwarded"}, {"volume", volume}, {"primary", primary->host},
                   {"keys", started.value("keys", Json::array())}});
  Json report{{"moves", started.value("moves", Json::array())}, {"primary", primary->host}};
  if (!wait) return report;
  const Json keys{{"keys", started.value("keys", Json::array())}};
  while (true) {
    ASSIGN_OR_RETURN(bool finished, MovesFinished(volume, report));
    if (finished) return report;
    if (progress) progress(report);
    absl::SleepFor(absl::Milliseconds(500));
    ASSIGN_OR_RETURN(Json moves, call("move_progress", keys));
    report["moves"] = moves.value("moves", Json::array());
  }
}

// The Primary's side of a forwarded command.
absl::StatusOr<Service::Json> Service::PeerVolumeMove(const Json& body) {
  ASSIGN_OR_RETURN(std::vector<std::string> keys, StartMoves(body));
  Json moves = Json::array();
  for (const std::string& key : keys) moves.push_back(MoveProgress(key));
  return Json{{"keys", keys}, {"moves", std::move(moves)}};
}

absl::StatusOr<Service::Json> Service::PeerMoveProgress(const Json& body) {
  ArgReader reader(body);
  ASSIGN_OR_RETURN(Json keys, reader.Raw("keys"));
  RETURN_IF_ERROR(reader.Finish());
  if (!keys.is_array() || keys.size() > 1024) {
    return absl::InvalidArgumentError("keys must be an array of at most 1024 move keys");
  }
  Json moves = Json::array();
  for (const Json& key : keys) {
    if (!key.is_string()) return absl::InvalidArgumentError("a move key must be a string");
    absl::MutexLock lock(&moves_mu_);
    // Only moves this host started or took over: another key would report
    // an empty state that never finishes.
    if (!move_states_.contains(key.get<std::string>())) {
      return absl::NotFoundError(absl::StrCat("no move ", key.get<std::string>(),
                                              " on this host (the Primary changed?)"));
    }
  }
  for (const Json& key : keys) moves.push_back(MoveProgress(key.get<std::string>()));
  return Json{{"moves", std::move(moves)}};
}

// Records the moves of start (volume, vext, count, to_pv) and starts their
// workers; the Primary only. Returns the move keys.
absl::StatusOr<std::vector<std::string>> Service::StartMoves(const Json& start) {
  ArgReader reader(start);
  ASSIGN_OR_RETURN(std::string text, reader.String("volume"));
  ASSIGN_OR_RETURN(uint64_t vext, reader.Uint("vext"));
  ASSIGN_OR_RETURN(uint64_t count, reader.Uint("count"));
  ASSIGN_OR_RETURN(std::optional<std::string> to_pv, reader.OptionalString("to_pv"));
  RETURN_IF_ERROR(reader.Finish());
  ASSIGN_OR_RETURN(control::VolumeName name, control::ParseVolumeName(text));
  if (count == 0 || count > 1024) {
    return absl::InvalidArgumentError("count must be 1 to 1024 extents");
  }
  if (clustered() && !agent_->IsPrimary()) {
    return absl::FailedPreconditionError("this host is not the Primary (any more)");
  }
  if (clustered() && agent_->state() != ClusterAgent::State::kActive) {
    return absl::UnavailableError(
        "this host (the Primary) is re-integrating after a fence; moves wait until it is active");
  }
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(RetryOnConflict([&]() -> absl::Status {
      keys.clear();
      ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
      const VolumeRecord* volume = snap.FindVolume(name.pool, name.volume);
      if (volume == nullptr) {
        return absl::NotFoundError(absl::StrCat("volume '", name.full(), "' does not exist"));
      }
      if (vext >= volume->extents || count > volume->extents - vext) {
        return absl::OutOfRangeError(absl::StrCat("extents ", vext, "-", vext + count - 1,
                                                  " are outside '", name.full(), "' (0-",
                                                  volume->extents - 1, ")"));
      }
      ASSIGN_OR_RETURN(PoolView view, PoolView::Build(snap, name.pool));
      std::optional<uint32_t> target;
      if (to_pv) {
        for (uint32_t i = 0; i < view.pvs().size(); ++i) {
          if (view.pvs()[i]->name == *to_pv || view.pvs()[i]->uuid == *to_pv) target = i;
        }
        if (!target) {
          return absl::NotFoundError(
              absl::StrCat("pool '", name.pool, "' has no pv '", *to_pv, "'"));
        }
      }
      ChangeSet change(db_);
      change.ChangeAllocation(snap.pools.at(name.pool));
      for (uint64_t e = vext; e < vext + count; ++e) {
        MoveRecord move;
        move.pool = name.pool;
        move.volume = name.volume;
        move.volume_uuid = volume->uuid;
        move.vext = e;
        if (snap.moves.contains(db_.MoveKey(move))) {
          return absl::FailedPreconditionError(
              absl::StrCat("extent ", e, " of '", name.full(), "' is moving already"));
        }
        move.src = LocationOf(*volume, e);
        ASSIGN_OR_RETURN(uint32_t src_index, view.IndexOfSlot(move.src.dev));
        absl::StatusOr<Location> dst =
            target ? view.allocator().AllocateOne(pool::PvHint::kPrefer, *target)
                   : view.allocator().AllocateOne(pool::PvHint::kExclude, src_index);
        if (!target && !dst.ok()) dst = view.allocator().AllocateOne(pool::PvHint::kAny);
        if (!dst.ok() || (target && dst->dev != *target)) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "no free extent for extent ", e, to_pv ? absl::StrCat(" on pv '", *to_pv, "'") : "",
              " in pool '", name.pool, "'"));
        }
        move.dst = view.ToSlot(*dst);
        move.phase = MoveRecord::Phase::kCopying;
        move.started_ns = WallClockNs();
        change.CreateMove(move);
        keys.push_back(db_.MoveKey(move));
      }
      return db_.Commit(change);
    }));
    // The tables must list the destination slots (a pv added since).
    ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
    RETURN_IF_ERROR(ActivateVolume(snap, *snap.FindVolume(name.pool, name.volume)));
    for (const std::string& key : keys) {
      const MoveRecord& m = snap.moves.at(key).record;
      events_.Publish({{"type", "move_started"},
                       {"volume", name.full()},
                       {"vext", m.vext},
                       {"src", {{"slot", m.src.dev}, {"pext", m.src.pext}}},
                       {"dst", {{"slot", m.dst.dev}, {"pext", m.dst.pext}}}});
      if (!clustered()) StartMoveWorker(key);
    }
    if (clustered()) StartClusterMoves(snap);
  }
  return keys;
}

Service::Json Service::MoveProgress(const std::string& key) {
  Json j;
  absl::MutexLock lock(&moves_mu_);
  const MoveState& s = move_states_[key];
  if (s.record.is_object()) j = s.record;
  j["vext"] = std::stoull(key.substr(key.rfind('/') + 1));
  j["phase"] = s.phase;
  j["copied_regions"] = s.copied;
  j["regions"] = s.regions;
  j["finished"] = s.finished;
  if (!s.error.empty()) j["error"] = s.error;
  return j;
}

void Service::SetMovePhase(const std::string& key, const std::string& phase, uint64_t copied,
                           uint64_t regions) {
  absl::MutexLock lock(&moves_mu_);
  MoveState& s = move_states_[key];
  s.phase = phase;
  if (regions) {
    s.copied = copied;
    s.regions = regions;
  }
}

absl::Status Service::MoveMayContinue(absl::Time deadline) {
  {
    absl::MutexLock lock(&moves_mu_);
    if (stopping_) return absl::CancelledError("daemon stopping; the move resumes at restart");
  }
  if (absl::Now() > deadline) return absl::DeadlineExceededError("the move took too long");
  return absl::OkStatus();
}

bool Service::MoveRecordRendered(const std::string& key, int64_t mod_revision) {
  absl::MutexLock lock(&moves_mu_);
  auto it = move_states_.find(key);
  return it != move_states_.end() && it->second.record_revision == mod_revision;
}

void Service::RememberMoveRecord(const std::string& key, const Versioned<MoveRecord>& move) {
  if (MoveRecordRendered(key, move.mod_revision)) return;
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return;  // rendered at the next pass
  Json rendered = MoveJson(*snap, move.record);
  absl::MutexLock lock(&moves_mu_);
  MoveState& state = move_states_[key];
  state.record = std::move(rendered);
  state.record_revision = move.mod_revision;
}

void Service::StartMoveWorker(const std::string& key) {
  absl::MutexLock lock(&moves_mu_);
  if (stopping_ || move_tasks_.contains(key)) return;
  // A finished move of the same extent (keys repeat) starts afresh. It
  // waits for a worker until its first turn.
  MoveState& state = move_states_[key] = MoveState{};
  state.phase = "queued";
  move_tasks_.insert(key);
  // The move's time counts from its first turn.
  move_workers_.Schedule([this, key] { RunMove(key, absl::Now() + options_.move_timeout); });
}

void Service::RunMove(const std::string& key, absl::Time deadline) {
  absl::StatusOr<MoveTurn> turn = DriveMove(key, deadline);
  bool drive_again = false;
  {
    absl::MutexLock lock(&moves_mu_);
    if (turn.ok() && *turn == MoveTurn::kAgain) {
      // Behind the moves that wait for a worker: one of them may be what
      // this one waits for (the holder of a migration slot).
      if (!stopping_) {
        move_workers_.Schedule([this, key, deadline] { RunMove(key, deadline); });
        return;
      }
      turn = absl::CancelledError("daemon stopping; the move resumes at restart");
    }
    move_tasks_.erase(key);
    drive_again = EndMove(key, turn.status());
  }
  // A queued move of the volume may start now.
  if (drive_again) agent_->RequestDrive();
}

bool Service::EndMove(const std::string& key, const absl::Status& s) {
  MoveState& state = move_states_[key];
  if (!s.ok()) {
    if (state.phase != "rolled_back") state.phase = stopping_ ? state.phase : "failed";
    state.error = std::string(s.message());
    LogError(absl::StrCat("move ", key, ": ", s.message()));
  }
  state.finished = true;
  move_finished_.SignalAll();
  // Only a move that ended frees a slot; a worker that failed is started
  // again by the periodic drive, not at once (an error that comes back at
  // once would spin).
  const bool ended = s.ok() || s.code() == absl::StatusCode::kAborted;
  return clustered() && !stopping_ && ended;
}

absl::StatusOr<Service::MoveTurn> Service::DriveMove(const std::string& key,
                                                     absl::Time& deadline) {
  if (clustered()) return DriveClusterMove(key, deadline);
  // etcd away (or between leaders): the move waits and goes on from its
  // record and the kernel's state; it does not end until a restart. No
  // other move goes on without etcd either, so it keeps its worker.
  absl::Duration pause = absl::Milliseconds(500);
  bool waiting = false;
  while (true) {
    absl::StatusOr<MoveTurn> turn = DriveLocalMove(key, deadline);
    if (turn.status().code() != absl::StatusCode::kUnavailable) return turn;
    const absl::Status& s = turn.status();
    if (!waiting) {
      LogWarning(absl::StrCat("move ", key, ": waiting for etcd: ", s.message()));
      events_.Publish({{"type", "change_waiting"}, {"move", key}, {"reason", std::string(s.message())}});
      waiting = true;
    }
    SetMovePhase(key, "waiting for etcd", 0, 0);
    for (absl::Time until = absl::Now() + pause; absl::Now() < until;) {
      RETURN_IF_ERROR(MoveMayContinue(absl::InfiniteFuture()));
      absl::SleepFor(absl::Milliseconds(100));
    }
    pause = std::min(2 * pause, absl::Seconds(5));
    // The move's time starts again once etcd is back.
    deadline = absl::Now() + options_.move_timeout;
  }
}

absl::StatusOr<Service::MoveTurn> Service::DriveLocalMove(const std::string& key,
                                                          absl::Time deadline) {
  auto set_phase = [&](const std::string& phase, uint64_t copied, uint64_t regions) {
    SetMovePhase(key, phase, copied, regions);
  };
  // A turn ends (kAgain) only where this is still false.
  bool started_here = false;
  while (true) {
    RETURN_IF_ERROR(MoveMayContinue(deadline));
    absl::MutexLock lock(&mu_);
    // This move's records, not the whole prefix: each commit below guards
    // every record it changes (config_db.h, MoveScope).
    absl::StatusOr<std::optional<MoveScope>> loaded = db_.LoadMove(key);
    if (absl::IsAborted(loaded.status())) continue;  // it changed while read: read again
    ASSIGN_OR_RETURN(std::optional<MoveScope> scope, std::move(loaded));
    if (!scope) {
      set_phase("done", 0, 0);
      return MoveTurn::kDone;
    }
    const Versioned<MoveRecord>& move = scope->move;
    RememberMoveRecord(key, move);
    const Versioned<VolumeRecord>& volume = scope->volume;
    const Versioned<PoolRecord>& pool = scope->pool;
    const uint64_t es = pool.record.extent_sectors;
    const std::string full = absl::StrCat(move.record.pool, "/", move.record.volume);
    ASSIGN_OR_RETURN(ExtentState kernel, ReadExtent(volume.record, es, move.record.vext));
    const ExtentAddress& at = kernel.at;
    const std::string& dm_name = kernel.dm_name;
    const bool at_src = kernel.location == move.record.src;
    const bool at_dst = kernel.location == move.record.dst;

    // Finish: the kernel switched and etcd says so; free src.
    auto finish = [&]() -> absl::Status {
      ChangeSet change(db_);
      change.ChangeAllocation(pool);
      change.DeleteMove(move);
      RETURN_IF_ERROR(db_.Commit(change));
      set_phase("done", 0, 0);
      events_.Publish({{"type", "move_done"}, {"volume", full}, {"vext", move.record.vext},
                       {"generation", volume.record.generation}});
      return absl::OkStatus();
    };
    // Roll back: the source is authoritative; etcd goes back to it.
    auto roll_back = [&](const std::string& why) -> absl::Status {
      ChangeSet change(db_);
      change.ChangeAllocation(pool);
      if (move.record.phase == MoveRecord::Phase::kCommitting) {
        VolumeRecord back = volume.record;
        back.runs = Remap(back.runs, move.record.vext, move.record.src);
        ++back.generation;
        change.UpdateVolume(volume, back);
      }
      change.DeleteMove(move);
      RETURN_IF_ERROR(db_.Commit(change));
      set_phase("rolled_back", 0, 0);
      events_.Publish({{"type", "move_failed"}, {"volume", full}, {"vext", move.record.vext},
                       {"reason", why}});
      return absl::AbortedError(absl::StrCat("rolled back to the source: ", why));
    };

    if (move.record.phase == MoveRecord::Phase::kCopying) {
      if (!at_src && !at_dst) {
        return absl::DataLossError(absl::StrCat("extent ", move.record.vext, " of ", full,
                                                " is neither at the source nor at the destination"));
      }
      if (kernel.migration) {
        started_here = true;
        set_phase("copying", kernel.migration->copied_regions, kernel.migration->regions);
      }
      // at_dst: the kernel is ahead of the record (nothing in this protocol
      // does that, but a person with dmsetup can); etcd follows the kernel.
      if (at_dst || (kernel.migration && kernel.migration->state == MigrationState::kReady)) {
        // Persist the new location before the kernel switches to it.
        MoveRecord committing = move.record;
        committing.phase = MoveRecord::Phase::kCommitting;
        VolumeRecord updated = volume.record;
        updated.runs = Remap(updated.runs, move.record.vext, move.record.dst);
        ++updated.generation;
        ChangeSet change(db_);
        change.ChangeAllocation(pool);
        change.UpdateVolume(volume, updated);
        change.UpdateMove(move, committing);
        RETURN_IF_ERROR(db_.Commit(change));
        set_phase("committing", 0, 0);
        continue;
      }
      if (!kernel.migration) {
        if (started_here) {
          // It was running and the kernel ended it: copy errors (migrate_failed).
          return roll_back("the kernel ended the migration (see the migrate_failed event)");
        }
        ASSIGN_OR_RETURN(std::string msg, FormatMigrateStart(at.local_vext, move.record.dst));
        absl::StatusOr<std::string> r = dm_.Message(dm_name, at.sector, msg);
        if (absl::IsFailedPrecondition(r.status()) || absl::IsUnavailable(r.status())) {
          // EBUSY (failed precondition): the volume runs as many migrations
          // as the kernel allows (migrate_throttle; this extent has none);
          // EAGAIN (unavailable): the device is between tables. The move
          // waits its turn instead of rolling back, and gives its worker to
          // the moves behind it meanwhile (a slot's holder may be one).
          set_phase("queued", 0, 0);
          kernel_progress_.WaitWithTimeout(&mu_, options_.move_poll);
          return MoveTurn::kAgain;
        }
        if (!r.ok()) return roll_back(absl::StrCat("migrate_start: ", r.status().message()));
        started_here = true;
        set_phase("copying", 0, 0);
        continue;
      }
    } else {  // kCommitting: etcd already says dst
      if (at_dst) {
        RETURN_IF_ERROR(finish());
        return MoveTurn::kDone;
      }
      if (!at_src) {
        return absl::DataLossError(absl::StrCat("extent ", move.record.vext, " of ", full,
                                                " is neither at the source nor at the destination"));
      }
      if (!kernel.migration) {
        // The kernel migration is gone (failed, or the device was made
        // again from an older map): the source has every write.
        return roll_back("the kernel migration ended before the commit");
      }
      if (kernel.migration->state == MigrationState::kReady) {
        ASSIGN_OR_RETURN(std::string msg, FormatMigrateCommit(at.local_vext));
        absl::StatusOr<std::string> r = dm_.Message(dm_name, at.sector, msg);
        if (r.ok()) continue;  // the next pass sees dst and finishes
        LogWarning(absl::StrCat("move ", key, ": migrate_commit: ", r.status().message(),
                                "; retrying"));
      }
    }
    // Wait (without the lock) for the kernel to make progress: a migration
    // event or the poll interval, whichever comes first.
    kernel_progress_.WaitWithTimeout(&mu_, options_.move_poll);
  }
}

}  // namespace cvol::daemon
