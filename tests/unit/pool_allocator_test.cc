#include "cvol/pool/allocator.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cvol/extent_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

// `cvol::Run` is spelled out: inside a test, plain `Run` is testing::Test::Run.
namespace cvol::pool {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using R = ExtentRange;

// A pool of pvs "pv0", "pv1", ... with the given extent counts.
Pool MakePool(std::vector<uint64_t> extents) {
  absl::StatusOr<Pool> pool = Pool::Create(2048);
  EXPECT_TRUE(pool.ok()) << pool.status();
  for (size_t i = 0; i < extents.size(); ++i) {
    absl::StatusOr<uint32_t> pv = pool->AddPv(absl::StrCat("pv", i), extents[i]);
    EXPECT_TRUE(pv.ok()) << pv.status();
  }
  return *std::move(pool);
}

// Every pv's free runs: a snapshot to show that a failed call changed
// nothing.
std::vector<std::vector<R>> FreeRuns(const Pool& pool) {
  std::vector<std::vector<R>> runs;
  for (uint32_t pv = 0; pv < pool.pv_count(); ++pv) {
    runs.push_back(pool.pv_space(pv).FreeRuns());
  }
  return runs;
}

TEST(PoolTest, CreateChecksTheExtentSize) {
  EXPECT_TRUE(Pool::Create(8).ok());
  EXPECT_TRUE(Pool::Create(CVOL_MAX_EXTENT_SECTORS).ok());
  for (uint64_t bad : {uint64_t{0}, uint64_t{12}, uint64_t{CVOL_MAX_EXTENT_SECTORS} + 8}) {
    absl::StatusOr<Pool> pool = Pool::Create(bad);
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(ErrorOf(pool), HasSubstr("must be a multiple of 8 sectors"));
  }
  EXPECT_EQ(Pool::Create(4096)->extent_sectors(), 4096u);
}

TEST(PoolTest, AddPvChecksItsArguments) {
  Pool pool = *Pool::Create(2048);
  EXPECT_EQ(*pool.AddPv("a", 10), 0u);
  EXPECT_EQ(*pool.AddPv("b", 20), 1u);
  EXPECT_EQ(pool.AddPv("a", 5).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(ErrorOf(pool.AddPv("", 5)), HasSubstr("uuid is empty"));
  EXPECT_THAT(ErrorOf(pool.AddPv("c", 0)), HasSubstr("pv c has no whole extent"));
  EXPECT_THAT(ErrorOf(pool.AddPv("d", FreeSpace::kMaxExtents + 1)),
              HasSubstr("pv d: extent count"));
  EXPECT_EQ(pool.pv_count(), 2u);
  EXPECT_EQ(pool.pv_uuid(1), "b");
  EXPECT_EQ(pool.TotalExtents(), 30u);
  EXPECT_EQ(pool.FreeCount(), 30u);
}

TEST(PoolTest, AddPvStopsAtTheDeviceSlotLimit) {
  Pool pool = *Pool::Create(2048);
  for (uint32_t i = 0; i < Pool::kMaxPvs; ++i) {
    ASSERT_TRUE(pool.AddPv(absl::StrCat("pv", i), 1).ok());
  }
  EXPECT_EQ(pool.AddPv("one-more", 1).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PoolTest, AllocateTakesTheShortestRunThatFitsOnAnyPv) {
  Pool pool = MakePool({100, 100});
  // pv0: free 0-9 (10). pv1: free 50-55 (6) and 60-99 (40).
  ASSERT_TRUE(pool.Reserve("setup", {cvol::Run{0, 0, 10, 90}, cvol::Run{90, 1, 0, 50},
                                     cvol::Run{140, 1, 56, 4}})
                  .ok());
  EXPECT_EQ(pool.FreeCount(), 56u);
  EXPECT_THAT(*pool.Allocate(5), ElementsAre(cvol::Run{0, 1, 50, 5}));
  EXPECT_THAT(*pool.Allocate(8), ElementsAre(cvol::Run{0, 0, 0, 8}));
  EXPECT_THAT(*pool.Allocate(11, 3), ElementsAre(cvol::Run{3, 1, 60, 11}));
  EXPECT_EQ(pool.FreeCount(), 56u - 24u);
}

TEST(PoolTest, EqualRunsGoToThePvWithTheMostFreeSpace) {
  Pool pool = MakePool({20, 30, 30});
  // pv0: free 0-7 only. pv1: free 0-7 and 9-29. pv2: free 0-7 and 9-10.
  ASSERT_TRUE(pool.Reserve("setup", {cvol::Run{0, 0, 8, 12}, cvol::Run{12, 1, 8, 1},
                                     cvol::Run{13, 2, 8, 1}, cvol::Run{14, 2, 11, 19}})
                  .ok());
  EXPECT_THAT(*pool.Allocate(8), ElementsAre(cvol::Run{0, 1, 0, 8}));
  // Now pv0 (8 free) and pv2 (10 free) both have a run of 8: pv2.
  EXPECT_THAT(*pool.Allocate(7), ElementsAre(cvol::Run{0, 2, 0, 7}));
}

TEST(PoolTest, EqualPvsGoToTheLowestIndex) {
  Pool pool = MakePool({10, 10});
  EXPECT_THAT(*pool.Allocate(3), ElementsAre(cvol::Run{0, 0, 0, 3}));
  // pv0's remaining run (7) is now the best fit for 7.
  EXPECT_THAT(*pool.Allocate(7), ElementsAre(cvol::Run{0, 0, 3, 7}));
  EXPECT_THAT(*pool.Allocate(2), ElementsAre(cvol::Run{0, 1, 0, 2}));
}

// pv0 (30): free 0-9 (10), 11-14 (4). pv1 (30): free 0-11 (12), 13-15 (3),
// 17-18 (2). 31 free; the longest run is 12.
Pool FragmentedPool() {
  Pool pool = MakePool({30, 30});
  EXPECT_TRUE(pool.Reserve("setup", {cvol::Run{0, 0, 10, 1}, cvol::Run{1, 0, 15, 15},
                                     cvol::Run{16, 1, 12, 1}, cvol::Run{17, 1, 16, 1},
                                     cvol::Run{18, 1, 19, 11}})
                  .ok());
  EXPECT_EQ(pool.FreeCount(), 31u);
  return pool;
}

TEST(PoolTest, SpreadTakesTheLongestRunsThenTheBestFitForTheRest) {
  Pool pool = FragmentedPool();
  // 12 (pv1) + 10 (pv0) leave 3: the 3-run fits exactly, the 4-run stays.
  EXPECT_THAT(*pool.Allocate(25, 100),
              ElementsAre(cvol::Run{100, 1, 0, 12}, cvol::Run{112, 0, 0, 10},
                          cvol::Run{122, 1, 13, 3}));
  EXPECT_THAT(FreeRuns(pool), ElementsAre(ElementsAre(R{11, 4}), ElementsAre(R{17, 2})));
}

TEST(PoolTest, SpreadUsesTheFewestRuns) {
  Pool pool = FragmentedPool();
  // 13 needs two runs: 12 + the best fit for 1 (the 2-run), not 12 + 10.
  EXPECT_THAT(*pool.Allocate(13),
              ElementsAre(cvol::Run{0, 1, 0, 12}, cvol::Run{12, 1, 17, 1}));
  EXPECT_EQ(pool.FreeCount(), 18u);
}

TEST(PoolTest, ContiguousPlacementFailsWithoutARunThatFits) {
  Pool pool = FragmentedPool();
  const auto before = FreeRuns(pool);
  absl::StatusOr<std::vector<cvol::Run>> runs = pool.Allocate(13, 0, Placement::kContiguous);
  EXPECT_EQ(runs.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ErrorOf(runs), HasSubstr("no pv has 13 contiguous free extents; "
                                       "the longest free run is 12"));
  EXPECT_EQ(FreeRuns(pool), before);
  EXPECT_THAT(*pool.Allocate(12, 0, Placement::kContiguous),
              ElementsAre(cvol::Run{0, 1, 0, 12}));
}

TEST(PoolTest, AllocateFailsWithoutEnoughFreeSpaceAndChangesNothing) {
  Pool pool = FragmentedPool();
  const auto before = FreeRuns(pool);
  absl::StatusOr<std::vector<cvol::Run>> runs = pool.Allocate(32);
  EXPECT_EQ(runs.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ErrorOf(runs), HasSubstr("32 extents requested; the pool has 31 free"));
  EXPECT_EQ(FreeRuns(pool), before);
  EXPECT_EQ(pool.Allocate(31)->size(), 5u);  // everything, in 5 runs
  EXPECT_EQ(pool.FreeCount(), 0u);
}

TEST(PoolTest, AllocateChecksItsArguments) {
  Pool pool = MakePool({10});
  EXPECT_THAT(ErrorOf(pool.Allocate(0)), HasSubstr("cannot allocate 0 extents"));
  EXPECT_THAT(ErrorOf(pool.Allocate(Pool::kMaxVolumeExtents + 1)),
              HasSubstr("exceed the volume limit"));
  EXPECT_THAT(ErrorOf(pool.Allocate(2, Pool::kMaxVolumeExtents - 1)),
              HasSubstr("exceed the volume limit"));
  EXPECT_THAT(ErrorOf(pool.Allocate(1, UINT64_MAX)), HasSubstr("exceed the volume limit"));
  EXPECT_EQ(pool.FreeCount(), 10u);
  EXPECT_THAT(*pool.Allocate(1, Pool::kMaxVolumeExtents - 1),
              ElementsAre(cvol::Run{Pool::kMaxVolumeExtents - 1, 0, 0, 1}));
}

// The volume's map after appending the runs Grow() returned: must cover
// every extent exactly once.
std::vector<cvol::Run> Grown(std::vector<cvol::Run> volume,
                             const std::vector<cvol::Run>& added) {
  uint64_t size = 0;
  for (const cvol::Run& run : volume) size = std::max(size, run.vext + run.count);
  for (const cvol::Run& run : added) size = std::max(size, run.vext + run.count);
  volume.insert(volume.end(), added.begin(), added.end());
  absl::StatusOr<ExtentMap> map = ExtentMap::FromRuns(size, volume);
  EXPECT_TRUE(map.ok()) << map.status();
  if (!map.ok()) return {};
  EXPECT_EQ(map->MappedCount(), size);
  return map->ToRuns();
}

TEST(PoolTest, GrowExtendsTheLastRunInPlace) {
  Pool pool = MakePool({100, 100});
  const std::vector<cvol::Run> volume = *pool.Allocate(10);
  ASSERT_THAT(volume, ElementsAre(cvol::Run{0, 0, 0, 10}));
  const std::vector<cvol::Run> added = *pool.Grow(volume, 5);
  EXPECT_THAT(added, ElementsAre(cvol::Run{10, 0, 10, 5}));
  EXPECT_THAT(Grown(volume, added), ElementsAre(cvol::Run{0, 0, 0, 15}));
}

TEST(PoolTest, GrowExtendsTheRunWithTheHighestVirtualExtents) {
  Pool pool = MakePool({100});
  const std::vector<cvol::Run> volume = {cvol::Run{5, 0, 50, 5}, cvol::Run{0, 0, 0, 5}};
  ASSERT_TRUE(pool.Reserve("v", volume).ok());
  EXPECT_THAT(*pool.Grow(volume, 3), ElementsAre(cvol::Run{10, 0, 55, 3}));
}

TEST(PoolTest, GrowPartlyInPlaceThenByTheUsualRules) {
  Pool pool = MakePool({100, 100});
  const std::vector<cvol::Run> volume = {cvol::Run{0, 0, 0, 10}};
  ASSERT_TRUE(pool.Reserve("v", volume).ok());
  ASSERT_TRUE(pool.Reserve("other", {cvol::Run{0, 0, 13, 87}}).ok());  // pv0: 10-12 free
  const std::vector<cvol::Run> added = *pool.Grow(volume, 20);
  EXPECT_THAT(added, ElementsAre(cvol::Run{10, 0, 10, 3}, cvol::Run{13, 1, 0, 17}));
  EXPECT_THAT(Grown(volume, added),
              ElementsAre(cvol::Run{0, 0, 0, 13}, cvol::Run{13, 1, 0, 17}));
}

TEST(PoolTest, GrowAfterAUsedExtentFollowsTheUsualRules) {
  Pool pool = MakePool({100, 100});
  const std::vector<cvol::Run> volume = {cvol::Run{0, 0, 0, 10}};
  ASSERT_TRUE(pool.Reserve("v", volume).ok());
  ASSERT_TRUE(pool.Reserve("other", {cvol::Run{0, 0, 10, 5}}).ok());
  // pv0 has 85 free in one run, pv1 100: best fit is pv0.
  EXPECT_THAT(*pool.Grow(volume, 4), ElementsAre(cvol::Run{10, 0, 15, 4}));
}

TEST(PoolTest, GrowContiguousTakesOneRunOrNothing) {
  Pool pool = MakePool({100, 30});
  std::vector<cvol::Run> volume = {cvol::Run{0, 0, 0, 10}};
  ASSERT_TRUE(pool.Reserve("v", volume).ok());
  ASSERT_TRUE(pool.Reserve("other", {cvol::Run{0, 0, 13, 87}}).ok());  // pv0: 10-12 free
  // Not 3 in place plus 17 elsewhere: one run of 20 on pv1.
  const std::vector<cvol::Run> added = *pool.Grow(volume, 20, Placement::kContiguous);
  EXPECT_THAT(added, ElementsAre(cvol::Run{10, 1, 0, 20}));
  volume = Grown(volume, added);
  const auto before = FreeRuns(pool);
  absl::StatusOr<std::vector<cvol::Run>> more = pool.Grow(volume, 11, Placement::kContiguous);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ErrorOf(more), HasSubstr("no pv has 11 contiguous free extents"));
  EXPECT_EQ(FreeRuns(pool), before);
  // In place is contiguous too: the last run is now pv1's 0-19.
  EXPECT_THAT(*pool.Grow(volume, 10, Placement::kContiguous),
              ElementsAre(cvol::Run{30, 1, 20, 10}));
}

TEST(PoolTest, GrowOfAnEmptyVolumeAllocatesFromExtentZero) {
  Pool pool = MakePool({10});
  EXPECT_THAT(*pool.Grow({}, 4), ElementsAre(cvol::Run{0, 0, 0, 4}));
}

TEST(PoolTest, GrowRefusesBadInputAndChangesNothing) {
  Pool pool = MakePool({20, 20});
  const std::vector<cvol::Run> volume = {cvol::Run{0, 0, 0, 10}};
  ASSERT_TRUE(pool.Reserve("v", volume).ok());
  const auto before = FreeRuns(pool);
  EXPECT_THAT(ErrorOf(pool.Grow(volume, 0)), HasSubstr("cannot grow by 0 extents"));
  absl::StatusOr<std::vector<cvol::Run>> unallocated = pool.Grow({cvol::Run{0, 1, 0, 2}}, 1);
  EXPECT_EQ(unallocated.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ErrorOf(unallocated),
              HasSubstr("run \"0:1:0:2\" is not allocated in the pool"));
  EXPECT_THAT(ErrorOf(pool.Grow({cvol::Run{0, 0, 0, 10}, cvol::Run{5, 0, 0, 1}}, 1)),
              HasSubstr("overlap"));
  EXPECT_THAT(ErrorOf(pool.Grow({cvol::Run{0, 2, 0, 1}}, 1)),
              HasSubstr("names pv #2; the pool has 2 pvs"));
  EXPECT_THAT(ErrorOf(pool.Grow(volume, Pool::kMaxVolumeExtents)),
              HasSubstr("exceeds the volume limit"));
  absl::StatusOr<std::vector<cvol::Run>> too_big = pool.Grow(volume, 31);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ErrorOf(too_big), HasSubstr("31 extents requested; the pool has 30 free"));
  EXPECT_EQ(FreeRuns(pool), before);
}

TEST(PoolTest, FreeReturnsEverything) {
  Pool pool = MakePool({30, 30});
  const std::vector<cvol::Run> a = *pool.Allocate(20);
  const std::vector<cvol::Run> b = *pool.Allocate(25);
  const std::vector<cvol::Run> c = *pool.Allocate(15);
  EXPECT_EQ(pool.FreeCount(), 0u);
  ASSERT_TRUE(pool.Free(b).ok());
  ASSERT_TRUE(pool.Free(a).ok());
  ASSERT_TRUE(pool.Free(c).ok());
  EXPECT_THAT(FreeRuns(pool), ElementsAre(ElementsAre(R{0, 30}), ElementsAre(R{0, 30})));
}

TEST(PoolTest, DoubleFreeFailsAndChangesNothing) {
  Pool pool = MakePool({30, 30});
  const std::vector<cvol::Run> a = *pool.Allocate(10);  // pv0
  const std::vector<cvol::Run> b = *pool.Allocate(30);  // pv1
  ASSERT_THAT(a, ElementsAre(cvol::Run{0, 0, 0, 10}));
  ASSERT_THAT(b, ElementsAre(cvol::Run{0, 1, 0, 30}));
  ASSERT_TRUE(pool.Free(a).ok());
  const auto before = FreeRuns(pool);
  // b is fine, a is free already: neither is freed.
  std::vector<cvol::Run> both = b;
  both.insert(both.end(), a.begin(), a.end());
  absl::Status status = pool.Free(both);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ErrorOf(status), HasSubstr("free: pv pv0 (#0): cannot free extents 0-9: "
                                         "extent 0 is already free"));
  EXPECT_EQ(FreeRuns(pool), before);
  EXPECT_THAT(ErrorOf(pool.Free({cvol::Run{0, 1, 0, 2}, cvol::Run{5, 1, 1, 1}})),
              HasSubstr("extents 0-1 and 1 overlap"));
  EXPECT_THAT(ErrorOf(pool.Free({cvol::Run{0, 5, 0, 1}})), HasSubstr("names pv #5"));
  EXPECT_THAT(ErrorOf(pool.Free({cvol::Run{0, 1, 29, 2}})), HasSubstr("outside"));
  EXPECT_THAT(ErrorOf(pool.Free({cvol::Run{0, 1, 0, 0}})), HasSubstr("is empty"));
  EXPECT_EQ(FreeRuns(pool), before);
  EXPECT_TRUE(pool.Free(b).ok());
}

