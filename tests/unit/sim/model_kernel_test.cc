// The model kernel against the semantics of docs/target.md that the
// cluster protocol relies on: the copy race and its repair by the
// followers' dirty regions, writes held by freezes, fences and an expired
// lease (and acknowledged only when they land), the cutover's refusals,
// and what a crash forgets.
#include "model_kernel.h"

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/dm-cvol.h"

namespace cvol::daemon::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint32_t kRegions = 4;
constexpr uint64_t kExtentSectors = 2048;
const Location kSrc0{0, 10};  // where the record maps extent 0
const Location kSrc1{0, 11};  // and extent 1
const Location kDst{1, 5};
const std::string kName = "p/v";

VolumeRecord TwoExtentVolume() {
  VolumeRecord v;
  v.pool = "p";
  v.name = "v";
  v.uuid = "u";
  v.extents = 2;
  v.segments = {Segment{0, 2}};
  v.runs = {Run{0, kSrc0.dev, kSrc0.pext, 2}};
  return v;
}

using Ack = std::tuple<std::string, uint64_t, uint32_t, uint64_t>;

// Two hosts over the same disks, both serving the volume.
class ModelKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (ModelKernel* k : {&h1_, &h2_}) {
      ASSERT_TRUE(k->Activate(Snapshot{}, TwoExtentVolume()).ok());
    }
    h1_.set_on_ack([this](const std::string& volume, uint64_t vext, uint32_t region,
                          uint64_t value) { acks_.emplace_back(volume, vext, region, value); });
  }

  static ExtentRef Extent(uint64_t vext) {
    return ExtentRef{TwoExtentVolume(), kExtentSectors, vext};
  }

  // Runs h1's copier until it has nothing left to do.
  void CopyAll() {
    for (int i = 0; i < 100 && h1_.HasCopyWork(); ++i) h1_.CopyStep();
  }

  MigrationState StateOn(ModelKernel& k, uint64_t vext) {
    absl::StatusOr<KernelExtent> e = k.Read(Extent(vext));
    EXPECT_TRUE(e.ok()) << e.status();
    EXPECT_TRUE(e->migration.has_value());
    return e->migration->state;
  }

  FakeClock clock_;
  ModelDisks disks_{clock_};
  ModelKernel h1_{"h1", disks_, clock_, kRegions};
  ModelKernel h2_{"h2", disks_, clock_, kRegions};
  std::vector<Ack> acks_;  // h1's
};

TEST_F(ModelKernelTest, FollowerWriteBetweenCopyReadAndWriteLeavesDestinationStale) {
  ASSERT_EQ(h1_.Write(kName, 0, 1, 100), WriteResult::kAcked);
  // The protocol: followers dual-write before the copier starts.
  ASSERT_TRUE(h2_.MigrateStart(Extent(0), kDst, MigrateMode::kFollow, 0).ok());
  EXPECT_EQ(StateOn(h2_, 0), MigrationState::kReady);
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());

  h1_.CopyStep();  // reads every region: region 1 is 100
  ASSERT_EQ(h2_.Write(kName, 0, 1, 200), WriteResult::kAcked);  // src and dst: 200
  EXPECT_EQ(disks_.Read(kDst, 1), 200u);
  h1_.CopyStep();  // writes the 100 it read over the follower's 200
  EXPECT_EQ(disks_.Read(kSrc0, 1), 200u);
  EXPECT_EQ(disks_.Read(kDst, 1), 100u);

  CopyAll();
  ASSERT_EQ(StateOn(h1_, 0), MigrationState::kReady);
  EXPECT_EQ(disks_.Read(kDst, 1), 100u);  // the copier never looks back

  // The cutover's repair: the follower names the region it wrote.
  absl::StatusOr<MigrateDirty> dirty = h2_.MigrateDirtyRegions(Extent(0), 0);
  ASSERT_TRUE(dirty.ok()) << dirty.status();
  EXPECT_EQ(dirty->region_sectors, kExtentSectors / kRegions);
  EXPECT_EQ(dirty->nr_regions, kRegions);
  EXPECT_THAT(dirty->runs, ElementsAre(DirtyRun{1, 1}));
  ASSERT_TRUE(h1_.MigrateRecopy(Extent(0), dirty->runs, 0).ok());
  EXPECT_EQ(StateOn(h1_, 0), MigrationState::kCopy);
  EXPECT_EQ(h1_.MigrateCommit(Extent(0), 0).code(), absl::StatusCode::kFailedPrecondition);
  CopyAll();
  ASSERT_EQ(StateOn(h1_, 0), MigrationState::kReady);
  EXPECT_EQ(disks_.Read(kDst, 1), 200u);

  ASSERT_TRUE(h1_.MigrateCommit(Extent(0), 0).ok());
  ASSERT_TRUE(h2_.MigrateCommit(Extent(0), 0).ok());
  EXPECT_EQ(h1_.MapOf(kName, 0), kDst);
  EXPECT_EQ(h2_.MapOf(kName, 0), kDst);
}

