#include "cvol/pool/free_space.h"

#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol::pool {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using R = ExtentRange;

TEST(FreeSpaceTest, NewDeviceIsOneFreeRun) {
  FreeSpace space(10);
  EXPECT_EQ(space.extent_count(), 10u);
  EXPECT_EQ(space.FreeCount(), 10u);
  EXPECT_EQ(space.UsedCount(), 0u);
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{0, 10}));
  EXPECT_EQ(space.LargestRun(), (R{0, 10}));
  EXPECT_TRUE(space.IsFree(9));
  EXPECT_FALSE(space.IsFree(10));
  EXPECT_TRUE(space.IsFree(R{0, 10}));
  EXPECT_FALSE(space.IsFree(R{0, 11}));
  EXPECT_FALSE(space.IsUsed(R{3, 1}));
}

TEST(FreeSpaceTest, EmptyDeviceHasNothing) {
  FreeSpace space(0);
  EXPECT_EQ(space.FreeCount(), 0u);
  EXPECT_EQ(space.LargestRun(), std::nullopt);
  EXPECT_EQ(space.BestFit(1), std::nullopt);
  EXPECT_THAT(space.FreeRuns(), IsEmpty());
}

TEST(FreeSpaceTest, CreateRefusesMoreExtentsThanTheKernelAddresses) {
  EXPECT_TRUE(FreeSpace::Create(FreeSpace::kMaxExtents).ok());
  EXPECT_THAT(ErrorOf(FreeSpace::Create(FreeSpace::kMaxExtents + 1)),
              HasSubstr("exceeds the maximum"));
}

TEST(FreeSpaceTest, AllocateSplitsARun) {
  FreeSpace space(10);
  ASSERT_TRUE(space.Allocate(R{3, 4}).ok());
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{0, 3}, R{7, 3}));
  EXPECT_EQ(space.FreeCount(), 6u);
  EXPECT_EQ(space.UsedCount(), 4u);
  EXPECT_TRUE(space.IsUsed(R{3, 4}));
  EXPECT_FALSE(space.IsUsed(R{2, 2}));
  EXPECT_FALSE(space.IsFree(R{2, 2}));
  EXPECT_FALSE(space.IsFree(5));
  // At either end: no empty runs left behind.
  ASSERT_TRUE(space.Allocate(R{0, 3}).ok());
  ASSERT_TRUE(space.Allocate(R{9, 1}).ok());
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{7, 2}));
}

TEST(FreeSpaceTest, FreeMergesWithNeighbours) {
  FreeSpace space(10);
  ASSERT_TRUE(space.Allocate(R{0, 10}).ok());
  EXPECT_THAT(space.FreeRuns(), IsEmpty());
  ASSERT_TRUE(space.Free(R{2, 2}).ok());
  ASSERT_TRUE(space.Free(R{6, 2}).ok());
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{2, 2}, R{6, 2}));
  ASSERT_TRUE(space.Free(R{4, 1}).ok());  // merges left only
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{2, 3}, R{6, 2}));
  ASSERT_TRUE(space.Free(R{8, 1}).ok());  // merges left (6-7)
  ASSERT_TRUE(space.Free(R{1, 1}).ok());  // merges right (2-4)
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{1, 4}, R{6, 3}));
  ASSERT_TRUE(space.Free(R{5, 1}).ok());  // merges both sides
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{1, 8}));
  ASSERT_TRUE(space.Free(std::vector<R>{R{0, 1}, R{9, 1}}).ok());
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{0, 10}));
  EXPECT_EQ(space.RunCount(), 1u);
}

TEST(FreeSpaceTest, AllocatingAnExtentInUseFailsAndChangesNothing) {
  FreeSpace space(10);
  ASSERT_TRUE(space.Allocate(R{4, 2}).ok());
  const std::vector<R> before = space.FreeRuns();
  absl::Status status = space.Allocate(R{2, 3});  // 2-4 reaches into 4
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ErrorOf(status), HasSubstr("cannot allocate extents 2-4: extent 4 is in use"));
  EXPECT_THAT(ErrorOf(space.Allocate(R{5, 1})), HasSubstr("extent 5 is in use"));
  EXPECT_EQ(space.FreeRuns(), before);
  EXPECT_EQ(space.FreeCount(), 8u);
}