TEST(PoolTest, AllocateOneTakesTheBestFit) {
  Pool pool = MakePool({20, 20});
  // pv0: free 0-4 and 6-19; pv1: free 0-1 and 3-19.
  ASSERT_TRUE(pool.Reserve("setup", {cvol::Run{0, 0, 5, 1}, cvol::Run{1, 1, 2, 1}}).ok());
  EXPECT_EQ(*pool.AllocateOne(), (Location{1, 0}));  // from the 2-run
  EXPECT_EQ(*pool.AllocateOne(), (Location{1, 1}));  // what is left of it
  // pv0: runs of 5 and 14; pv1: a run of 17: pv0's 5-run.
  EXPECT_EQ(*pool.AllocateOne(), (Location{0, 0}));
}

TEST(PoolTest, AllocateOneTieGoesToThePvWithTheMostFreeSpace) {
  Pool pool = MakePool({10, 12});
  ASSERT_TRUE(pool.Reserve("setup", {cvol::Run{0, 0, 1, 1}, cvol::Run{1, 1, 1, 1}}).ok());
  // Both have a 1-run at 0; pv1 has more free.
  EXPECT_EQ(*pool.AllocateOne(), (Location{1, 0}));
}

TEST(PoolTest, AllocateOneExcludesAPv) {
  Pool pool = MakePool({10, 10});
  EXPECT_EQ(*pool.AllocateOne(PvHint::kExclude, 0), (Location{1, 0}));
  EXPECT_EQ(*pool.AllocateOne(PvHint::kExclude, 1), (Location{0, 0}));
  ASSERT_TRUE(pool.Reserve("fill", {cvol::Run{0, 1, 1, 9}}).ok());
  const auto before = FreeRuns(pool);
  absl::StatusOr<Location> none = pool.AllocateOne(PvHint::kExclude, 0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ErrorOf(none), HasSubstr("no free extent outside pv pv0 (#0)"));
  EXPECT_EQ(FreeRuns(pool), before);
}

