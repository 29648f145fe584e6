// The configuration-change controller for a cluster move (docs/cluster.md).
// It runs on the Primary only. The move record in etcd carries the step and
// the epoch, so a new Primary reads where its predecessor stopped:
//
//   follow   every other host starts a follow migration (dual-writes every
//            write to the extent, tracks the regions it wrote); replies once
//            it dual-writes all of them
//   copy     the Primary's kernel copies the extent until ready
//   freeze   every member freezes the extent and drains; followers report
//            their dirty regions; the Primary re-copies those (all of it if
//            a host was excluded or did not follow) while nothing moves;
//            then etcd gets the new map (phase committing, step apply)
//   apply    every member switches the extent to the destination
//   release  every member thaws; the record is deleted (frees the source)
//   abort    every member ends its migration and thaws; the record is
//            deleted (frees the destination); the source has every write
//
// A member that does not answer in time is excluded: the controller revokes
// its etcd lease if it still has one, waits until the member must have
// fenced its volumes (by its daemon or by the kernel lease), records the
// exclusion, and goes on without it. A controller that takes over a record
// from another epoch rolls it back if the map was not yet changed
// (copying), forward otherwise. While etcd is unavailable the change waits.
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster_agent.h"
#include "cvol/migrate_messages.h"
#include "fault_injection.h"
#include "log.h"
#include "service.h"
#include "status_macros.h"

namespace cvol::daemon {

// Another worker's commit to the same pool or volume won the race, or etcd
// is unavailable (no quorum): re-read and redo the step, which is
// idempotent; for etcd, after a pause (wait_for_etcd).
// (A statement, not do-while: `continue` must reach the driver's loop.)
#define REDO_STEP_IF_RETRYABLE(expr)                                       \
  if (absl::Status _s = (expr); _s.code() == absl::StatusCode::kAborted) { \
    continue;                                                              \
  } else if (_s.code() == absl::StatusCode::kUnavailable) {                \
    wait_for_etcd(_s);                                                     \
    continue;                                                              \
  } else if (!_s.ok()) {                                                   \
    return _s;                                                             \
  } else                                                                   \
    (void)0

void Service::DriveChanges() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return;
  for (const auto& [key, move] : snap->moves) StartMoveWorker(key);
}