TEST_F(ModelKernelTest, CopierOwnWriteDuringACopyIsNotLost) {
  ASSERT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kAcked);
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());
  h1_.CopyStep();  // reads every region: region 0 is 1
  ASSERT_EQ(h1_.Write(kName, 0, 0, 2), WriteResult::kAcked);  // cancels region 0's copy
  CopyAll();
  EXPECT_EQ(StateOn(h1_, 0), MigrationState::kReady);
  EXPECT_EQ(disks_.Read(kDst, 0), 2u);
  // Copied regions are dual-written from then on.
  ASSERT_EQ(h1_.Write(kName, 0, 3, 7), WriteResult::kAcked);
  EXPECT_EQ(disks_.Read(kDst, 3), 7u);
}

TEST_F(ModelKernelTest, FreezeHoldsWritesUntilThawAndAcksThemThen) {
  absl::StatusOr<uint64_t> id = h1_.Freeze(Extent(0), 10000, 0);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(h1_.FreezeWait(Extent(0), *id, 1000).ok());

  EXPECT_EQ(h1_.Write(kName, 0, 2, 5), WriteResult::kHeld);
  EXPECT_EQ(h1_.Write(kName, 1, 2, 6), WriteResult::kAcked);  // another extent
  EXPECT_EQ(h1_.held_writes(), 1u);
  EXPECT_EQ(disks_.Read(kSrc0, 2), 0u);
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 1, 2, 6}));

  // A held write lands on the map as it is at the thaw.
  const Location moved{2, 0};
  ASSERT_TRUE(h1_.SetLocation(Extent(0), moved, 0).ok());
  ASSERT_TRUE(h1_.Thaw(Extent(0), *id, 0).ok());
  EXPECT_EQ(h1_.held_writes(), 0u);
  EXPECT_EQ(disks_.Read(moved, 2), 5u);
  EXPECT_EQ(disks_.Read(kSrc0, 2), 0u);
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 1, 2, 6}, Ack{kName, 0, 2, 5}));
  EXPECT_EQ(h1_.Thaw(Extent(0), *id, 0).code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelKernelTest, FreezeTimeoutReleasesHeldWrites) {
  absl::StatusOr<uint64_t> id = h1_.Freeze(Extent(0), 100, 0);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kHeld);
  EXPECT_EQ(h1_.Write(kName, 0, 0, 2), WriteResult::kHeld);

  clock_.SleepFor(absl::Milliseconds(99));
  h1_.Tick();
  EXPECT_EQ(h1_.held_writes(), 2u);
  EXPECT_THAT(acks_, IsEmpty());

  clock_.SleepFor(absl::Milliseconds(1));
  h1_.Tick();
  EXPECT_EQ(h1_.held_writes(), 0u);
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 0, 0, 1}, Ack{kName, 0, 0, 2}));
  EXPECT_EQ(disks_.Read(kSrc0, 0), 2u);  // in arrival order
  EXPECT_EQ(h1_.FreezeWait(Extent(0), *id, 0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h1_.Thaw(Extent(0), *id, 0).code(), absl::StatusCode::kNotFound);

  // Ids are never reused.
  absl::StatusOr<uint64_t> next = h1_.Freeze(Extent(0), 100, 0);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, *id);
}