TEST(PoolTest, AllocateOnePrefersAPvAndFallsBack) {
  Pool pool = MakePool({10, 2});
  EXPECT_EQ(*pool.AllocateOne(PvHint::kPrefer, 1), (Location{1, 0}));
  EXPECT_EQ(*pool.AllocateOne(PvHint::kPrefer, 1), (Location{1, 1}));
  EXPECT_EQ(*pool.AllocateOne(PvHint::kPrefer, 1), (Location{0, 0}));  // pv1 is full
}

TEST(PoolTest, AllocateOneErrors) {
  Pool pool = MakePool({1});
  EXPECT_THAT(ErrorOf(pool.AllocateOne(PvHint::kPrefer, 1)),
              HasSubstr("pv #1 is not in the pool"));
  EXPECT_THAT(ErrorOf(pool.AllocateOne(PvHint::kExclude, 7)),
              HasSubstr("pv #7 is not in the pool"));
  EXPECT_EQ(*pool.AllocateOne(PvHint::kAny, 7), (Location{0, 0}));  // pv ignored
  absl::StatusOr<Location> none = pool.AllocateOne();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(ErrorOf(none), HasSubstr("the pool has no free extent"));
}

TEST(PoolTest, ReserveMarksRunsUsedOrFailsNamingTheVolume) {
  Pool pool = MakePool({20, 20});
  ASSERT_TRUE(pool.Reserve("a", {cvol::Run{0, 0, 0, 5}, cvol::Run{5, 1, 10, 5}}).ok());
  EXPECT_EQ(pool.FreeCount(), 30u);
  const auto before = FreeRuns(pool);
  // The first run is free, the second collides: nothing is reserved.
  absl::Status status = pool.Reserve("b", {cvol::Run{0, 0, 10, 2}, cvol::Run{2, 1, 14, 2}});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ErrorOf(status), HasSubstr("volume b: pv pv1 (#1): cannot allocate extents "
                                         "14-15: extent 14 is in use"));
  // One volume's runs on the same physical extents.
  EXPECT_THAT(ErrorOf(pool.Reserve("c", {cvol::Run{0, 0, 10, 2}, cvol::Run{2, 0, 11, 2}})),
              HasSubstr("volume c: pv pv0 (#0): extents 10-11 and 11-12 overlap"));
  // Two runs on the same virtual extents.
  EXPECT_THAT(ErrorOf(pool.Reserve("d", {cvol::Run{0, 0, 10, 2}, cvol::Run{1, 1, 0, 1}})),
              HasSubstr("volume d: "));
  EXPECT_THAT(ErrorOf(pool.Reserve("e", {cvol::Run{0, 1, 19, 2}})),
              HasSubstr("volume e: pv pv1 (#1): 2 extents from extent 19 lie outside"));
  EXPECT_EQ(FreeRuns(pool), before);
}

