// cvold's commands: the control protocol's verbs (docs/control-protocol.md)
// over the configuration database and the kernel devices. One mutex
// serialises the changes this daemon makes; etcd's guarded transactions
// serialise them against everyone else's.
#ifndef CVOL_CVOLD_SERVICE_H_
#define CVOL_CVOLD_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config_db.h"
#include "cvol/dm_client.h"
#include "cvol/event.h"
#include "event_hub.h"
#include "nlohmann/json.hpp"
#include "volume_layout.h"

namespace cvol::daemon {

struct ServiceOptions {
  std::string etcd_endpoints;  // for status only
  std::string sys_block_dir = "/sys/class/block";
  std::string dev_dir = "/dev";
  absl::Duration move_poll = absl::Milliseconds(100);
  absl::Duration move_timeout = absl::Minutes(30);
};

class Service {
 public:
  using Json = nlohmann::json;
  using Progress = std::function<void(const Json&)>;

  Service(ServiceOptions options, store::KvStore& kv, const std::string& prefix, DmClient& dm,
          EventHub& events);
  ~Service();

  // Finds the pvs, activates every volume whose pvs are here and resumes
  // or rolls back the moves recorded in etcd. Idempotent: a restart over
  // live devices changes nothing the records agree with.
  absl::Status Start();

  // Stops the move workers (they resume at the next Start).
  void Stop();

  // One control request. `progress` sends interim replies (move --wait).
  absl::StatusOr<Json> Handle(const std::string& command, const Json& args,
                              const Progress& progress);

  // A kernel event: follows moves, and is passed on to `events` streams.
  void OnKernelEvent(const Event& event);

 private:

  absl::StatusOr<Json> Status();
  absl::StatusOr<Json> PvCreate(const Json& args);
  absl::StatusOr<Json> PvList(const Json& args);
  absl::StatusOr<Json> PvShow(const Json& args);
  absl::StatusOr<Json> PvRemove(const Json& args);
  absl::StatusOr<Json> PoolCreate(const Json& args);
  absl::StatusOr<Json> PoolList(const Json& args);
  absl::StatusOr<Json> PoolShow(const Json& args);
  absl::StatusOr<Json> VolumeCreate(const Json& args);
  absl::StatusOr<Json> VolumeList(const Json& args);
  absl::StatusOr<Json> VolumeShow(const Json& args);
  absl::StatusOr<Json> VolumeResize(const Json& args);
  absl::StatusOr<Json> VolumeRemove(const Json& args);
  absl::StatusOr<Json> VolumeMove(const Json& args, const Progress& progress);

  // A snapshot for a list command filtered by an optional pool, which must
  // then exist.
  absl::StatusOr<Snapshot> LoadForPool(const std::optional<std::string>& pool);

  // Runs `attempt` (read a snapshot, decide, commit) until it does not fail
  // with kAborted, a few times.
  absl::Status RetryOnConflict(const std::function<absl::Status()>& attempt);

  absl::Status RescanPvs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ActivateVolume(const Snapshot& snap, const VolumeRecord& volume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReloadPoolVolumes(const Snapshot& snap, const std::string& pool)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> SendMessage(const VolumeRecord& volume, uint64_t extent_sectors,
                                          uint64_t vext, const std::string& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Moves.
  void StartMoveWorker(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunMove(const std::string& key);
  absl::Status DriveMove(const std::string& key);
  Json MoveProgress(const std::string& key);

  Json PoolJson(const Snapshot& snap, const PoolRecord& pool);
  Json PvJson(const Snapshot& snap, const PvRecord& pv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json VolumeJson(const Snapshot& snap, const VolumeRecord& volume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json MoveJson(const Snapshot& snap, const MoveRecord& move) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceOptions options_;
  ConfigDb db_;
  DmClient& dm_;
  EventHub& events_;
  const absl::Time started_;

  absl::Mutex mu_;
  // Signalled by kernel migration events, so that move workers act on
  // `ready` at once instead of at their next poll.
  absl::CondVar kernel_progress_;
  PvPaths paths_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> volume_of_kernel_uuid_ ABSL_GUARDED_BY(mu_);

  // Move state the records do not hold: kernel progress and how it ended.
  struct MoveState {
    uint64_t copied = 0;
    uint64_t regions = 0;
    std::string phase = "copying";  // or committing, done, failed, rolled_back
    std::string error;
    bool finished = false;
    Json record;  // volume, vext, src, dst as MoveJson renders them
  };
  absl::Mutex moves_mu_;
  absl::CondVar move_finished_;  // with moves_mu_
  std::map<std::string, MoveState> move_states_ ABSL_GUARDED_BY(moves_mu_);
  std::map<std::string, std::thread> move_threads_ ABSL_GUARDED_BY(moves_mu_);
  bool stopping_ ABSL_GUARDED_BY(moves_mu_) = false;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_SERVICE_H_
