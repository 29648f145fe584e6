#include "recopy_jobs.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace cvol::daemon {

std::vector<std::vector<DirtyRun>> ChunkRuns(const std::vector<DirtyRun>& runs,
                                             uint64_t chunk_regions) {
  chunk_regions = std::max<uint64_t>(chunk_regions, 1);
  std::vector<std::vector<DirtyRun>> chunks;
  std::vector<DirtyRun> chunk;
  uint64_t in_chunk = 0;
  for (DirtyRun run : runs) {
    while (run.count > 0) {
      const uint32_t take =
          static_cast<uint32_t>(std::min<uint64_t>(run.count, chunk_regions - in_chunk));
      chunk.push_back(DirtyRun{run.first, take});
      run.first += take;
      run.count -= take;
      in_chunk += take;
      if (in_chunk == chunk_regions) {
        chunks.push_back(std::move(chunk));
        chunk.clear();
        in_chunk = 0;
      }
    }
  }
  if (!chunk.empty()) chunks.push_back(std::move(chunk));
  return chunks;
}

RecopyJobs::RecopyJobs(Deps deps) : deps_(std::move(deps)) {}

RecopyJobs::~RecopyJobs() {
  std::vector<std::string> changes;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [change, job] : jobs_) changes.push_back(change);
  }
  for (const std::string& change : changes) (void)Cancel(change);
}

bool RecopyJobs::SameWork(const Spec& a, const Spec& b) {
  return a.round != 0 && a.round == b.round && a.freeze_id == b.freeze_id &&
         a.region_sectors == b.region_sectors && a.runs == b.runs;
}

RecopyJobs::Progress RecopyJobs::ProgressOf(const Job& job) {
  return Progress{job.done, job.copied_bytes, job.total_bytes};
}

absl::StatusOr<RecopyJobs::Progress> RecopyJobs::StartOrPoll(Spec spec) {
  std::shared_ptr<Job> job;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(spec.change);
    if (it != jobs_.end()) {
      Job& old = *it->second;
      if (!old.cancelled && SameWork(old.spec, spec)) {
        if (old.done && !old.status.ok()) return old.status;
        return ProgressOf(old);
      }
      old.cancelled = true;
      if (old.in_flight) {
        return absl::UnavailableError(absl::StrCat(
            "change ", spec.change, ": an earlier re-copy still copies a chunk; ask again"));
      }
      jobs_.erase(it);
    }
    job = std::make_shared<Job>();
    const uint64_t region_bytes = spec.region_sectors * 512;
    job->chunks = ChunkRuns(spec.runs, region_bytes == 0 ? 1 : deps_.chunk_bytes / region_bytes);
    for (const DirtyRun& run : spec.runs) job->total_bytes += uint64_t{run.count} * region_bytes;
    job->done = job->chunks.empty();
    job->spec = std::move(spec);
    jobs_[job->spec.change] = job;
  }
  // A few regions are copied before the answer, as a request always did;
  // more go on in the background.
  const absl::Time until = deps_.clock->Now() + deps_.inline_budget;
  while (deps_.clock->Now() < until && RunChunk(job)) {
  }
  bool background;
  Progress progress;
  {
    absl::MutexLock lock(&mu_);
    if (job->done && !job->status.ok()) return job->status;
    background = !job->done;
    progress = ProgressOf(*job);
  }
  if (background) {
    LogInfo(absl::StrCat("re-copy of ", job->spec.change, ": ", progress.copied_bytes, " of ",
                         progress.total_bytes, " bytes copied; the rest in the background"));
    deps_.executor->Schedule([this, job] { RunOnExecutor(job); });
  }
  return progress;
}

bool RecopyJobs::RunChunk(const std::shared_ptr<Job>& job) {
  std::vector<DirtyRun> chunk;
  {
    absl::MutexLock lock(&mu_);
    if (job->done) return false;
    if (job->cancelled || job->next >= job->chunks.size()) {
      job->done = true;
      if (job->cancelled) job->status = absl::AbortedError("the re-copy was cancelled");
      return false;
    }
    chunk = job->chunks[job->next];
    job->in_flight = true;
  }
  const Spec& spec = job->spec;
  absl::Status s = spec.still_held();
  if (s.ok()) s = spec.copy(chunk);
  if (s.ok()) s = spec.still_held();
  absl::MutexLock lock(&mu_);
  job->in_flight = false;
  if (!s.ok()) {
    job->done = true;
    job->status = s;
    return false;
  }
  for (const DirtyRun& run : chunk) job->copied_bytes += uint64_t{run.count} * spec.region_sectors * 512;
  if (++job->next == job->chunks.size()) {
    job->done = true;
    return false;
  }
  return !job->cancelled;
}

void RecopyJobs::RunOnExecutor(std::shared_ptr<Job> job) {
  if (RunChunk(job)) deps_.executor->Schedule([this, job] { RunOnExecutor(job); });
}

void RecopyJobs::CancelSoon(const std::string& change) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(change);
  if (it == jobs_.end()) return;
  it->second->cancelled = true;
  if (!it->second->in_flight) jobs_.erase(it);
}

absl::Status RecopyJobs::Cancel(const std::string& change) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(change);
  if (it == jobs_.end()) return absl::OkStatus();
  std::shared_ptr<Job> job = it->second;
  job->cancelled = true;
  if (!mu_.AwaitWithTimeout(absl::Condition(
                                +[](Job* j) { return !j->in_flight; }, job.get()),
                            deps_.cancel_wait)) {
    return absl::UnavailableError(absl::StrCat(
        "change ", change, ": a re-copy chunk is still being written; ask again"));
  }
  it = jobs_.find(change);
  if (it != jobs_.end() && it->second == job) jobs_.erase(it);
  return absl::OkStatus();
}

}  // namespace cvol::daemon