TEST_F(ModelKernelTest, FenceHoldsWritesAndKeepsFreezes) {
  absl::StatusOr<uint64_t> id = h1_.Freeze(Extent(0), 10000, 0);
  ASSERT_TRUE(id.ok());
  h1_.Fence();
  EXPECT_TRUE(h1_.fenced());
  EXPECT_FALSE(h1_.writable());
  EXPECT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kHeld);
  EXPECT_EQ(h1_.Write(kName, 1, 0, 2), WriteResult::kHeld);
  EXPECT_TRUE(h1_.FreezeWait(Extent(0), *id, 0).ok());

  ASSERT_TRUE(h1_.Unfence(0).ok());
  EXPECT_TRUE(h1_.writable());
  // Extent 1 lands; extent 0 stays held by its freeze.
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 1, 0, 2}));
  EXPECT_EQ(h1_.held_writes(), 1u);
  ASSERT_TRUE(h1_.Thaw(Extent(0), *id, 0).ok());
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 1, 0, 2}, Ack{kName, 0, 0, 1}));
}

TEST_F(ModelKernelTest, ExpiredLeaseHoldsWritesAndRefusesUnfenceUntilRenewed) {
  h1_.Lease(absl::Seconds(1));
  EXPECT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kAcked);

  clock_.SleepFor(absl::Seconds(1));
  // Past the deadline, before any timer ran: held already.
  EXPECT_FALSE(h1_.writable());
  EXPECT_EQ(h1_.Write(kName, 0, 0, 2), WriteResult::kHeld);
  h1_.Tick();
  EXPECT_TRUE(h1_.fenced());

  EXPECT_EQ(h1_.Unfence(0).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(h1_.held_writes(), 1u);
  h1_.Lease(absl::Seconds(1));
  EXPECT_EQ(h1_.held_writes(), 1u);  // a renewal does not unfence
  ASSERT_TRUE(h1_.Unfence(0).ok());
  EXPECT_EQ(h1_.held_writes(), 0u);
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 0, 0, 1}, Ack{kName, 0, 0, 2}));
  EXPECT_EQ(disks_.Read(kSrc0, 0), 2u);
}

