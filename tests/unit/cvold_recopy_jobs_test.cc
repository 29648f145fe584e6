// RecopyJobs: a re-copy in chunks, the first inline and the rest in the
// background; polled by round; never two jobs of a change writing at once;
// a lost freeze or a cancel stops it between chunks.
#include "recopy_jobs.h"

#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cvol::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kRegionSectors = 8;  // 4 KiB regions
constexpr uint64_t kRegionBytes = kRegionSectors * 512;

// Tasks wait until the test runs them.
class QueueExecutor final : public Executor {
 public:
  void Schedule(std::function<void()> task) override { tasks_.push_back(std::move(task)); }
  bool RunOne() {
    if (tasks_.empty()) return false;
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    task();
    return true;
  }
  void RunAll() {
    while (RunOne()) {
    }
  }
  size_t queued() const { return tasks_.size(); }

 private:
  std::deque<std::function<void()>> tasks_;
};

// Every call moves time on by one step, so an inline budget of N steps
// copies about N chunks.
class StepClock final : public Clock {
 public:
  absl::Time Now() override { return now_ += absl::Milliseconds(1); }
  void SleepFor(absl::Duration d) override { now_ += d; }

 private:
  absl::Time now_ = absl::UnixEpoch();
};

class RecopyJobsTest : public ::testing::Test {
 protected:
  RecopyJobs MakeJobs(absl::Duration inline_budget, uint64_t chunk_regions) {
    return RecopyJobs(RecopyJobs::Deps{&executor_, &clock_, chunk_regions * kRegionBytes,
                                       inline_budget, absl::Milliseconds(10)});
  }

  RecopyJobs::Spec Spec(uint64_t round, std::vector<DirtyRun> runs) {
    RecopyJobs::Spec spec;
    spec.change = "/cvol/moves/p/v/1#1000";
    spec.round = round;
    spec.freeze_id = 7;
    spec.region_sectors = kRegionSectors;
    spec.runs = std::move(runs);
    spec.copy = [this](const std::vector<DirtyRun>& chunk) {
      if (during_copy_) during_copy_();
      for (const DirtyRun& r : chunk) copied_.push_back(r);
      return copy_result_;
    };
    spec.still_held = [this] { return held_; };
    return spec;
  }

  QueueExecutor executor_;
  StepClock clock_;
  std::vector<DirtyRun> copied_;
  absl::Status copy_result_;
  absl::Status held_;
  std::function<void()> during_copy_;
};

TEST(ChunkRunsTest, SplitsRunsIntoChunksOfAtMostNRegions) {
  using Chunks = std::vector<std::vector<DirtyRun>>;
  EXPECT_EQ(ChunkRuns({{0, 5}}, 2), (Chunks{{{0, 2}}, {{2, 2}}, {{4, 1}}}));
  EXPECT_EQ(ChunkRuns({{0, 1}, {4, 3}}, 2), (Chunks{{{0, 1}, {4, 1}}, {{5, 2}}}));
  EXPECT_EQ(ChunkRuns({{3, 2}}, 8), (Chunks{{{3, 2}}}));
  EXPECT_EQ(ChunkRuns({}, 8), Chunks{});
  EXPECT_EQ(ChunkRuns({{0, 2}}, 0), (Chunks{{{0, 1}}, {{1, 1}}}));  // at least one region
}

// A few dirty regions: copied before the answer, nothing in the background.
TEST_F(RecopyJobsTest, SmallRecopyIsDoneInOneRequest) {
  RecopyJobs jobs = MakeJobs(absl::Seconds(1), 4);
  absl::StatusOr<RecopyJobs::Progress> p = jobs.StartOrPoll(Spec(1, {{1, 2}, {6, 1}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->done);
  EXPECT_EQ(p->copied_bytes, 3 * kRegionBytes);
  EXPECT_EQ(p->total_bytes, 3 * kRegionBytes);
  EXPECT_THAT(copied_, ElementsAre(DirtyRun{1, 2}, DirtyRun{6, 1}));
  EXPECT_EQ(executor_.queued(), 0u);
}

// A whole extent beyond the budget: the answer comes at once, the rest
// runs in the background, the same round's poll reports progress and then
// the end, without copying anything twice.
TEST_F(RecopyJobsTest, LargeRecopyGoesOnInTheBackgroundAndIsPolled) {
  RecopyJobs jobs = MakeJobs(absl::ZeroDuration(), 2);
  absl::StatusOr<RecopyJobs::Progress> p = jobs.StartOrPoll(Spec(1, {{0, 8}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->done);
  EXPECT_EQ(p->copied_bytes, 0u);
  EXPECT_EQ(p->total_bytes, 8 * kRegionBytes);
  ASSERT_TRUE(executor_.RunOne());
  p = jobs.StartOrPoll(Spec(1, {{0, 8}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->done);
  EXPECT_EQ(p->copied_bytes, 2 * kRegionBytes);
  executor_.RunAll();
  p = jobs.StartOrPoll(Spec(1, {{0, 8}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->done);
  EXPECT_EQ(p->copied_bytes, 8 * kRegionBytes);
  EXPECT_THAT(copied_, ElementsAre(DirtyRun{0, 2}, DirtyRun{2, 2}, DirtyRun{4, 2}, DirtyRun{6, 2}));
}

// Another round means the freezes were taken again: others may have
// written since the last copy, so a finished job is not reused.
TEST_F(RecopyJobsTest, ANewRoundCopiesAgain) {
  RecopyJobs jobs = MakeJobs(absl::Seconds(1), 8);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(1, {{0, 2}})).ok());
  ASSERT_TRUE(jobs.StartOrPoll(Spec(1, {{0, 2}})).ok());  // a poll: no copy
  EXPECT_EQ(copied_.size(), 1u);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(2, {{0, 2}})).ok());
  EXPECT_EQ(copied_.size(), 2u);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(0, {{0, 2}})).ok());  // no round: always new
  ASSERT_TRUE(jobs.StartOrPoll(Spec(0, {{0, 2}})).ok());
  EXPECT_EQ(copied_.size(), 4u);
}

// The freeze lost between chunks: nothing more is copied and the error is
// what the poll returns.
TEST_F(RecopyJobsTest, ALostFreezeEndsTheJobWithItsError) {
  RecopyJobs jobs = MakeJobs(absl::ZeroDuration(), 1);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(1, {{0, 4}})).ok());
  ASSERT_TRUE(executor_.RunOne());
  held_ = absl::AbortedError("the freeze was lost");
  executor_.RunAll();
  EXPECT_EQ(copied_.size(), 1u);
  absl::StatusOr<RecopyJobs::Progress> p = jobs.StartOrPoll(Spec(1, {{0, 4}}));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(p.status().message(), HasSubstr("lost"));
}

