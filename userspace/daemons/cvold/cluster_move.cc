// The Primary's cluster moves: a worker per recorded move runs the
// MoveController's steps (move_controller.h) until the move is over.
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster_agent.h"
#include "cvol/migrate_messages.h"
#include "linux/dm-cvol.h"
#include "move_controller.h"
#include "fault_injection.h"
#include "log.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

void Service::DriveChanges() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return;
  StartClusterMoves(*snap);
}

// A worker for every move past its follow step, and for the waiting ones
// that may start: a thousand queued moves must not each poll etcd. A
// worker that ends asks the agent to run this again (RunMove).
void Service::StartClusterMoves(const Snapshot& snap) {
  for (const auto& [key, move] : snap.moves) {
    if (!MoveController::WaitsToStart(move.record) ||
        MoveController::MayStartMigrations(snap, key, CVOL_DEFAULT_MIGRATIONS)) {
      StartMoveWorker(key);
    } else {
      SetMovePhase(key, "queued", 0, 0);
    }
  }
}

// A step that asks for a pause (a slot of the volume, etcd, a member that
// said no) ends the turn after it: the worker goes to the moves behind.
absl::StatusOr<Service::MoveTurn> Service::DriveClusterMove(const std::string& key,
                                                            absl::Time deadline) {
  while (true) {
    RETURN_IF_ERROR(MoveMayContinue(deadline));
    ASSIGN_OR_RETURN(MoveController::Next next, controller_->RunStep(key));
    if (next.done) return MoveTurn::kDone;
    if (next.wait > absl::ZeroDuration()) {
      clock_.SleepFor(next.wait);
      return MoveTurn::kAgain;
    }
  }
}

}  // namespace cvol::daemon
