// The re-copy of a cluster change (docs/cluster.md, the freeze step): the
// regions other hosts wrote while the copy ran are copied again from the
// source to the destination while every host holds its freeze. A few
// dirty regions take one peer request, as they always did; a whole extent
// of a large size would not fit the peer deadline, so a job copies in
// chunks: the first ones inline, within a time budget, the rest on the
// executor, while the controller polls with the same request.
//
// Every chunk is copied only while the change's freeze still holds (checked
// before and after it). A job ends at the first error, when the freeze is
// lost, or when it is cancelled (release, abort, or a request with other
// regions or another freeze). A job whose chunk is still in flight blocks
// a new job of its change: an old chunk writing the destination after a
// new one copied the same region would put back older data.
#ifndef CVOL_CVOLD_RECOPY_JOBS_H_
#define CVOL_CVOLD_RECOPY_JOBS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "cvol/migrate_messages.h"
#include "executor.h"

namespace cvol::daemon {

class RecopyJobs {
 public:
  struct Deps {
    Executor* executor = nullptr;
    Clock* clock = nullptr;
    // Regions per chunk: one chunk is the most a cancel waits for.
    uint64_t chunk_bytes = uint64_t{32} << 20;
    // How long a request copies before it leaves the rest to the executor
    // and answers "not done yet" (well inside the peer deadline).
    absl::Duration inline_budget = absl::Milliseconds(1500);
    // How long a cancel waits for a chunk in flight.
    absl::Duration cancel_wait = absl::Milliseconds(2500);
  };

  // What one job copies: `copy` copies some of the runs' regions from
  // the source to the destination (KernelPort::CopyRegions); still_held is
  // OK while the change's freeze holds.
  struct Spec {
    std::string change;
    uint64_t round = 0;  // the controller's freeze round; 0: never the same
    uint64_t freeze_id = 0;
    uint64_t region_sectors = 0;
    std::vector<DirtyRun> runs;
    std::function<absl::Status(const std::vector<DirtyRun>&)> copy;
    std::function<absl::Status()> still_held;
  };

  struct Progress {
    bool done = false;
    uint64_t copied_bytes = 0;
    uint64_t total_bytes = 0;
  };

  explicit RecopyJobs(Deps deps);
  // Cancels every job and waits for the chunks in flight. The executor
  // must have run or dropped this object's tasks before.
  ~RecopyJobs();
  RecopyJobs(const RecopyJobs&) = delete;
  RecopyJobs& operator=(const RecopyJobs&) = delete;

  // Starts the job for spec's change, or reports on the one under way for
  // the same round, regions and freeze (a new round copies again: other
  // hosts may have written since, if their freezes were lost). A finished job's error is returned (once
  // per asking: the job stays until cancelled). kUnavailable while an
  // earlier job of the change still has a chunk in flight.
  absl::StatusOr<Progress> StartOrPoll(Spec spec);

  // Ends the change's job (its abort): no chunk starts after this returns
  // OK. kUnavailable if a chunk was still in flight after cancel_wait (the
  // caller is asked again).
  absl::Status Cancel(const std::string& change);
  // The same without waiting (a release: held I/O must not wait for a
  // chunk, and a chunk still in flight blocks the change's next round).
  void CancelSoon(const std::string& change);

 private:
  struct Job {
    Spec spec;
    std::vector<std::vector<DirtyRun>> chunks;
    size_t next = 0;           // the next chunk to copy
    uint64_t copied_bytes = 0;
    uint64_t total_bytes = 0;
    bool in_flight = false;    // a chunk is being copied
    bool cancelled = false;
    bool done = false;
    absl::Status status;       // when done
  };

  // Copies the job's next chunk; false once it is done (or cancelled).
  bool RunChunk(const std::shared_ptr<Job>& job) ABSL_LOCKS_EXCLUDED(mu_);
  void RunOnExecutor(std::shared_ptr<Job> job);
  static bool SameWork(const Spec& a, const Spec& b);
  static Progress ProgressOf(const Job& job);

  const Deps deps_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);  // by change
};

// The runs split into chunks of at most chunk_regions regions each.
std::vector<std::vector<DirtyRun>> ChunkRuns(const std::vector<DirtyRun>& runs,
                                             uint64_t chunk_regions);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_RECOPY_JOBS_H_
