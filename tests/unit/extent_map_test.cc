#include "cvol/extent_map.h"

#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "random_map.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::cvol::testing::RandomMap;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ExtentMapTest, EmptyMapHasNoRuns) {
  ExtentMap map(10);
  EXPECT_EQ(map.size(), 10u);
  EXPECT_EQ(map.MappedCount(), 0u);
  EXPECT_THAT(map.ToRuns(), IsEmpty());
  EXPECT_EQ(map.Get(3), std::nullopt);
  EXPECT_EQ(map.Get(99), std::nullopt);
}

TEST(ExtentMapTest, RunsAreMaximal) {
  ExtentMap map(8);
  map.Set(0, Location{0, 5});
  map.Set(1, Location{0, 6});
  map.Set(2, Location{0, 7});
  map.Set(3, Location{1, 8});  // other device: new run
  map.Set(4, Location{1, 10});  // gap in pext: new run
  map.Set(6, Location{1, 12});  // hole before: new run
  map.Set(7, Location{1, 11});  // descending pext: new run
  EXPECT_THAT(map.ToRuns(), ElementsAre(cvol::Run{0, 0, 5, 3}, cvol::Run{3, 1, 8, 1}, cvol::Run{4, 1, 10, 1},
                                        cvol::Run{6, 1, 12, 1}, cvol::Run{7, 1, 11, 1}));
  EXPECT_EQ(map.MappedCount(), 7u);
}

TEST(ExtentMapTest, RunsDoNotWrapAroundPextSpace) {
  ExtentMap map(2);
  map.Set(0, Location{0, UINT64_MAX});
  map.Set(1, Location{0, 0});
  EXPECT_EQ(map.ToRuns().size(), 2u);
}

TEST(ExtentMapTest, FromRunsRejectsBadRuns) {
  EXPECT_THAT(ErrorOf(ExtentMap::FromRuns(4, {cvol::Run{2, 0, 0, 3}})),
              HasSubstr("outside the volume's 4 extents"));
  EXPECT_THAT(ErrorOf(ExtentMap::FromRuns(4, {cvol::Run{4, 0, 0, 1}})), HasSubstr("outside"));
  EXPECT_THAT(ErrorOf(ExtentMap::FromRuns(4, {cvol::Run{0, 0, 0, 0}})), HasSubstr("outside"));
  EXPECT_THAT(ErrorOf(ExtentMap::FromRuns(8, {cvol::Run{0, 0, 0, 3}, cvol::Run{2, 1, 0, 1}})),
              HasSubstr("overlap"));
  EXPECT_THAT(ErrorOf(ExtentMap::FromRuns(ExtentMap::kMaxExtents + 1, {})),
              HasSubstr("exceeds the maximum"));
}

TEST(ExtentMapTest, FromRunsAcceptsUnsortedAndNonMaximalRuns) {
  absl::StatusOr<ExtentMap> map =
      ExtentMap::FromRuns(6, {cvol::Run{3, 0, 3, 2}, cvol::Run{0, 0, 0, 3}});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->ToRuns(), ElementsAre(cvol::Run{0, 0, 0, 5}));
}

TEST(ExtentMapTest, ApplyIsAllOrNothing) {
  ExtentMap map(4);
  map.Set(0, Location{0, 0});
  const ExtentMap before = map;
  EXPECT_THAT(ErrorOf(map.Apply({MapSetItem{1, 1, Location{0, 1}},
                                 MapSetItem{3, 2, std::nullopt}})),
              HasSubstr("outside"));
  EXPECT_EQ(map, before);
  ASSERT_TRUE(map.Apply({MapSetItem{1, 3, Location{2, 7}}, MapSetItem{0, 1, std::nullopt}}).ok());
  EXPECT_THAT(map.ToRuns(), ElementsAre(cvol::Run{1, 2, 7, 3}));
}