TEST_F(ModelKernelTest, CommitRequiresReady) {
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());
  EXPECT_EQ(StateOn(h1_, 0), MigrationState::kCopy);
  EXPECT_EQ(h1_.MigrateCommit(Extent(0), 0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h1_.MapOf(kName, 0), kSrc0);

  CopyAll();
  EXPECT_FALSE(h1_.HasCopyWork());
  ASSERT_TRUE(h1_.MigrateCommit(Extent(0), 0).ok());
  EXPECT_EQ(h1_.MapOf(kName, 0), kDst);
  EXPECT_EQ(h1_.MigrateCommit(Extent(0), 0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h1_.MigrateAbort(Extent(0), 0).code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelKernelTest, AbortKeepsTheSource) {
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());
  CopyAll();
  ASSERT_TRUE(h1_.MigrateAbort(Extent(0), 0).ok());
  EXPECT_EQ(h1_.MapOf(kName, 0), kSrc0);
  EXPECT_EQ(h1_.MigrateDirtyRegions(Extent(0), 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelKernelTest, MigrateStartRefusals) {
  EXPECT_EQ(h1_.MigrateStart(Extent(0), kSrc0, MigrateMode::kCopy, 0).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());
  EXPECT_EQ(h1_.MigrateStart(Extent(0), Location{1, 6}, MigrateMode::kCopy, 0).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h1_.SetLocation(Extent(0), Location{1, 6}, 0).code(),
            absl::StatusCode::kFailedPrecondition);

  h1_.set_max_migrations(1);
  EXPECT_EQ(h1_.MigrateStart(Extent(1), Location{1, 6}, MigrateMode::kCopy, 0).code(),
            absl::StatusCode::kFailedPrecondition);

  ExtentRef other = Extent(0);
  other.volume.name = "w";
  EXPECT_EQ(h1_.MigrateStart(other, kDst, MigrateMode::kCopy, 0).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(h1_.Freeze(other, 100, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h1_.Read(other).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelKernelTest, FailedDestinationWriteFailsTheMigration) {
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());
  h1_.FailNextDestinationWrite();
  h1_.CopyStep();
  h1_.CopyStep();
  EXPECT_EQ(StateOn(h1_, 0), MigrationState::kFailed);
  EXPECT_FALSE(h1_.HasCopyWork());
  EXPECT_EQ(h1_.MigrateCommit(Extent(0), 0).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(h1_.MigrateAbort(Extent(0), 0).ok());
}

TEST_F(ModelKernelTest, FencedCopierDoesNotCopy) {
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 0).ok());
  h1_.Fence();
  EXPECT_FALSE(h1_.HasCopyWork());
  h1_.CopyStep();
  absl::StatusOr<KernelExtent> e = h1_.Read(Extent(0));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->migration->copied_regions, 0u);
  ASSERT_TRUE(h1_.Unfence(0).ok());
  EXPECT_TRUE(h1_.HasCopyWork());
}

TEST_F(ModelKernelTest, RecopyWritesNothingWhileFenced) {
  ASSERT_EQ(h1_.Write(kName, 0, 0, 9), WriteResult::kAcked);
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kFollow, 0).ok());
  const std::vector<DirtyRun> all = {DirtyRun{0, kRegions}};

  h1_.Fence();
  ASSERT_TRUE(h1_.MigrateRecopy(Extent(0), all, 0).ok());
  EXPECT_FALSE(h1_.HasCopyWork());
  h1_.CopyStep();
  h1_.CopyStep();
  EXPECT_EQ(disks_.Read(kDst, 0), 0u);
  ASSERT_TRUE(h1_.Unfence(0).ok());

  h1_.Lease(absl::Milliseconds(10));
  clock_.SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(h1_.HasCopyWork());
  h1_.CopyStep();
  EXPECT_EQ(disks_.Read(kDst, 0), 0u);
  h1_.Lease(absl::Seconds(10));
  ASSERT_TRUE(h1_.Unfence(0).ok());

  // A follow migration copies too, once unfenced; runs beyond the extent
  // and regions whose copy is half done are refused.
  EXPECT_EQ(h1_.MigrateRecopy(Extent(0), {DirtyRun{kRegions - 1, 2}}, 0).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(h1_.MigrateRecopy(Extent(0), {}, 0).code(), absl::StatusCode::kInvalidArgument);
  h1_.CopyStep();  // reads every region
  EXPECT_EQ(h1_.MigrateRecopy(Extent(0), {DirtyRun{0, 1}}, 0).code(),
            absl::StatusCode::kUnavailable);
  CopyAll();
  EXPECT_EQ(StateOn(h1_, 0), MigrationState::kReady);
  EXPECT_EQ(disks_.Read(kDst, 0), 9u);
}

TEST_F(ModelKernelTest, CrashDropsHeldWritesAndKernelState) {
  ASSERT_TRUE(h1_.Freeze(Extent(0), 10000, 0).ok());
  ASSERT_TRUE(h1_.MigrateStart(Extent(1), kDst, MigrateMode::kCopy, 0).ok());
  EXPECT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kHeld);

  h1_.Crash();
  EXPECT_EQ(h1_.held_writes(), 0u);
  EXPECT_FALSE(h1_.HasVolume(kName));
  EXPECT_EQ(h1_.Write(kName, 0, 0, 2), WriteResult::kError);
  EXPECT_THAT(acks_, IsEmpty());
  EXPECT_EQ(disks_.Read(kSrc0, 0), 0u);

  // Back from the record, fenced in cluster mode, nothing frozen or moving.
  h1_.set_create_fenced(true);
  ASSERT_TRUE(h1_.Activate(Snapshot{}, TwoExtentVolume()).ok());
  EXPECT_TRUE(h1_.fenced());
  EXPECT_EQ(h1_.MapOf(kName, 1), kSrc1);
  EXPECT_TRUE(h1_.MigrationsOf(kName).empty());
  EXPECT_TRUE(h1_.FreezesOf(kName).empty());
  EXPECT_EQ(h1_.Write(kName, 0, 0, 3), WriteResult::kHeld);
  ASSERT_TRUE(h1_.Unfence(0).ok());
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 0, 0, 3}));
}