TEST_F(RecopyJobsTest, ACopyErrorEndsTheJob) {
  RecopyJobs jobs = MakeJobs(absl::Seconds(1), 1);
  copy_result_ = absl::DataLossError("write error on the destination");
  absl::StatusOr<RecopyJobs::Progress> p = jobs.StartOrPoll(Spec(1, {{0, 4}}));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(copied_.size(), 1u);
  EXPECT_EQ(executor_.queued(), 0u);
}

// After a cancel (release, abort) no chunk starts.
TEST_F(RecopyJobsTest, CancelStopsBetweenChunks) {
  RecopyJobs jobs = MakeJobs(absl::ZeroDuration(), 1);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(1, {{0, 4}})).ok());
  ASSERT_TRUE(executor_.RunOne());
  ASSERT_TRUE(jobs.Cancel("/cvol/moves/p/v/1#1000").ok());
  executor_.RunAll();
  EXPECT_EQ(copied_.size(), 1u);
  EXPECT_TRUE(jobs.Cancel("no such change").ok());
}

// A release does not wait for a chunk: it only stops the next one.
TEST_F(RecopyJobsTest, CancelSoonStopsTheNextChunkWithoutWaiting) {
  RecopyJobs jobs = MakeJobs(absl::ZeroDuration(), 1);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(1, {{0, 4}})).ok());
  bool once = true;
  absl::Status next_round;
  during_copy_ = [&] {
    if (!std::exchange(once, false)) return;
    jobs.CancelSoon("/cvol/moves/p/v/1#1000");
    next_round = jobs.StartOrPoll(Spec(2, {{0, 4}})).status();  // still in flight
  };
  executor_.RunAll();
  EXPECT_EQ(copied_.size(), 1u);
  EXPECT_EQ(next_round.code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(2, {{0, 4}})).ok());
  executor_.RunAll();
  EXPECT_EQ(copied_.size(), 5u);
}

// A chunk still writing the destination blocks a new round of its change
// (an old chunk landing after a new copy of the same region would put
// older data back), and a cancel reports it instead of returning early.
TEST_F(RecopyJobsTest, AChunkInFlightBlocksANewRoundAndACancel) {
  RecopyJobs jobs = MakeJobs(absl::ZeroDuration(), 1);
  ASSERT_TRUE(jobs.StartOrPoll(Spec(1, {{0, 2}})).ok());
  absl::Status new_round, cancel;
  bool once = true;
  during_copy_ = [&] {
    if (!std::exchange(once, false)) return;
    new_round = jobs.StartOrPoll(Spec(2, {{0, 2}})).status();
    cancel = jobs.Cancel("/cvol/moves/p/v/1#1000");
  };
  executor_.RunAll();
  EXPECT_EQ(new_round.code(), absl::StatusCode::kUnavailable) << new_round;
  EXPECT_EQ(cancel.code(), absl::StatusCode::kUnavailable) << cancel;
  EXPECT_EQ(copied_.size(), 1u);  // the cancelled job copied no more
  // Once it stopped, the new round starts.
  absl::StatusOr<RecopyJobs::Progress> p = jobs.StartOrPoll(Spec(2, {{0, 2}}));
  ASSERT_TRUE(p.ok()) << p.status();
  executor_.RunAll();
  EXPECT_TRUE(jobs.StartOrPoll(Spec(2, {{0, 2}}))->done);
  EXPECT_EQ(copied_.size(), 3u);
}

}  // namespace
}  // namespace cvol::daemon
