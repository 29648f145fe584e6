// The recopy request on the copier's host, against the model kernel: the
// regions go to the kernel once per freeze round (migrate_recopy), the
// request reports the kernel's progress until its migration is ready
// again, and a fenced copier never reports done and writes nothing.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "change_messages.h"
#include "clock.h"
#include "config_db.h"
#include "cvol/store/mem_kv_store.h"
#include "fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model_kernel.h"
#include "peer_handlers.h"

namespace cvol::daemon::sim {
namespace {

using ::testing::HasSubstr;

constexpr char kPrefix[] = "/cvol/";
constexpr uint64_t kExtentSectors = 2048;
constexpr uint32_t kRegions = 4;
constexpr uint64_t kRegionSectors = kExtentSectors / kRegions;
constexpr int64_t kEpoch = 7;
const Location kSrc{0, 0};
const Location kDst{1, 8};

VolumeRecord Volume() {
  VolumeRecord v;
  v.pool = "p";
  v.name = "v";
  v.uuid = "v-uuid";
  v.extents = 4;
  v.segments = {Segment{0, 4}};
  v.runs = {cvol::Run{0, 0, 0, 4}};
  return v;
}

class RecopyHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChangeSet cs(db_);
    cs.CreatePool(PoolRecord{"p", "pool-uuid", kExtentSectors, 1, 1});
    for (uint32_t slot = 0; slot < 2; ++slot) {
      cs.CreatePv(PvRecord{"pv-uuid-" + std::to_string(slot), "pv" + std::to_string(slot), "p",
                           slot, 16, 2048, 17 * kExtentSectors});
    }
    cs.CreateVolume(Volume());
    MoveRecord m;
    m.pool = "p";
    m.volume = "v";
    m.volume_uuid = "v-uuid";
    m.vext = 0;
    m.src = kSrc;
    m.dst = kDst;
    m.started_ns = 1000;
    m.step = MoveRecord::Step::kFreeze;
    cs.CreateMove(m);
    ASSERT_TRUE(db_.Commit(cs).ok());
    at_ = ChangeExtent{ChangeId(db_.MoveKey(m), m), "p", "v", 0};

    absl::StatusOr<Snapshot> snap = db_.Load();
    ASSERT_TRUE(snap.ok());
    ASSERT_TRUE(kernel_.Activate(*snap, Volume()).ok());
    ASSERT_EQ(kernel_.Write("p/v", 0, 1, 41), WriteResult::kAcked);
    ASSERT_TRUE(kernel_.MigrateStart(Extent(), kDst, MigrateMode::kCopy, 0).ok());
    CopyAll();

    PeerHandlers::Deps d;
    d.db = &db_;
    d.kernel = &kernel_;
    d.clock = &clock_;
    d.check_controller = [](int64_t, const std::string&) { return absl::OkStatus(); };
    d.publish = [](nlohmann::json) {};
    d.recopy_inline_budget = absl::ZeroDuration();  // one look per request
    handlers_ = std::make_unique<PeerHandlers>(std::move(d));
    absl::StatusOr<nlohmann::json> frozen =
        handlers_->Handle("freeze", kEpoch, "h1", FreezeRequest{at_, 10000}.ToJson());
    ASSERT_TRUE(frozen.ok()) << frozen.status();
  }

  static ExtentRef Extent() { return ExtentRef{Volume(), kExtentSectors, 0}; }

  void CopyAll() {
    for (int i = 0; i < 100 && kernel_.HasCopyWork(); ++i) kernel_.CopyStep();
  }

  absl::StatusOr<RecopyReply> Recopy(uint64_t round, std::vector<DirtyRun> runs) {
    absl::StatusOr<nlohmann::json> reply = handlers_->Handle(
        "recopy", kEpoch, "h1",
        RecopyRequest{at_, kSrc, kDst, kRegionSectors, runs, round}.ToJson());
    if (!reply.ok()) return reply.status();
    return RecopyReply::FromJson(*reply);
  }