TEST_F(ModelKernelTest, ActivateKeepsALiveMap) {
  ASSERT_TRUE(h1_.SetLocation(Extent(0), kDst, 0).ok());
  VolumeRecord grown = TwoExtentVolume();
  grown.extents = 3;
  grown.segments.push_back(Segment{2, 1});
  grown.runs.push_back(cvol::Run{2, 3, 0, 1});
  ASSERT_TRUE(h1_.Activate(Snapshot{}, grown).ok());
  EXPECT_EQ(h1_.MapOf(kName, 0), kDst);
  EXPECT_EQ(h1_.MapOf(kName, 2), (Location{3, 0}));
}

// The table feature `fenced` (1.5): a volume the load creates starts
// fenced; a reload of a live one leaves it as it is.
TEST_F(ModelKernelTest, ActivateDeviceFencesOnlyWhatItCreates) {
  ASSERT_TRUE(h1_.ActivateDevice(Snapshot{}, TwoExtentVolume(), /*fenced=*/true).ok());
  EXPECT_FALSE(h1_.fenced());
  EXPECT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kAcked);

  h1_.Crash();
  ASSERT_TRUE(h1_.ActivateDevice(Snapshot{}, TwoExtentVolume(), /*fenced=*/true).ok());
  EXPECT_TRUE(h1_.fenced());
  EXPECT_EQ(h1_.Write(kName, 0, 0, 2), WriteResult::kHeld);
  ASSERT_TRUE(h1_.UnfenceSegment(SegmentAt{kName, 0}, 3).ok());
  EXPECT_EQ(h1_.EpochOf(kName), 3u);
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 0, 0, 1}, Ack{kName, 0, 0, 2}));

  h1_.Crash();
  ASSERT_TRUE(h1_.ActivateDevice(Snapshot{}, TwoExtentVolume(), /*fenced=*/false).ok());
  EXPECT_FALSE(h1_.fenced());
}

// Cluster epochs (1.4): the volume remembers the highest epoch it has seen;
// an older one is refused before anything changes.
TEST_F(ModelKernelTest, OlderEpochIsRefusedAndChangesNothing) {
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 5).ok());
  EXPECT_EQ(h1_.EpochOf(kName), 5u);

  absl::Status stale = h1_.MigrateAbort(Extent(0), 4);
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsStaleEpoch(stale));
  EXPECT_EQ(h1_.MigrationsOf(kName).size(), 1u);
  EXPECT_TRUE(IsStaleEpoch(h1_.MigrateCommit(Extent(0), 4)));
  EXPECT_TRUE(IsStaleEpoch(h1_.MigrateDirtyRegions(Extent(0), 4).status()));
  EXPECT_TRUE(IsStaleEpoch(h1_.Freeze(Extent(1), 1000, 1).status()));
  EXPECT_TRUE(h1_.FreezesOf(kName).empty());
  EXPECT_TRUE(IsStaleEpoch(h1_.SetLocation(Extent(1), Location{2, 0}, 4)));
  EXPECT_EQ(h1_.MapOf(kName, 1), kSrc1);
  EXPECT_TRUE(IsStaleEpoch(h1_.MigrateStart(Extent(1), Location{2, 0}, MigrateMode::kCopy, 4)));
  EXPECT_EQ(h1_.MigrationsOf(kName).size(), 1u);
  EXPECT_EQ(h1_.EpochOf(kName), 5u);

  // The same epoch, a newer one, and none at all (single-host mode) pass.
  ASSERT_TRUE(h1_.MigrateAbort(Extent(0), 5).ok());
  absl::StatusOr<uint64_t> id = h1_.Freeze(Extent(0), 1000, 7);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(h1_.EpochOf(kName), 7u);
  EXPECT_TRUE(IsStaleEpoch(h1_.Thaw(Extent(0), *id, 6)));
  EXPECT_EQ(h1_.FreezesOf(kName).size(), 1u);
  ASSERT_TRUE(h1_.Thaw(Extent(0), *id, 0).ok());
  EXPECT_EQ(h1_.EpochOf(kName), 7u);

  // Each volume (and each host) keeps its own.
  EXPECT_EQ(h2_.EpochOf(kName), 0u);
  EXPECT_TRUE(h2_.MigrateStart(Extent(0), kDst, MigrateMode::kFollow, 1).ok());
}