TEST(FreeSpaceTest, FreeingAFreeExtentFailsAndChangesNothing) {
  FreeSpace space(10);
  ASSERT_TRUE(space.Allocate(R{0, 5}).ok());
  const std::vector<R> before = space.FreeRuns();
  absl::Status status = space.Free(R{3, 4});  // 5 and 6 are free
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ErrorOf(status), HasSubstr("cannot free extents 3-6: extent 5 is already free"));
  EXPECT_THAT(ErrorOf(space.Free(R{7, 1})), HasSubstr("extent 7 is already free"));
  EXPECT_EQ(space.FreeRuns(), before);
  // A used range with a free hole in the middle.
  ASSERT_TRUE(space.Free(R{2, 1}).ok());
  EXPECT_THAT(ErrorOf(space.Free(R{0, 5})), HasSubstr("extent 2 is already free"));
  EXPECT_EQ(space.FreeCount(), 6u);
}

TEST(FreeSpaceTest, OutOfRangeAndEmptyRangesFail) {
  FreeSpace space(10);
  for (const R& range : {R{10, 1}, R{8, 3}, R{5, UINT64_MAX}, R{UINT64_MAX, 1}}) {
    absl::Status allocate = space.Allocate(range);
    EXPECT_EQ(allocate.code(), absl::StatusCode::kOutOfRange) << range;
    EXPECT_THAT(ErrorOf(allocate), HasSubstr("outside the device's 10 extents"));
    EXPECT_EQ(space.Free(range).code(), absl::StatusCode::kOutOfRange) << range;
  }
  EXPECT_THAT(ErrorOf(space.Allocate(R{3, 0})), HasSubstr("empty range at extent 3"));
  EXPECT_THAT(ErrorOf(space.Free(R{3, 0})), HasSubstr("empty range"));
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{0, 10}));
}

TEST(FreeSpaceTest, MultiRangeChangesAreAllOrNothing) {
  FreeSpace space(20);
  ASSERT_TRUE(space.Allocate(R{10, 1}).ok());
  const std::vector<R> before = space.FreeRuns();
  // The first range is fine, the second is in use: neither is taken.
  EXPECT_THAT(ErrorOf(space.Allocate(std::vector<R>{R{0, 5}, R{9, 2}})),
              HasSubstr("extent 10 is in use"));
  EXPECT_THAT(ErrorOf(space.Allocate(std::vector<R>{R{0, 5}, R{15, 6}})),
              HasSubstr("outside"));
  // Overlapping ranges of one request would count an extent twice.
  EXPECT_THAT(ErrorOf(space.Allocate(std::vector<R>{R{5, 3}, R{0, 6}})),
              HasSubstr("extents 0-5 and 5-7 overlap"));
  EXPECT_EQ(space.FreeRuns(), before);

  ASSERT_TRUE(space.Allocate(std::vector<R>{R{0, 5}, R{12, 3}}).ok());
  const std::vector<R> allocated = space.FreeRuns();
  EXPECT_THAT(ErrorOf(space.Free(std::vector<R>{R{0, 5}, R{5, 1}})),
              HasSubstr("extent 5 is already free"));
  EXPECT_THAT(ErrorOf(space.Free(std::vector<R>{R{12, 3}, R{12, 1}})),
              HasSubstr("overlap"));
  EXPECT_EQ(space.FreeRuns(), allocated);
  EXPECT_TRUE(space.Free(std::vector<R>{R{0, 5}, R{12, 3}, R{10, 1}}).ok());
  EXPECT_THAT(space.FreeRuns(), ElementsAre(R{0, 20}));
}

TEST(FreeSpaceTest, CheckDoesNotChangeAnything) {
  FreeSpace space(10);
  EXPECT_TRUE(space.CheckAllocate(std::vector<R>{R{0, 4}}).ok());
  EXPECT_THAT(ErrorOf(space.CheckFree(std::vector<R>{R{0, 4}})), HasSubstr("already free"));
  EXPECT_EQ(space.FreeCount(), 10u);
}

