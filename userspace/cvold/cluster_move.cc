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
// A member that does not answer in time is excluded: the controller waits
// until the member's etcd lease has expired (its volumes are fenced by then,
// by its daemon or by the kernel lease), records the exclusion, and goes on
// without it. A controller that takes over a record from another epoch rolls
// it back if the map was not yet changed (copying), forward otherwise.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster_agent.h"
#include "cvol/migrate_messages.h"
#include "log.h"
#include "service.h"
#include "status_macros.h"

namespace cvol::daemon {

// Another worker's commit to the same pool or volume won the race: re-read
// and redo the step (each step is idempotent).
// (A statement, not do-while: `continue` must reach the driver's loop.)
#define RETRY_ON_CONFLICT(expr)                                           \
  if (absl::Status _s = (expr); _s.code() == absl::StatusCode::kAborted) { \
    continue;                                                             \
  } else if (!_s.ok()) {                                                  \
    return _s;                                                            \
  } else                                                                  \
    (void)0

void Service::OnBecamePrimary() {
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
  while (true) {
    RETURN_IF_ERROR(MoveMayContinue(deadline));
    ASSIGN_OR_RETURN(cluster::ClusterView view, agent_->ReadView());
    if (!agent_->IsPrimary() || view.primary() == nullptr || view.primary()->host != self) {
      return absl::CancelledError("this host is no longer the Primary; the new one finishes it");
    }
    const int64_t epoch = view.epoch;
    Snapshot snap;
    {
      absl::MutexLock lock(&mu_);
      ASSIGN_OR_RETURN(snap, db_.Load());
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
      return absl::OkStatus();
    };
    auto call = [&](const cluster::Member& m, const std::string& type,
                    const Json& body) -> absl::StatusOr<Json> {
      if (m.addresses.empty()) return absl::UnavailableError("the member has no address");
      return peers_->Call(m.addresses.front(), type, epoch, body, options_.peer_deadline);
    };
    // Waits until m's lease is gone (m has fenced itself by then) and
    // records the exclusion. Unavailable if m keeps its lease.
    auto exclude = [&](const cluster::Member& m, const absl::Status& why) -> absl::Status {
      events_.Publish({{"type", "host_unresponsive"}, {"host", m.host}, {"change", change},
                       {"reason", std::string(why.message())}});
      LogWarning(absl::StrCat("move ", key, ": ", m.host, " did not answer (", why.message(),
                              "); waiting for its lease to expire"));
      const absl::Time until = absl::Now() + absl::Seconds(2 * agent_->lease_ttl_s() + 5);
      while (true) {
        absl::StatusOr<cluster::ClusterView> now = agent_->ReadView();
        if (now.ok()) {
          const cluster::Member* still = now->Find(m.host);
          if (still == nullptr || still->lease != m.lease) break;
        }
        if (absl::Now() > until) {
          return absl::UnavailableError(absl::StrCat(
              m.host, " does not answer but keeps its lease; the change waits for it"));
        }
        absl::SleepFor(absl::Milliseconds(200));
      }
      events_.Publish({{"type", "host_excluded"}, {"host", m.host}, {"change", change},
                       {"volume", full}, {"vext", move.record.vext}});
      return absl::OkStatus();
    };
    // Calls every member; the ones that fail are excluded. Returns the
    // replies of the others, and the excluded hosts.
    auto call_all = [&](const std::string& type, const Json& body, bool include_self,
                        std::map<std::string, Json>& replies,
                        std::vector<std::string>& excluded) -> absl::Status {
      for (const cluster::Member& m : view.members) {
        if (!include_self && m.host == self) continue;
        absl::StatusOr<Json> r = call(m, type, body);
        if (r.ok()) {
          replies[m.host] = *r;
          continue;
        }
        if (m.host == self) return r.status();
        RETURN_IF_ERROR(exclude(m, r.status()));
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
    if (move.record.step.empty() || move.record.epoch != static_cast<uint64_t>(epoch)) {
      std::string next = "follow";
      if (move.record.phase == MoveRecord::Phase::kCommitting) {
        next = "apply";
      } else if (!move.record.step.empty()) {
        next = "abort";
      }
      if (!move.record.step.empty()) {
        events_.Publish({{"type", "change_taken_over"}, {"change", change},
                         {"from_epoch", move.record.epoch}, {"epoch", epoch},
                         {"step", move.record.step}, {"next", next}});
      }
      RETRY_ON_CONFLICT(set_step(next));
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
        RETRY_ON_CONFLICT(set_step("abort", record_excluded(excluded)));
        continue;
      }
      RETRY_ON_CONFLICT(set_step("copy", record_excluded(excluded)));
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
      RETRY_ON_CONFLICT(set_step(failed ? "abort" : "freeze"));
    } else if (step == "freeze") {
      set_phase("committing", 0, 0);
      RETURN_IF_ERROR(call_all("freeze",
                               extent_body({{"change", change},
                                            {"timeout_ms", options_.cluster_freeze_timeout_ms}}),
                               /*include_self=*/true, replies, excluded));
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
      ASSIGN_OR_RETURN(Json copied, call(*me, "recopy",
                                         extent_body({{"src", src}, {"dst", dst},
                                                      {"region_sectors", region_sectors},
                                                      {"runs", runs}})));
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
      RETRY_ON_CONFLICT(db_.Commit(cs));
      events_.Publish({{"type", "change_step"}, {"change", change}, {"volume", full},
                       {"vext", move.record.vext}, {"step", "apply"}, {"epoch", epoch},
                       {"generation", updated.generation}});
    } else if (step == "apply") {
      set_phase("committing", 0, 0);
      absl::Status s = call_all("apply", extent_body({{"change", change}, {"dst", dst}}),
                                /*include_self=*/true, replies, excluded);
      if (!s.ok()) {
        LogWarning(absl::StrCat("move ", key, ": ", s.message(), "; retrying"));
        absl::SleepFor(options_.move_poll);
        continue;
      }
      RETRY_ON_CONFLICT(set_step("release", record_excluded(excluded)));
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
      RETRY_ON_CONFLICT(db_.Commit(cs));
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
