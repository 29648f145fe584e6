// The cluster protocol under the seeded simulation (cluster_sim.h): many
// seeds, each a different interleaving of writes, copies, lost messages
// and faults; every invariant checked after every event. A failing seed
// prints its trace; CVOL_SIM_SEEDS=N runs N seeds, CVOL_SIM_SEED=S only S.
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cluster_sim.h"
#include "gtest/gtest.h"

namespace cvol::daemon::sim {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoull(v, nullptr, 10);
}

void RunSeeds(SimOptions base, uint64_t first, uint64_t count) {
  // The hosts are separate processes in life; here one thread plays them
  // all, so one host's lock held across a wait while another's is taken
  // is not the lock-order cycle it would be within one daemon.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  SimResult total;
  const absl::Time started = absl::Now();
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions options = base;
    options.seed = seed;
    SimResult r = RunSimulation(options);
    total.events += r.events;
    total.writes_acked += r.writes_acked;
    total.moves_done += r.moves_done;
    total.moves_rolled_back += r.moves_rolled_back;
    total.exclusions += r.exclusions;
    total.faults += r.faults;
    total.stale_epoch_refusals += r.stale_epoch_refusals;
    total.step_downs += r.step_downs;
    total.impersonations += r.impersonations;
    total.impersonations_in_epoch += r.impersonations_in_epoch;
    total.reintegrations += r.reintegrations;
    total.orphan_freezes_thawed += r.orphan_freezes_thawed;
    total.ended_changes_thawed += r.ended_changes_thawed;
    total.simulated += r.simulated;
    if (!r.ok) {
      FAIL() << "seed " << seed << ": " << r.failure << "\n"
             << "replay: CVOL_SIM_SEED=" << seed << "\ntrace (last events):\n"
             << absl::StrJoin(r.trace, "\n");
    }
  }
  std::cout << count << " seeds in " << absl::FormatDuration(absl::Now() - started) << ": "
            << total.events << " events, " << absl::FormatDuration(total.simulated)
            << " simulated, " << total.writes_acked << " writes acknowledged, "
            << total.moves_done << " moves done, " << total.moves_rolled_back
            << " rolled back, " << total.exclusions << " exclusions, " << total.faults
            << " faults, " << total.stale_epoch_refusals << " stale epochs refused by a kernel, "
            << total.step_downs << " Primaries stepped down, " << total.impersonations
            << " impersonated controller steps refused (" << total.impersonations_in_epoch
            << " in the Primary's epoch), "
            << total.reintegrations << " re-integrations (" << total.orphan_freezes_thawed
            << " orphan freezes and " << total.ended_changes_thawed
            << " ended changes' freezes thawed)\n";
  // The impersonation fault ran, and reached the sender check (not only
  // the stale-epoch one), or the check could be gone unnoticed.
  if (count >= 20) {
    EXPECT_GT(total.impersonations_in_epoch, 0u);
  }
}

// Under the sanitizers every seed costs ten times more: fewer of them.
#ifndef CVOL_SIM_DEFAULT_SEEDS
#define CVOL_SIM_DEFAULT_SEEDS 10000
#endif

// CVOL_SIM_SEED=S replays seed S alone (CVOL_SIM_TRACE=N: its last N
// events); CVOL_SIM_SEEDS=N runs seeds 1..N.
void RunTest(SimOptions options, uint64_t default_seeds) {
  options.trace_tail = EnvOr("CVOL_SIM_TRACE", options.trace_tail);
  if (const char* one = std::getenv("CVOL_SIM_SEED")) {
    RunSeeds(options, std::strtoull(one, nullptr, 10), 1);
    return;
  }
  RunSeeds(options, 1, EnvOr("CVOL_SIM_SEEDS", default_seeds));
}

TEST(ClusterSimTest, MovesWithoutFaultsCompleteAndLoseNothing) {
  SimOptions options;
  options.faults = false;
  RunTest(options, CVOL_SIM_DEFAULT_SEEDS / 10);
}

// More moves of one volume than a kernel runs migrations at once: they
// queue at the controller, none is refused into a rollback (a follower
// that says EBUSY three times would roll it back here).
TEST(ClusterSimTest, MovesBeyondTheMigrationLimitQueue) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const uint64_t seeds = EnvOr("CVOL_SIM_SEEDS", CVOL_SIM_DEFAULT_SEEDS / 50);
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    SimOptions options;
    options.seed = seed;
    options.faults = false;
    options.extents_to_move = 4;
    options.max_migrations = 1;
    options.max_refusals = 3;
    SimResult r = RunSimulation(options);
    ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.failure << "\n" << absl::StrJoin(r.trace, "\n");
    EXPECT_EQ(r.moves_done, 4u) << "seed " << seed;
    EXPECT_EQ(r.moves_rolled_back, 0u) << "seed " << seed;
  }
}

// The same queue under faults: a host fenced while moves wait for a slot
// re-integrates (queued moves hold nobody back), and every invariant holds.
TEST(ClusterSimTest, QueuedMovesUnderFaults) {
  SimOptions options;
  options.extents_to_move = 4;
  options.max_migrations = 1;
  RunTest(options, CVOL_SIM_DEFAULT_SEEDS / 20);
}

// A Primary that reaches etcd but none of its peers, for good: it steps
// down, the next one excludes it and finishes the moves (without the step
// down they would wait forever, and the run fails its 300 s bound).
TEST(ClusterSimTest, PrimaryCutOffFromItsPeersStepsDown) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const uint64_t first = EnvOr("CVOL_SIM_SEED", 1);
  const uint64_t seeds = std::getenv("CVOL_SIM_SEED") != nullptr
                             ? 1
                             : EnvOr("CVOL_SIM_SEEDS", CVOL_SIM_DEFAULT_SEEDS / 50);
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    SimOptions options;
    options.seed = seed;
    options.faults = false;
    // (At `release` no step-down is needed: a silent host's freeze thaws
    // by its timeout.)
    options.cut_off_primary_at_step =
        std::vector<std::string>{"follow", "copy", "freeze", "apply"}[seed % 4];
    options.trace_tail = EnvOr("CVOL_SIM_TRACE", options.trace_tail);
    SimResult r = RunSimulation(options);
    ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.failure << "\n" << absl::StrJoin(r.trace, "\n");
    EXPECT_GE(r.step_downs, 1u) << "seed " << seed << "\n" << absl::StrJoin(r.trace, "\n");
    EXPECT_EQ(r.moves_done + r.moves_rolled_back, 2u) << "seed " << seed;
  }
}

TEST(ClusterSimTest, EveryInvariantHoldsUnderFaults) {
  RunTest(SimOptions{}, CVOL_SIM_DEFAULT_SEEDS);
}

}  // namespace
}  // namespace cvol::daemon::sim
