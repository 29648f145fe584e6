#include "cvol/layout.h"

#include <set>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

LayoutSpec Spec(LayoutKind kind, uint64_t extents, std::vector<uint64_t> device_extents,
                uint64_t seed = 1, uint32_t unmapped_percent = 0) {
  return LayoutSpec{kind, extents, std::move(device_extents), seed, unmapped_percent};
}

TEST(LayoutTest, LinearFillsDevicesInOrder) {
  absl::StatusOr<ExtentMap> map = GenerateLayout(Spec(LayoutKind::kLinear, 10, {4, 0, 8}));
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->ToRuns(), ElementsAre(cvol::Run{0, 0, 0, 4}, cvol::Run{4, 2, 0, 6}));
}

TEST(LayoutTest, StripedRoundRobinsAndSkipsFullDevices) {
  absl::StatusOr<ExtentMap> map = GenerateLayout(Spec(LayoutKind::kStriped, 6, {1, 5}));
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->ToRuns(), ElementsAre(cvol::Run{0, 0, 0, 1}, cvol::Run{1, 1, 0, 5}));
  map = GenerateLayout(Spec(LayoutKind::kStriped, 4, {2, 0, 2}));
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->ToRuns(), ElementsAre(cvol::Run{0, 0, 0, 1}, cvol::Run{1, 2, 0, 1}, cvol::Run{2, 0, 1, 1},
                                         cvol::Run{3, 2, 1, 1}));
}

// Every layout maps distinct physical extents inside each device.
TEST(LayoutTest, AllKindsUseDistinctExtentsWithinCapacity) {
  for (LayoutKind kind : {LayoutKind::kLinear, LayoutKind::kStriped, LayoutKind::kRandom,
                          LayoutKind::kShuffled}) {
    for (uint32_t unmapped : {0u, 30u, 100u}) {
      const std::vector<uint64_t> capacity = {50, 0, 70, 20};
      absl::StatusOr<ExtentMap> map =
          GenerateLayout(Spec(kind, 100, capacity, 17, unmapped));
      ASSERT_TRUE(map.ok()) << map.status();
      EXPECT_EQ(map->MappedCount(), 100 - unmapped) << LayoutKindName(kind);
      std::set<std::pair<uint32_t, uint64_t>> used;
      for (uint64_t v = 0; v < map->size(); ++v) {
        if (std::optional<Location> loc = map->Get(v)) {
          ASSERT_LT(loc->dev, capacity.size());
          ASSERT_LT(loc->pext, capacity[loc->dev]) << LayoutKindName(kind);
          ASSERT_TRUE(used.insert({loc->dev, loc->pext}).second) << "shared physical extent";
        }
      }
    }
  }
}

TEST(LayoutTest, SeedMakesLayoutsReproducible) {
  for (LayoutKind kind : {LayoutKind::kRandom, LayoutKind::kShuffled}) {
    const ExtentMap a = *GenerateLayout(Spec(kind, 200, {300, 300}, 42, 10));
    const ExtentMap b = *GenerateLayout(Spec(kind, 200, {300, 300}, 42, 10));
    const ExtentMap c = *GenerateLayout(Spec(kind, 200, {300, 300}, 43, 10));
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
  }
}

TEST(LayoutTest, ShuffledUsesTheLinearExtents) {
  const ExtentMap linear = *GenerateLayout(Spec(LayoutKind::kLinear, 64, {40, 40}));
  const ExtentMap shuffled = *GenerateLayout(Spec(LayoutKind::kShuffled, 64, {40, 40}, 9));
  std::multiset<std::pair<uint32_t, uint64_t>> a, b;
  for (uint64_t v = 0; v < 64; ++v) {
    a.insert({linear.Get(v)->dev, linear.Get(v)->pext});
    b.insert({shuffled.Get(v)->dev, shuffled.Get(v)->pext});
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(linear, shuffled);
}

TEST(LayoutTest, RejectsImpossibleSpecs) {
  EXPECT_THAT(ErrorOf(GenerateLayout(Spec(LayoutKind::kLinear, 10, {4, 5}))),
              HasSubstr("the devices hold 9 extents but the layout maps 10"));
  EXPECT_THAT(ErrorOf(GenerateLayout(Spec(LayoutKind::kRandom, 10, {}))),
              HasSubstr("hold 0 extents"));
  EXPECT_THAT(ErrorOf(GenerateLayout(Spec(LayoutKind::kLinear, 10, {10}, 1, 101))),
              HasSubstr("above 100"));
  EXPECT_THAT(ErrorOf(ParseLayoutKind("diagonal")), HasSubstr("expected linear, striped"));
  EXPECT_EQ(*ParseLayoutKind("shuffled"), LayoutKind::kShuffled);
}

}  // namespace
}  // namespace cvol
