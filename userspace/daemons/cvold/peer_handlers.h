// The host side of a cluster change (docs/cluster.md): the controller's
// requests, each idempotent and each checked, under its extent's lock,
// against the current epoch and against the move record in etcd (the
// request names the change; the source and destination come from the
// record), so that a deposed controller's late request changes nothing.
// It reaches the kernel only through a KernelPort, so the simulation runs
// this very code against a model kernel.
#ifndef CVOL_CVOLD_PEER_HANDLERS_H_
#define CVOL_CVOLD_PEER_HANDLERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "change_messages.h"
#include "clock.h"
#include "config_db.h"
#include "kernel_port.h"
#include "nlohmann/json.hpp"

namespace cvol::daemon {

class PeerHandlers {
 public:
  using Json = nlohmann::json;

  struct Deps {
    ConfigDb* db = nullptr;
    KernelPort* kernel = nullptr;
    Clock* clock = nullptr;
    // OK if `epoch` is the cluster's current one and sender the host
    // whose epoch it is (read from etcd now; cluster::CheckController).
    std::function<absl::Status(int64_t epoch, const std::string& sender)> check_controller;
    std::function<void(Json)> publish;
    // How long a follower may take to start dual-writing (its reply must
    // reach the controller within the peer deadline).
    absl::Duration follow_start_deadline = absl::Milliseconds(2500);
    // The longest a freeze_wait may hold a request.
    uint64_t freeze_wait_ms = 2500;
    // How long a recopy request waits for the kernel's copy before it
    // answers "not done yet" (well inside the peer deadline; the
    // controller asks again).
    absl::Duration recopy_inline_budget = absl::Milliseconds(1500);
  };

  // A cluster freeze this host holds for a change.
  struct HeldFreeze {
    ExtentRef extent;
    uint64_t id = 0;
  };

  explicit PeerHandlers(Deps deps);

  // True for the request types this class serves.
  static bool Serves(const std::string& type);
  // One request; sender is the host the transport authenticated.
  absl::StatusOr<Json> Handle(const std::string& type, int64_t epoch, const std::string& sender,
                              const Json& body);

  // Runs fn with the held freezes while no request runs (re-integration
  // thaws the ones whose change is over).
  void WithHeldFreezes(const std::function<void(std::map<std::string, HeldFreeze>&)>& fn);

 private:
  // The move record the change names, its volume and the extent.
  struct ChangeContext {
    MoveRecord move;
    ExtentRef extent;
  };
  absl::StatusOr<ChangeContext> LoadChange(const ChangeExtent& at, const Snapshot& snap) const;

  absl::StatusOr<Json> HandleLocked(const std::string& type, int64_t epoch,
                                    const std::string& sender, const Json& body);
  // The requests that act on the kernel pass it the request's epoch.
  absl::StatusOr<Json> MigrateStart(const Json& body, uint64_t epoch);
  absl::StatusOr<Json> MigrateStatus(const Json& body);
  absl::StatusOr<Json> Freeze(const Json& body, uint64_t epoch);
  absl::StatusOr<Json> Recopy(const Json& body, uint64_t epoch);
  // Whether this round's migrate_recopy was sent (a round is asked again
  // until its copy is done); Forget() drops it with the freeze.
  bool RecopySent(const std::string& change, uint64_t round);
  void NoteRecopySent(const std::string& change, uint64_t round);
  absl::StatusOr<Json> Apply(const Json& body, uint64_t epoch);
  absl::StatusOr<Json> Release(const std::string& change, uint64_t epoch);
  absl::StatusOr<Json> Abort(const Json& body, uint64_t epoch);
  // OK if this host still holds the change's freeze (the same kernel id;
  // with `id`, that one).
  absl::Status FreezeStillHeld(const std::string& change, std::optional<uint64_t> id = {});

  // The lock of the extent a request's change moves (its move key): made
  // on first use, dropped when no request holds it.
  std::shared_ptr<absl::Mutex> ExtentLock(const std::string& move_key);
  void DropExtentLock(const std::string& move_key, std::shared_ptr<absl::Mutex> lock);
  std::optional<HeldFreeze> Held(const std::string& change);
  void Hold(const std::string& change, HeldFreeze freeze);
  void Forget(const std::string& change);

  const Deps deps_;
  // Requests share it; WithHeldFreezes takes it alone.
  absl::Mutex gate_;
  absl::Mutex mu_;  // the maps below, held briefly
  std::map<std::string, std::shared_ptr<absl::Mutex>> change_locks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, HeldFreeze> held_ ABSL_GUARDED_BY(mu_);  // by change
  std::map<std::string, uint64_t> recopy_rounds_ ABSL_GUARDED_BY(mu_);  // by change
};

// The change id of a move record: "<key>#<started_ns>".
std::string ChangeId(const std::string& move_key, const MoveRecord& move);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_PEER_HANDLERS_H_
