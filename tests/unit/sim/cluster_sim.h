// The seeded cluster simulation (docs/cluster.md, "How the protocol is
// checked"): the real MoveController and PeerHandlers of several hosts, in
// one process and one thread, against an in-memory etcd (MemKvStore), a
// model kernel per host over shared model disks, a simulated network and a
// simulated clock. One seeded random source decides everything: when each
// host writes, when the copier runs, which messages are lost or late, and
// which faults strike (daemon crash and restart, machine crash, SIGSTOP
// past the lease, etcd unavailable, a host that stops answering, a failed
// destination write). The invariants are checked after every event; a
// failing seed returns its trace, and the same seed replays it exactly.
#ifndef CVOL_TESTS_UNIT_SIM_CLUSTER_SIM_H_
#define CVOL_TESTS_UNIT_SIM_CLUSTER_SIM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace cvol::daemon::sim {

struct SimOptions {
  uint64_t seed = 1;
  int hosts = 3;
  int64_t lease_ttl_s = 4;
  uint32_t regions_per_extent = 8;
  int extents_to_move = 2;  // at most 4 (the volume's size)
  // Every model kernel's migrate_throttle limit, and the refusals the
  // controller takes before it rolls a move back.
  uint32_t max_migrations = 8;
  int max_refusals = 30;
  bool faults = true;
  // Faults strike within this window; then the cluster heals and every
  // move must end within `settle`.
  absl::Duration fault_window = absl::Seconds(40);
  absl::Duration settle = absl::Seconds(300);
  // When set ("follow", "copy", "freeze", ...): as the Primary's
  // controller records that step, its peer links are cut for good (etcd
  // still answers it): it must step down for the moves to end.
  std::string cut_off_primary_at_step;
  // Keep the whole trace (for printing); otherwise only its tail.
  size_t trace_tail = 400;
};

struct SimResult {
  bool ok = true;
  std::string failure;             // the first invariant broken
  std::vector<std::string> trace;  // the last events before it
  // What the run covered, for the summary line.
  uint64_t events = 0;
  uint64_t writes_acked = 0;
  uint64_t moves_done = 0;
  uint64_t moves_rolled_back = 0;
  uint64_t exclusions = 0;
  uint64_t faults = 0;
  // Kernel calls refused for a stale epoch: a deposed controller's request
  // that passed the etcd check, or a re-integration overtaken by a new
  // Primary.
  uint64_t stale_epoch_refusals = 0;
  // Primaries that handed their role on, cut off from a majority.
  uint64_t step_downs = 0;
  // Controller steps replayed by another member in the Primary's name
  // (each refused, or the run fails).
  uint64_t impersonations = 0;
  // Of those, the ones in the Primary's current epoch (refused for the
  // sender, not the epoch).
  uint64_t impersonations_in_epoch = 0;
  // HostDevices's re-integrations that ended with host_reintegrated, and
  // the freezes they thawed: a dead predecessor's (orphan_freeze_thawed)
  // and those of changes that ended without the host (cluster_released).
  uint64_t reintegrations = 0;
  uint64_t orphan_freezes_thawed = 0;
  uint64_t ended_changes_thawed = 0;
  absl::Duration simulated;
};

SimResult RunSimulation(const SimOptions& options);

}  // namespace cvol::daemon::sim

#endif  // CVOL_TESTS_UNIT_SIM_CLUSTER_SIM_H_