TEST(PoolTest, RestoreRebuildsTheFreeSpaceFromTheMaps) {
  Pool pool = MakePool({20, 20});
  const std::vector<cvol::Run> a = *pool.Allocate(7);
  const std::vector<cvol::Run> b = *pool.Allocate(25);
  ASSERT_TRUE(pool.Free(a).ok());
  ASSERT_EQ(*pool.AllocateOne(), (Location{0, 0}));
  const std::vector<cvol::Run> c = {cvol::Run{0, 0, 0, 1}};
  const auto expected = FreeRuns(pool);

  Pool restarted = MakePool({20, 20});
  ASSERT_TRUE(restarted.Restore({VolumeRuns{"b", b}, VolumeRuns{"c", c}}).ok());
  EXPECT_EQ(FreeRuns(restarted), expected);
  // Restoring replaces, it does not add: the same maps again give the same.
  ASSERT_TRUE(restarted.Restore({VolumeRuns{"b", b}, VolumeRuns{"c", c}}).ok());
  EXPECT_EQ(FreeRuns(restarted), expected);
  ASSERT_TRUE(restarted.Restore({}).ok());
  EXPECT_EQ(restarted.FreeCount(), 40u);
}

TEST(PoolTest, RestoreOfOverlappingMapsNamesBothVolumes) {
  Pool pool = MakePool({20, 20});
  ASSERT_TRUE(pool.Reserve("x", {cvol::Run{0, 1, 0, 3}}).ok());
  const auto before = FreeRuns(pool);
  absl::Status status = pool.Restore({
      VolumeRuns{"alpha", {cvol::Run{0, 0, 0, 5}, cvol::Run{5, 1, 0, 2}}},
      VolumeRuns{"beta", {cvol::Run{0, 1, 5, 2}, cvol::Run{2, 0, 3, 4}}},
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(status),
              HasSubstr("volumes alpha and beta both map pv pv0 (#0) extents 3-4"));
  // Found whichever of the two starts lower.
  EXPECT_THAT(ErrorOf(pool.Restore({VolumeRuns{"alpha", {cvol::Run{0, 0, 5, 5}}},
                                    VolumeRuns{"beta", {cvol::Run{0, 0, 0, 6}}}})),
              HasSubstr("volumes alpha and beta both map pv pv0 (#0) extents 5"));
  EXPECT_THAT(ErrorOf(pool.Restore(
                  {VolumeRuns{"alpha", {cvol::Run{0, 0, 0, 5}, cvol::Run{5, 0, 4, 1}}}})),
              HasSubstr("volume alpha maps pv pv0 (#0) extents 4 twice"));
  EXPECT_EQ(FreeRuns(pool), before);
}

TEST(PoolTest, RestoreRefusesMapsOutsideThePool) {
  Pool pool = MakePool({20});
  const auto before = FreeRuns(pool);
  EXPECT_THAT(ErrorOf(pool.Restore({VolumeRuns{"v", {cvol::Run{0, 0, 18, 3}}}})),
              HasSubstr("volume v: run \"0:0:18:3\" lies outside pv pv0 (#0), which has 20"));
  EXPECT_THAT(ErrorOf(pool.Restore({VolumeRuns{"v", {cvol::Run{0, 1, 0, 1}}}})),
              HasSubstr("volume v: run \"0:1:0:1\" names pv #1; the pool has 1 pvs"));
  EXPECT_THAT(ErrorOf(pool.Restore(
                  {VolumeRuns{"v", {cvol::Run{0, 0, 0, 2}, cvol::Run{1, 0, 5, 1}}}})),
              HasSubstr("volume v: "));
  EXPECT_EQ(FreeRuns(pool), before);
}

// ---------------------------------------------------------------------------
// Random create / grow / remove / migrate sequences, every invariant checked
// after every step.

class PoolRandomTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    rng_.seed(GetParam());
    absl::StatusOr<Pool> pool = Pool::Create(2048);
    ASSERT_TRUE(pool.ok());
    pool_ = *std::move(pool);
    const uint32_t pvs = 2 + Below(3);
    for (uint32_t i = 0; i < pvs; ++i) {
      ASSERT_TRUE(pool_->AddPv(absl::StrCat("pv", i), 40 + Below(200)).ok());
    }
    initial_ = FreeRuns(*pool_);
  }

  uint64_t Below(uint64_t bound) { return rng_() % bound; }

  // No physical extent in two volumes; the pool's free runs are exactly the
  // extents no volume maps (so free + used == total per pv); every volume
  // is mapped over its whole size.
  void CheckInvariants() {
    const Pool& pool = *pool_;
    std::vector<std::vector<int>> owner(pool.pv_count());
    for (uint32_t pv = 0; pv < pool.pv_count(); ++pv) {
      owner[pv].assign(pool.pv_space(pv).extent_count(), -1);
    }
    for (const auto& [id, map] : volumes_) {
      ASSERT_EQ(map.MappedCount(), map.size()) << "volume " << id << " has holes";
      for (uint64_t vext = 0; vext < map.size(); ++vext) {
        const Location where = *map.Get(vext);
        ASSERT_LT(where.dev, pool.pv_count());
        ASSERT_LT(where.pext, owner[where.dev].size());
        int& held = owner[where.dev][where.pext];
        ASSERT_EQ(held, -1) << "pv " << where.dev << " extent " << where.pext
                            << " is in volumes " << held << " and " << id;
        held = id;
      }
    }
    for (uint32_t pv = 0; pv < pool.pv_count(); ++pv) {
      const FreeSpace& space = pool.pv_space(pv);
      std::vector<R> expected;
      uint64_t used = 0;
      for (uint64_t p = 0; p < owner[pv].size(); ++p) {
        if (owner[pv][p] != -1) {
          ++used;
        } else if (!expected.empty() && expected.back().end() == p) {
          ++expected.back().count;
        } else {
          expected.push_back(R{p, 1});
        }
      }
      ASSERT_EQ(space.FreeRuns(), expected) << "pv " << pv;
      ASSERT_EQ(space.FreeCount() + used, space.extent_count()) << "pv " << pv;
      ASSERT_EQ(space.UsedCount(), used);
    }
  }

  // The shortest free run of at least `count` over all pvs, if any.
  std::optional<uint64_t> BestFitLength(uint64_t count) const {
    std::optional<uint64_t> best;
    for (uint32_t pv = 0; pv < pool_->pv_count(); ++pv) {
      for (const R& run : pool_->pv_space(pv).FreeRuns()) {
        if (run.count >= count && (!best || run.count < *best)) best = run.count;
      }
    }
    return best;
  }

  // The fewest free runs whose lengths add up to `count`.
  size_t FewestRuns(uint64_t count) const {
    std::vector<uint64_t> lengths;
    for (uint32_t pv = 0; pv < pool_->pv_count(); ++pv) {
      for (const R& run : pool_->pv_space(pv).FreeRuns()) lengths.push_back(run.count);
    }
    std::sort(lengths.rbegin(), lengths.rend());
    uint64_t sum = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      sum += lengths[i];
      if (sum >= count) return i + 1;
    }
    return SIZE_MAX;
  }

  Placement RandomPlacement() {
    return Below(5) == 0 ? Placement::kContiguous : Placement::kNormal;
  }

  void Create() {
    // Mostly small volumes, sometimes one too large for the free space.
    const uint64_t count = 1 + Below(Below(8) == 0 ? pool_->TotalExtents() / 2 + 1 : 40);
    const Placement placement = RandomPlacement();
    const std::optional<uint64_t> best = BestFitLength(count);
    const size_t fewest = FewestRuns(count);
    const auto before = FreeRuns(*pool_);
    const uint64_t free = pool_->FreeCount();
    absl::StatusOr<std::vector<cvol::Run>> runs = pool_->Allocate(count, 0, placement);
    if (count > free || (!best && placement == Placement::kContiguous)) {
      ASSERT_EQ(runs.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(FreeRuns(*pool_), before);
      return;
    }
    ASSERT_TRUE(runs.ok()) << runs.status();
    if (best.has_value()) {
      // Contiguous first, from the start of the shortest run that fits.
      ASSERT_EQ(runs->size(), 1u);
      const cvol::Run& run = runs->front();
      const std::vector<R>& was = before[run.dev];
      auto source =
          std::find_if(was.begin(), was.end(), [&](const R& r) { return r.start == run.pext; });
      ASSERT_NE(source, was.end());
      ASSERT_EQ(source->count, *best);
    } else {
      ASSERT_EQ(runs->size(), fewest);
    }
    absl::StatusOr<ExtentMap> map = ExtentMap::FromRuns(count, *runs);
    ASSERT_TRUE(map.ok()) << map.status();
    volumes_.emplace(next_id_++, *std::move(map));
  }

  void Grow(int id) {
    ExtentMap& map = volumes_.at(id);
    const uint64_t extra = 1 + Below(30);
    const Placement placement = RandomPlacement();
    const std::vector<cvol::Run> volume = map.ToRuns();
    const cvol::Run last = volume.back();  // ToRuns() is in vext order
    const std::optional<R> after = pool_->pv_space(last.dev).FreeRunAt(last.pext + last.count);
    const bool in_place = after.has_value() && after->end() - (last.pext + last.count) >= extra;
    const std::optional<uint64_t> best = BestFitLength(extra);
    const auto before = FreeRuns(*pool_);
    const uint64_t free = pool_->FreeCount();
    absl::StatusOr<std::vector<cvol::Run>> added = pool_->Grow(volume, extra, placement);
    if (extra > free || (!in_place && !best && placement == Placement::kContiguous)) {
      ASSERT_EQ(added.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(FreeRuns(*pool_), before);
      return;
    }
    ASSERT_TRUE(added.ok()) << added.status();
    std::vector<cvol::Run> all = volume;
    all.insert(all.end(), added->begin(), added->end());
    absl::StatusOr<ExtentMap> grown = ExtentMap::FromRuns(map.size() + extra, all);
    ASSERT_TRUE(grown.ok()) << grown.status();
    const std::vector<cvol::Run> runs = grown->ToRuns();
    if (in_place) {
      ASSERT_EQ(runs.size(), volume.size()) << "not grown in place";
    } else if (best.has_value()) {
      ASSERT_LE(runs.size(), volume.size() + 1);
    }
    if (placement == Placement::kContiguous) { ASSERT_EQ(added->size(), 1u); }
    map = *std::move(grown);
  }

  void Remove(int id) {
    ASSERT_TRUE(pool_->Free(volumes_.at(id).ToRuns()).ok());
    volumes_.erase(id);
  }

  // A migration: a destination extent, the map switched to it, the source
  // freed.
  void Migrate(int id) {
    ExtentMap& map = volumes_.at(id);
    const uint64_t vext = Below(map.size());
    const Location source = *map.Get(vext);
    const uint64_t kind = Below(3);
    const PvHint hint = kind == 0 ? PvHint::kAny : kind == 1 ? PvHint::kPrefer : PvHint::kExclude;
    const uint32_t pv = hint == PvHint::kExclude
                            ? source.dev
                            : static_cast<uint32_t>(Below(pool_->pv_count()));
    const uint64_t free_elsewhere = pool_->FreeCount() - pool_->pv_space(pv).FreeCount();
    const bool preferred_has_room = pool_->pv_space(pv).FreeCount() > 0;
    const bool possible =
        hint == PvHint::kExclude ? free_elsewhere > 0 : pool_->FreeCount() > 0;
    const auto before = FreeRuns(*pool_);
    absl::StatusOr<Location> target = pool_->AllocateOne(hint, pv);
    if (!possible) {
      ASSERT_EQ(target.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(FreeRuns(*pool_), before);
      return;
    }
    ASSERT_TRUE(target.ok()) << target.status();
    if (hint == PvHint::kExclude) { ASSERT_NE(target->dev, pv); }
    if (hint == PvHint::kPrefer && preferred_has_room) { ASSERT_EQ(target->dev, pv); }
    if (hint == PvHint::kAny) {
      // From the shortest free run there was: migrations fill holes first.
      const std::vector<R>& was = before[target->dev];
      auto source_run = std::find_if(was.begin(), was.end(), [&](const R& r) {
        return r.start <= target->pext && target->pext < r.end();
      });
      ASSERT_NE(source_run, was.end());
      uint64_t shortest = UINT64_MAX;
      for (const auto& runs : before) {
        for (const R& r : runs) shortest = std::min(shortest, r.count);
      }
      ASSERT_EQ(source_run->count, shortest);
    }
    map.Set(vext, *target);
    ASSERT_TRUE(pool_->Free({cvol::Run{vext, source.dev, source.pext, 1}}).ok());
  }

  // Freeing an extent that is free, or reserving one in use, fails and
  // changes nothing.
  void DoubleFree() {
    const uint32_t pv = static_cast<uint32_t>(Below(pool_->pv_count()));
    const uint64_t pext = Below(pool_->pv_space(pv).extent_count());
    const auto before = FreeRuns(*pool_);
    const cvol::Run run{0, pv, pext, 1};
    if (pool_->pv_space(pv).IsFree(pext)) {
      ASSERT_EQ(pool_->Free({run}).code(), absl::StatusCode::kFailedPrecondition);
    } else {
      ASSERT_EQ(pool_->Reserve("intruder", {run}).code(), absl::StatusCode::kFailedPrecondition);
    }
    ASSERT_EQ(FreeRuns(*pool_), before);
  }

  // A daemon restart rebuilds exactly the free space it had; a run claimed
  // by two volumes is refused, naming both.
  void Restore() {
    const auto before = FreeRuns(*pool_);
    std::vector<VolumeRuns> all;
    for (const auto& [id, map] : volumes_) {
      all.push_back(VolumeRuns{absl::StrCat("vol", id), map.ToRuns()});
    }
    if (all.size() >= 2 && Below(2) == 0) {
      const size_t thief = Below(all.size());
      const size_t victim = (thief + 1 + Below(all.size() - 1)) % all.size();
      cvol::Run stolen = all[victim].runs[Below(all[victim].runs.size())];
      stolen.vext = uint64_t{1} << 20;  // past the thief's own extents
      all[thief].runs.push_back(stolen);
      absl::Status status = pool_->Restore(all);
      ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
      ASSERT_THAT(ErrorOf(status), HasSubstr(all[thief].name));
      ASSERT_THAT(ErrorOf(status), HasSubstr(all[victim].name));
      ASSERT_THAT(ErrorOf(status), HasSubstr("both map"));
    } else {
      ASSERT_TRUE(pool_->Restore(all).ok());
    }
    ASSERT_EQ(FreeRuns(*pool_), before);
  }

  int RandomVolume() {
    auto it = volumes_.begin();
    std::advance(it, Below(volumes_.size()));
    return it->first;
  }

  std::mt19937_64 rng_;
  std::optional<Pool> pool_;
  std::vector<std::vector<R>> initial_;
  std::map<int, ExtentMap> volumes_;
  int next_id_ = 0;
};

TEST_P(PoolRandomTest, InvariantsHoldAfterEveryStep) {
  for (int step = 0; step < 3000; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const uint64_t dice = Below(100);
    // Remove more often when the pool is nearly full, so that the run keeps
    // mixing allocations and frees instead of only failing.
    const bool crowded = pool_->FreeCount() * 5 < pool_->TotalExtents();
    if (volumes_.empty() || dice < (crowded ? 20 : 35)) {
      ASSERT_NO_FATAL_FAILURE(Create());
    } else if (dice < 55) {
      ASSERT_NO_FATAL_FAILURE(Grow(RandomVolume()));
    } else if (dice < (crowded ? 80 : 67)) {
      ASSERT_NO_FATAL_FAILURE(Remove(RandomVolume()));
    } else if (dice < 92) {
      ASSERT_NO_FATAL_FAILURE(Migrate(RandomVolume()));
    } else if (dice < 96) {
      ASSERT_NO_FATAL_FAILURE(DoubleFree());
    } else {
      ASSERT_NO_FATAL_FAILURE(Restore());
    }
    ASSERT_NO_FATAL_FAILURE(CheckInvariants());
  }
  // No leak: freeing every volume gives back the initial free space.
  while (!volumes_.empty()) ASSERT_NO_FATAL_FAILURE(Remove(volumes_.begin()->first));
  EXPECT_EQ(FreeRuns(*pool_), initial_);
  EXPECT_EQ(pool_->FreeCount(), pool_->TotalExtents());
}

INSTANTIATE_TEST_SUITE_P(Seeds, PoolRandomTest, ::testing::Values(1, 7, 99, 1234, 987654321));

}  // namespace
}  // namespace cvol::pool