absl::Status Service::DriveClusterMove(const std::string& key) {
  auto set_phase = [&](const std::string& phase, uint64_t copied, uint64_t regions) {
    SetMovePhase(key, phase, copied, regions);
  };
  const absl::Time deadline = absl::Now() + options_.move_timeout;
  const std::string self = agent_->host();
  // While etcd is unavailable nothing can be decided or recorded: the
  // change waits where it is (no host is left frozen), and goes on from
  // the record once etcd answers (docs/cluster.md, "etcd without quorum").
  std::string waiting_for;
  auto wait_for_etcd = [&](const absl::Status& why) {
    if (waiting_for.empty()) {
      LogWarning(absl::StrCat("move ", key, ": waiting for etcd: ", why.message()));
      events_.Publish({{"type", "change_waiting"}, {"move", key},
                       {"reason", std::string(why.message())}});
    }
    waiting_for = std::string(why.message());
    absl::SleepFor(absl::Seconds(1));
  };
  while (true) {
    RETURN_IF_ERROR(MoveMayContinue(deadline));
    absl::StatusOr<cluster::ClusterView> read_view = agent_->ReadView();
    REDO_STEP_IF_RETRYABLE(read_view.status());
    const cluster::ClusterView& view = *read_view;
    if (!agent_->IsPrimary() || view.primary() == nullptr || view.primary()->host != self) {
      return absl::CancelledError("this host is no longer the Primary; the new one finishes it");
    }
    const int64_t epoch = view.epoch;
    absl::StatusOr<Snapshot> loaded;
    {
      absl::MutexLock lock(&mu_);
      loaded = db_.Load();
    }
    REDO_STEP_IF_RETRYABLE(loaded.status());
    const Snapshot& snap = *loaded;
    if (!waiting_for.empty()) {
      events_.Publish({{"type", "change_resumed"}, {"move", key}});
      waiting_for.clear();
    }
    auto mit = snap.moves.find(key);
    if (mit == snap.moves.end()) {
      set_phase("done", 0, 0);
      return absl::OkStatus();
    }
    const Versioned<MoveRecord>& move = mit->second;
    {
      absl::MutexLock lock(&mu_);
      RememberMoveRecord(key, snap, move.record);
    }
    auto vit = snap.volumes.find({move.record.pool, move.record.volume});
    if (vit == snap.volumes.end()) return absl::DataLossError("the move's volume is gone");
    const Versioned<VolumeRecord>& volume = vit->second;
    const Versioned<PoolRecord>& pool = snap.pools.at(move.record.pool);
    const std::string full = absl::StrCat(move.record.pool, "/", move.record.volume);
    const std::string change = absl::StrCat(key, "#", move.record.started_ns);
    const Json dst = Json::array({move.record.dst.dev, move.record.dst.pext});
    const Json src = Json::array({move.record.src.dev, move.record.src.pext});
    auto extent_body = [&](Json extra) {
      extra["volume"] = full;
      extra["vext"] = move.record.vext;
      return extra;
    };
    auto set_step = [&](const std::string& step, const std::function<void(MoveRecord&)>& edit =
                                                     nullptr) -> absl::Status {
      MoveRecord next = move.record;
      next.step = step;
      next.epoch = static_cast<uint64_t>(epoch);
      if (edit) edit(next);
      ChangeSet cs(db_);
      cs.UpdateMove(move, next);
      RETURN_IF_ERROR(db_.Commit(cs));  // kAborted: re-read and go again (see below)
      events_.Publish({{"type", "change_step"}, {"change", change}, {"volume", full},
                       {"vext", move.record.vext}, {"step", step}, {"epoch", epoch}});
      CrashIfFaultFires(absl::StrCat("crash_at:", step));
      if (FaultFires(absl::StrCat("stall_at:", step))) absl::SleepFor(absl::Seconds(10));
      return absl::OkStatus();
    };
    auto call = [&](const cluster::Member& m, const std::string& type,
                    const Json& body) -> absl::StatusOr<Json> {
      if (m.addresses.empty()) return absl::UnavailableError("the member has no address");
      return peers_->Call(m.addresses.front(), type, epoch, body, options_.peer_deadline);
    };
    // Takes m out of the control range: once m's lease is gone, m has
    // fenced itself (its daemon at the next renewal, or its kernel lease
    // at the latest 3/4 TTL after the last renewal). A member that keeps
    // renewing but does not answer has its lease revoked, then gets a TTL
    // to notice. Records nothing; Unavailable while etcd is.
    auto exclude = [&](const cluster::Member& m, const absl::Status& why) -> absl::Status {
      events_.Publish({{"type", "host_unresponsive"}, {"host", m.host}, {"change", change},
                       {"reason", std::string(why.message())}});
      LogWarning(absl::StrCat("move ", key, ": ", m.host, " did not answer (", why.message(),
                              "); taking it out of the change"));
      absl::StatusOr<cluster::ClusterView> now = agent_->ReadView();
      // Without etcd nobody can tell whether m still holds its lease (m
      // may well be waiting for etcd too): the change waits.
      if (!now.ok()) return now.status();
      // A deposed controller (its requests refused as stale) must not
      // touch anyone's lease: the new Primary finishes the change.
      if (now->epoch != epoch) {
        return absl::CancelledError(absl::StrCat("epoch ", epoch, " is over (current ", now->epoch,
                                                 "); the new Primary finishes the change"));
      }
      const cluster::Member* still = now->Find(m.host);
      if (still != nullptr && still->lease == m.lease) {
        absl::Status revoked = agent_->RevokeLease(m.lease);
        // Even a revoke whose answer was lost may have ended the lease, and
        // m would then be missing from the next view: m gets its TTL to
        // fence either way.
        absl::SleepFor(absl::Seconds(agent_->lease_ttl_s()));
        RETURN_IF_ERROR(revoked);
        events_.Publish({{"type", "host_lease_revoked"}, {"host", m.host}, {"change", change},
                         {"lease", m.lease}});
      }
      events_.Publish({{"type", "host_excluded"}, {"host", m.host}, {"change", change},
                       {"volume", full}, {"vext", move.record.vext}});
      return absl::OkStatus();
    };
    // Calls every member; the ones that fail are excluded. Returns the
    // replies of the others, and the excluded hosts.
    // All at once: a step costs one round trip (and the slowest drain),
    // not one per member.
    auto call_all = [&](const std::string& type, const Json& body, bool include_self,
                        std::map<std::string, Json>& replies,
                        std::vector<std::string>& excluded) -> absl::Status {
      std::vector<const cluster::Member*> targets;
      for (const cluster::Member& m : view.members) {
        if (include_self || m.host != self) targets.push_back(&m);
      }
      if (FaultFires(absl::StrCat("stall_before:", type))) absl::SleepFor(absl::Seconds(10));
      std::vector<absl::StatusOr<Json>> results(targets.size(), absl::UnknownError("not called"));
      {
        std::vector<std::thread> calls;
        calls.reserve(targets.size());
        for (size_t i = 0; i < targets.size(); ++i) {
          calls.emplace_back([&, i] { results[i] = call(*targets[i], type, body); });
        }
        for (std::thread& t : calls) t.join();
      }
      for (size_t i = 0; i < targets.size(); ++i) {
        const cluster::Member& m = *targets[i];
        if (results[i].ok()) {
          replies[m.host] = *std::move(results[i]);
          continue;
        }
        if (m.host == self) return results[i].status();
        RETURN_IF_ERROR(exclude(m, results[i].status()));
        excluded.push_back(m.host);
      }
      return absl::OkStatus();
    };
    auto record_excluded = [&](const std::vector<std::string>& excluded) {
      return [excluded](MoveRecord& r) {
        for (const std::string& h : excluded) r.excluded.push_back(h);
      };
    };

    // A record from another epoch (or a fresh one): decide where to go.
    // A controller whose own host is re-integrating (it was fenced, and its
    // volumes wait for this very change) rolls back what is not committed
    // rather than copy from a fenced host: that releases every host soonest.
    const bool stranded = agent_->state() != ClusterAgent::State::kActive &&
                          move.record.phase != MoveRecord::Phase::kCommitting &&
                          move.record.step != "abort";
    if (move.record.step.empty() || move.record.epoch != static_cast<uint64_t>(epoch) ||
        stranded) {
      std::string next = "follow";
      if (move.record.phase == MoveRecord::Phase::kCommitting) {
        next = "apply";
      } else if (!move.record.step.empty() || stranded) {
        next = "abort";
      }
      if (!move.record.step.empty()) {
        events_.Publish({{"type", "change_taken_over"}, {"change", change},
                         {"from_epoch", move.record.epoch}, {"epoch", epoch},
                         {"step", move.record.step}, {"next", next}});
      }
      REDO_STEP_IF_RETRYABLE(set_step(next));
      continue;
    }

    const std::string& step = move.record.step;
    std::map<std::string, Json> replies;
    std::vector<std::string> excluded;
    if (step == "follow") {
      set_phase("copying", 0, 0);
      absl::Status s = call_all("migrate_start",
                                extent_body({{"dst", dst}, {"follow", true}}),
                                /*include_self=*/false, replies, excluded);
      if (!s.ok()) {
        LogWarning(absl::StrCat("move ", key, ": ", s.message()));
        REDO_STEP_IF_RETRYABLE(set_step("abort", record_excluded(excluded)));
        continue;
      }
      REDO_STEP_IF_RETRYABLE(set_step("copy", record_excluded(excluded)));
    } else if (step == "copy") {
      bool failed = false;
      {
        absl::MutexLock lock(&mu_);
        ASSIGN_OR_RETURN(ExtentState st,
                         ReadExtent(volume.record, pool.record.extent_sectors, move.record.vext));
        if (!st.migration) {
          ASSIGN_OR_RETURN(std::string msg, FormatMigrateStart(st.at.local_vext, move.record.dst));
          absl::StatusOr<std::string> r = dm_.Message(st.dm_name, st.at.sector, msg);
          // EBUSY: a follow migration of a previous attempt; it ends at abort.
          failed = !r.ok();
          if (failed) LogWarning(absl::StrCat("move ", key, ": migrate_start: ", r.status().message()));
        } else {
          set_phase("copying", st.migration->copied_regions, st.migration->regions);
          if (st.migration->state == MigrationState::kFailed) failed = true;
        }
        if (!failed && !(st.migration && st.migration->state == MigrationState::kReady)) {
          kernel_progress_.WaitWithTimeout(&mu_, options_.move_poll);
          continue;
        }
      }
      REDO_STEP_IF_RETRYABLE(set_step(failed ? "abort" : "freeze"));
    } else if (step == "freeze") {
      set_phase("committing", 0, 0);
      // Every way out of this step but the commit thaws the hosts first:
      // held I/O must not wait for etcd or for the next attempt.
      auto thaw_all = [&]() {
        for (const cluster::Member& m : view.members) {
          if (absl::StatusOr<Json> r = call(m, "release", Json{{"change", change}}); !r.ok()) {
            LogWarning(absl::StrCat("move ", key, ": release ", m.host, ": ", r.status().message()));
          }
        }
      };
      if (absl::Status s = call_all("freeze",
                                    extent_body({{"change", change},
                                                 {"timeout_ms",
                                                  options_.cluster_freeze_timeout_ms}}),
                                    /*include_self=*/true, replies, excluded);
          !s.ok()) {
        thaw_all();
        REDO_STEP_IF_RETRYABLE(s);
      }
      CrashIfFaultFires("crash_in:freeze");  // every host frozen, nothing decided
      // Regions written by other hosts while the copy ran may be stale on
      // the destination; re-copy them now that no host writes.
      bool whole = !excluded.empty() || !move.record.excluded.empty();
      std::set<uint64_t> regions;
      uint64_t region_sectors = 0, nr_regions = 0;
      for (const auto& [host, reply] : replies) {
        if (!reply.value("migrating", false)) {
          whole = true;  // it wrote without dual-writing
          continue;
        }
        region_sectors = reply.value("region_sectors", uint64_t{0});
        nr_regions = reply.value("regions", uint64_t{0});
        if (host == self) continue;  // the copier's own writes are ordered with its copies
        for (const Json& run : reply.value("dirty", Json::array())) {
          for (uint64_t r = run[0].get<uint64_t>(); r < run[0].get<uint64_t>() + run[1].get<uint64_t>(); ++r) {
            regions.insert(r);
          }
        }
      }
      if (region_sectors == 0) return absl::InternalError("no host reported the migration");
      Json runs = Json::array();
      if (whole) {
        runs.push_back(Json::array({0, nr_regions}));
      } else {
        for (auto it = regions.begin(); it != regions.end();) {
          uint64_t r0 = *it, n = 0;
          while (it != regions.end() && *it == r0 + n) {
            ++n;
            ++it;
          }
          runs.push_back(Json::array({r0, n}));
        }
      }
      const cluster::Member* me = view.Find(self);
      absl::StatusOr<Json> recopied = call(*me, "recopy",
                                           extent_body({{"src", src}, {"dst", dst},
                                                        {"region_sectors", region_sectors},
                                                        {"runs", runs}}));
      if (!recopied.ok()) {
        thaw_all();
        return recopied.status();
      }
      const Json& copied = *recopied;
      events_.Publish({{"type", "change_recopied"}, {"change", change},
                       {"bytes", copied.value("copied_bytes", uint64_t{0})}, {"whole", whole}});
      // The new map, before any host switches to it.
      MoveRecord committing = move.record;
      committing.phase = MoveRecord::Phase::kCommitting;
      committing.step = "apply";
      committing.epoch = static_cast<uint64_t>(epoch);
      for (const std::string& h : excluded) committing.excluded.push_back(h);
      VolumeRecord updated = volume.record;
      updated.runs = Remap(updated.runs, move.record.vext, move.record.dst);
      ++updated.generation;
      ChangeSet cs(db_);
      cs.ChangeAllocation(pool);
      cs.UpdateVolume(volume, updated);
      cs.UpdateMove(move, committing);
      if (absl::Status s = db_.Commit(cs); !s.ok()) {
        // A conflict redoes the step under the same freezes; etcd gone
        // (the commit's outcome may be unknown) thaws first. Thawed hosts
        // still dual-write, so either map is safe to resume from.
        if (s.code() != absl::StatusCode::kAborted) thaw_all();
        REDO_STEP_IF_RETRYABLE(s);
      }
      events_.Publish({{"type", "change_step"}, {"change", change}, {"volume", full},
                       {"vext", move.record.vext}, {"step", "apply"}, {"epoch", epoch},
                       {"generation", updated.generation}});
      CrashIfFaultFires("crash_at:apply");
    } else if (step == "apply") {
      set_phase("committing", 0, 0);
      absl::Status s = call_all("apply", extent_body({{"change", change}, {"dst", dst}}),
                                /*include_self=*/true, replies, excluded);
      if (!s.ok()) {
        LogWarning(absl::StrCat("move ", key, ": ", s.message(), "; retrying"));
        absl::SleepFor(options_.move_poll);
        continue;
      }
      REDO_STEP_IF_RETRYABLE(set_step("release", record_excluded(excluded)));
    } else if (step == "release" || step == "abort") {
      const bool abort = step == "abort";
      absl::Status s = call_all(abort ? "abort" : "release",
                                abort ? extent_body({{"change", change}}) : Json{{"change", change}},
                                /*include_self=*/true, replies, excluded);
      if (!s.ok() && abort) {
        // A host that may still dual-write into the destination must be
        // fenced before the destination is freed.
        LogWarning(absl::StrCat("move ", key, ": ", s.message(), "; retrying"));
        absl::SleepFor(options_.move_poll);
        continue;
      }
      ChangeSet cs(db_);
      cs.ChangeAllocation(pool);
      cs.DeleteMove(move);
      REDO_STEP_IF_RETRYABLE(db_.Commit(cs));
      if (abort) {
        set_phase("rolled_back", 0, 0);
        events_.Publish({{"type", "move_failed"}, {"volume", full}, {"vext", move.record.vext},
                         {"change", change}, {"reason", "rolled back"}});
        return absl::AbortedError("rolled back to the source");
      }
      set_phase("done", 0, 0);
      events_.Publish({{"type", "move_done"}, {"volume", full}, {"vext", move.record.vext},
                       {"change", change}, {"generation", volume.record.generation},
                       {"excluded", move.record.excluded}});
      return absl::OkStatus();
    } else {
      return absl::DataLossError(absl::StrCat("unknown step '", step, "' in ", key));
    }
  }
}

}  // namespace cvol::daemon
