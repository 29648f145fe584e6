// The Primary's cluster moves: a worker per recorded move runs the
// MoveController's steps (move_controller.h) until the move is over.
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

void Service::DriveChanges() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Snapshot> snap = db_.Load();
  if (!snap.ok()) return;
  for (const auto& [key, move] : snap->moves) StartMoveWorker(key);
}

absl::Status Service::DriveClusterMove(const std::string& key) {
  const absl::Time deadline = absl::Now() + options_.move_timeout;
  while (true) {
    RETURN_IF_ERROR(MoveMayContinue(deadline));
    ASSIGN_OR_RETURN(MoveController::Next next, controller_->RunStep(key));
    if (next.done) return absl::OkStatus();
    if (next.wait > absl::ZeroDuration()) clock_.SleepFor(next.wait);
  }
}

}  // namespace cvol::daemon