TEST_F(ModelKernelTest, RefusedCallDoesNotRaiseTheEpoch) {
  // Not ready: refused by the kernel for another reason, so the epoch of
  // the refused commit is not remembered.
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 2).ok());
  EXPECT_EQ(h1_.MigrateCommit(Extent(0), 9).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h1_.EpochOf(kName), 2u);
  EXPECT_EQ(h1_.Thaw(Extent(0), 12345, 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h1_.EpochOf(kName), 2u);
  ASSERT_TRUE(h1_.MigrateAbort(Extent(0), 3).ok());
  EXPECT_EQ(h1_.EpochOf(kName), 3u);
}

TEST_F(ModelKernelTest, EpochBeyondTheMaximumIsRefused) {
  EXPECT_EQ(h1_.Freeze(Extent(0), 1000, CVOL_MAX_EPOCH + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(h1_.FreezesOf(kName).empty());
  EXPECT_EQ(h1_.EpochOf(kName), 0u);
  ASSERT_TRUE(h1_.Freeze(Extent(0), 1000, CVOL_MAX_EPOCH).ok());
  EXPECT_EQ(h1_.EpochOf(kName), CVOL_MAX_EPOCH);
}

TEST_F(ModelKernelTest, UnfenceTakesPartInTheEpochRule) {
  h1_.Fence();
  EXPECT_EQ(h1_.Write(kName, 0, 0, 1), WriteResult::kHeld);
  ASSERT_TRUE(h1_.Unfence(4).ok());
  EXPECT_EQ(h1_.EpochOf(kName), 4u);
  EXPECT_TRUE(IsStaleEpoch(h1_.SetLocation(Extent(0), kDst, 3)));

  // A host that re-integrates under an epoch older than one a volume saw
  // stays fenced; under the current one it unfences.
  ASSERT_TRUE(h1_.MigrateStart(Extent(0), kDst, MigrateMode::kCopy, 6).ok());
  h1_.Fence();
  EXPECT_EQ(h1_.Write(kName, 1, 0, 2), WriteResult::kHeld);
  EXPECT_TRUE(IsStaleEpoch(h1_.Unfence(5)));
  EXPECT_TRUE(h1_.fenced());
  EXPECT_EQ(h1_.EpochOf(kName), 6u);
  ASSERT_TRUE(h1_.Unfence(6).ok());
  EXPECT_FALSE(h1_.fenced());
  EXPECT_THAT(acks_, ElementsAre(Ack{kName, 0, 0, 1}, Ack{kName, 1, 0, 2}));
}

TEST_F(ModelKernelTest, CrashForgetsTheEpoch) {
  ASSERT_TRUE(h1_.SetLocation(Extent(0), kDst, 8).ok());
  h1_.Crash();
  ASSERT_TRUE(h1_.Activate(Snapshot{}, TwoExtentVolume()).ok());
  EXPECT_EQ(h1_.EpochOf(kName), 0u);
  EXPECT_TRUE(h1_.SetLocation(Extent(0), kDst, 1).ok());
}

}  // namespace
}  // namespace cvol::daemon::sim