  MigrationState State() {
    absl::StatusOr<KernelExtent> e = kernel_.Read(Extent());
    EXPECT_TRUE(e.ok() && e->migration.has_value());
    return e->migration->state;
  }

  FakeClock clock_;
  store::MemKvStore kv_;
  ConfigDb db_{kv_, kPrefix};
  ModelDisks disks_{clock_};
  ModelKernel kernel_{"h1", disks_, clock_, kRegions};
  std::unique_ptr<PeerHandlers> handlers_;
  ChangeExtent at_;
};

TEST_F(RecopyHandlerTest, TheKernelCopiesOncePerRoundAndTheRequestReportsIt) {
  // Another host's write left region 1 stale on the destination.
  disks_.Write("h2", kSrc, 1, 42);
  absl::StatusOr<RecopyReply> r = Recopy(1, {DirtyRun{1, 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->done);
  EXPECT_EQ(r->copied_bytes, 0u);
  EXPECT_EQ(r->total_bytes, kRegionSectors * 512);
  EXPECT_EQ(State(), MigrationState::kCopy);
  CopyAll();
  EXPECT_EQ(disks_.Read(kDst, 1), 42u);

  // The same round asked again only looks: nothing is copied twice.
  r = Recopy(1, {DirtyRun{1, 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->done);
  EXPECT_EQ(r->copied_bytes, r->total_bytes);
  EXPECT_EQ(State(), MigrationState::kReady);

  // Nothing to copy is done at once.
  r = Recopy(2, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->done);
}

TEST_F(RecopyHandlerTest, AFencedCopierWritesNothingAndIsNeverDone) {
  disks_.Write("h2", kSrc, 2, 43);
  kernel_.Fence();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RecopyReply> r = Recopy(1, {DirtyRun{0, kRegions}});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->done);
    kernel_.CopyStep();
  }
  EXPECT_NE(disks_.Read(kDst, 2), 43u);
}

TEST_F(RecopyHandlerTest, RefusesBadRunsRoundsAndGeometries) {
  absl::StatusOr<RecopyReply> r = Recopy(1, {DirtyRun{kRegions - 1, 2}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = Recopy(1, {DirtyRun{0, 0}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<nlohmann::json> other = handlers_->Handle(
      "recopy", kEpoch, "h1",
      RecopyRequest{at_, kSrc, Location{1, 9}, kRegionSectors, {DirtyRun{0, 1}}, 1}.ToJson());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  // Round 0 could not tell a new round from a poll.
  r = Recopy(0, {DirtyRun{0, 1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // Runs in another geometry than the kernel migration's name other bytes.
  absl::StatusOr<nlohmann::json> halves = handlers_->Handle(
      "recopy", kEpoch, "h1",
      RecopyRequest{at_, kSrc, kDst, kRegionSectors / 2, {DirtyRun{0, 1}}, 1}.ToJson());
  EXPECT_THAT(halves.status().message(), HasSubstr("other regions"));
  EXPECT_EQ(State(), MigrationState::kReady);  // nothing was sent to the kernel
}

TEST_F(RecopyHandlerTest, AMigrationThatEndedOrAFreezeLostIsAnError) {
  ASSERT_TRUE(Recopy(1, {DirtyRun{0, 1}}).ok());
  ASSERT_TRUE(kernel_.MigrateAbort(Extent(), 0).ok());
  absl::StatusOr<RecopyReply> r = Recopy(1, {DirtyRun{0, 1}});
  EXPECT_THAT(r.status().message(), HasSubstr("ended during its re-copy"));

  kernel_.BreakFreezes();
  r = Recopy(2, {DirtyRun{0, 1}});
  EXPECT_THAT(r.status().message(), HasSubstr("freeze"));
}

}  // namespace
}  // namespace cvol::daemon::sim