TEST(FreeSpaceTest, BestFitIsTheShortestRunThatFitsLowestFirst) {
  FreeSpace space(40);
  // Free runs: 0-4 (5), 6-8 (3), 10-14 (5), 16-18 (3), 20-39 (20).
  ASSERT_TRUE(space.Allocate(std::vector<R>{R{5, 1}, R{9, 1}, R{15, 1}, R{19, 1}}).ok());
  EXPECT_EQ(space.BestFit(1), (R{6, 3}));
  EXPECT_EQ(space.BestFit(3), (R{6, 3}));
  EXPECT_EQ(space.BestFit(4), (R{0, 5}));
  EXPECT_EQ(space.BestFit(6), (R{20, 20}));
  EXPECT_EQ(space.BestFit(20), (R{20, 20}));
  EXPECT_EQ(space.BestFit(21), std::nullopt);
  EXPECT_EQ(space.LargestRun(), (R{20, 20}));
  ASSERT_TRUE(space.Allocate(R{25, 15}).ok());
  // 0-4, 10-14 and 20-24 are all 5 long: the lowest wins.
  EXPECT_EQ(space.LargestRun(), (R{0, 5}));
  EXPECT_EQ(space.BestFit(4), (R{0, 5}));
}

TEST(FreeSpaceTest, FreeRunAt) {
  FreeSpace space(10);
  ASSERT_TRUE(space.Allocate(R{4, 2}).ok());
  EXPECT_EQ(space.FreeRunAt(0), (R{0, 4}));
  EXPECT_EQ(space.FreeRunAt(3), (R{0, 4}));
  EXPECT_EQ(space.FreeRunAt(4), std::nullopt);
  EXPECT_EQ(space.FreeRunAt(6), (R{6, 4}));
  EXPECT_EQ(space.FreeRunAt(10), std::nullopt);
}

TEST(FreeSpaceTest, ToString) {
  EXPECT_EQ(ToString(R{7, 1}), "7");
  EXPECT_EQ(ToString(R{7, 3}), "7-9");
}

// Random allocations and frees against a bitmap: every query agrees with
// the bitmap, runs stay sorted, disjoint and maximal, and failed calls
// change nothing.
class FreeSpaceRandomTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(FreeSpaceRandomTest, AgreesWithABitmap) {
  constexpr uint64_t kExtents = 257;
  std::mt19937_64 rng(GetParam());
  FreeSpace space(kExtents);
  std::vector<bool> used(kExtents, false);
  for (int step = 0; step < 4000; ++step) {
    // Ranges that sometimes reach past the end.
    const uint64_t start = rng() % (kExtents + 4);
    const uint64_t count = 1 + rng() % 12;
    const R range{start, count};
    const bool inside = start < kExtents && count <= kExtents - start;
    bool all_free = inside, all_used = inside;
    for (uint64_t p = start; inside && p < start + count; ++p) {
      all_free = all_free && !used[p];
      all_used = all_used && used[p];
    }
    ASSERT_EQ(space.IsFree(range), all_free) << range;
    ASSERT_EQ(space.IsUsed(range), all_used) << range;
    const std::vector<R> before = space.FreeRuns();
    const bool allocate = rng() % 2 == 0;
    absl::Status status = allocate ? space.Allocate(range) : space.Free(range);
    ASSERT_EQ(status.ok(), allocate ? all_free : all_used) << step << " " << range << " "
                                                            << status;
    if (status.ok()) {
      for (uint64_t p = start; p < start + count; ++p) used[p] = allocate;
    } else {
      ASSERT_EQ(space.FreeRuns(), before);
    }
    // The runs are exactly the maximal free stretches of the bitmap.
    std::vector<R> expected;
    uint64_t free_count = 0;
    for (uint64_t p = 0; p < kExtents; ++p) {
      if (used[p]) continue;
      ++free_count;
      if (!expected.empty() && expected.back().end() == p) {
        ++expected.back().count;
      } else {
        expected.push_back(R{p, 1});
      }
    }
    ASSERT_EQ(space.FreeRuns(), expected) << "step " << step;
    ASSERT_EQ(space.FreeCount(), free_count);
    ASSERT_EQ(space.FreeCount() + space.UsedCount(), kExtents);
    std::optional<R> largest;
    for (const R& run : expected) {
      if (!largest || run.count > largest->count) largest = run;
    }
    ASSERT_EQ(space.LargestRun(), largest);
    const uint64_t want = 1 + rng() % 20;
    std::optional<R> best;
    for (const R& run : expected) {
      if (run.count >= want && (!best || run.count < best->count)) best = run;
    }
    ASSERT_EQ(space.BestFit(want), best) << want;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, FreeSpaceRandomTest, ::testing::Values(1, 2, 3, 42, 2024));

}  // namespace
}  // namespace cvol::pool