TEST(ExtentMapTest, DiffOfEqualMapsIsEmpty) {
  std::mt19937_64 rng(7);
  const ExtentMap map = RandomMap(rng, 100, 3, 50);
  EXPECT_THAT(*Diff(map, map), IsEmpty());
}

TEST(ExtentMapTest, DiffEmitsMaximalItemsIncludingUnmaps) {
  ExtentMap from(6);
  ExtentMap to(6);
  for (uint64_t v = 0; v < 6; ++v) from.Set(v, Location{0, v});
  to.Set(0, Location{0, 0});       // unchanged
  to.Set(1, Location{1, 10});      // moved, together with 2
  to.Set(2, Location{1, 11});
  // 3 and 4 unmapped, 5 moved
  to.Set(5, Location{0, 3});
  EXPECT_THAT(*Diff(from, to),
              ElementsAre(MapSetItem{1, 2, Location{1, 10}}, MapSetItem{3, 2, std::nullopt},
                          MapSetItem{5, 1, Location{0, 3}}));
}

TEST(ExtentMapTest, DiffRejectsDifferentSizes) {
  EXPECT_THAT(ErrorOf(Diff(ExtentMap(3), ExtentMap(4))), HasSubstr("different sizes"));
}

// Property: runs are a lossless, maximal, ordered encoding of any map.
TEST(ExtentMapPropertyTest, RunsRoundTripAndAreMaximal) {
  std::mt19937_64 rng(12345);
  for (int iteration = 0; iteration < 300; ++iteration) {
    const uint64_t size = rng() % 200;
    const ExtentMap map = RandomMap(rng, size, 1 + rng() % 4, 1 + rng() % 64);
    const std::vector<cvol::Run> runs = map.ToRuns();

    absl::StatusOr<ExtentMap> back = ExtentMap::FromRuns(size, runs);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(*back, map) << "iteration " << iteration;

    uint64_t covered = 0;
    for (size_t i = 0; i < runs.size(); ++i) {
      ASSERT_GE(runs[i].count, 1u);
      covered += runs[i].count;
      if (i == 0) continue;
      const cvol::Run& a = runs[i - 1];
      const cvol::Run& b = runs[i];
      ASSERT_LE(a.vext + a.count, b.vext) << "runs out of order";
      const bool mergeable =
          a.vext + a.count == b.vext && a.dev == b.dev && a.pext + a.count == b.pext;
      ASSERT_FALSE(mergeable) << "runs " << a << " and " << b << " are not maximal";
    }
    ASSERT_EQ(covered, map.MappedCount());
  }
}

// Property: applying Diff(a, b) to a gives b, and the diff only touches
// extents that differ.
TEST(ExtentMapPropertyTest, ApplyDiffGivesTarget) {
  std::mt19937_64 rng(54321);
  for (int iteration = 0; iteration < 300; ++iteration) {
    const uint64_t size = rng() % 200;
    const uint32_t devs = 1 + rng() % 4;
    const uint64_t pexts = 1 + rng() % 64;
    const ExtentMap from = RandomMap(rng, size, devs, pexts);
    const ExtentMap to = RandomMap(rng, size, devs, pexts);

    absl::StatusOr<std::vector<MapSetItem>> items = Diff(from, to);
    ASSERT_TRUE(items.ok()) << items.status();
    ExtentMap applied = from;
    ASSERT_TRUE(applied.Apply(*items).ok());
    ASSERT_EQ(applied, to) << "iteration " << iteration;

    uint64_t previous_end = 0;
    for (const MapSetItem& item : *items) {
      ASSERT_GE(item.vext, previous_end) << "items overlap or are out of order";
      previous_end = item.vext + item.count;
      for (uint64_t v = item.vext; v < item.vext + item.count; ++v) {
        ASSERT_NE(from.Get(v), to.Get(v)) << "diff touches unchanged extent " << v;
      }
    }
  }
}

}  // namespace
}  // namespace cvol
