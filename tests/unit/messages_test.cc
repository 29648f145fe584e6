#include "cvol/messages.h"

#include <random>

#include "absl/strings/str_join.h"
#include "cvol/freeze_messages.h"
#include "cvol/migrate_messages.h"
#include "cvol/run_codec.h"
#include "linux/dm-cvol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(MessagesTest, FormatsMapSet) {
  EXPECT_EQ(FormatMapSet(3, {MapSetItem{0, 1, Location{1, 5}}, MapSetItem{1, 4, Location{0, 9}},
                             MapSetItem{5, 2, std::nullopt}}),
            "map_set 3 0:1:5 1:0:9:4 5:-:0:2");
  EXPECT_EQ(FormatMapSet(0, {}), "map_set 0");
}

TEST(MessagesTest, FormatsMapGet) { EXPECT_EQ(FormatMapGet(10, 200), "map_get 10 200"); }

TEST(MessagesTest, ParsesMapSetResponse) {
  EXPECT_EQ(*ParseMapSetResponse("7"), 7u);
  EXPECT_EQ(*ParseMapSetResponse("7\n"), 7u);
  EXPECT_THAT(ErrorOf(ParseMapSetResponse("")), HasSubstr("missing"));
  EXPECT_THAT(ErrorOf(ParseMapSetResponse("7 8")), HasSubstr("only the new generation"));
  EXPECT_THAT(ErrorOf(ParseMapSetResponse("0x7")), HasSubstr("hex"));
}

TEST(MessagesTest, ParsesMapGetResponse) {
  EXPECT_THAT(*ParseMapGetResponse(""), IsEmpty());
  EXPECT_THAT(*ParseMapGetResponse("\n"), IsEmpty());
  EXPECT_THAT(*ParseMapGetResponse("0:0:0:4 6:1:2:2\n"),
              ElementsAre(cvol::Run{0, 0, 0, 4}, cvol::Run{6, 1, 2, 2}));
  EXPECT_THAT(ErrorOf(ParseMapGetResponse("0:0:0:4 2:1:2:2")), HasSubstr("overlap"));
  EXPECT_THAT(ErrorOf(ParseMapGetResponse("0:0:0")), HasSubstr("expected"));
  EXPECT_THAT(ErrorOf(ParseMapGetResponse("0:0:0:0")), HasSubstr("count must be"));
}

TEST(MessagesTest, AppendsTheEpochWord) {
  EXPECT_EQ(*WithEpoch("map_set 3 0:1:5", 7), "map_set 3 0:1:5 epoch=7");
  EXPECT_EQ(*WithEpoch(FormatMigrateCommit(4).value(), CVOL_MAX_EPOCH),
            "migrate_commit 4 epoch=281474976710655");
  EXPECT_EQ(*WithEpoch(FormatThaw(2), 1), "thaw 2 epoch=1");
}

TEST(MessagesTest, NoEpochWordForEpochZero) {
  EXPECT_EQ(*WithEpoch(FormatFreeze(5, 1, 100), 0), "freeze 5 1 100");
}

TEST(MessagesTest, RefusesEpochsTheTargetRefuses) {
  EXPECT_THAT(ErrorOf(WithEpoch("thaw 1", CVOL_MAX_EPOCH + 1)), HasSubstr("beyond"));
  EXPECT_THAT(ErrorOf(WithEpoch("thaw 1", UINT64_MAX)), HasSubstr("beyond"));
}

std::vector<MapSetItem> RandomItems(std::mt19937_64& rng, size_t n) {
  std::vector<MapSetItem> items;
  uint64_t vext = 0;
  for (size_t i = 0; i < n; ++i) {
    vext += 1 + rng() % 1000000;
    const uint64_t count = 1 + (rng() % 4 == 0 ? rng() % 100000 : 0);
    std::optional<Location> target;
    if (rng() % 5 != 0) target = Location{static_cast<uint32_t>(rng() % 4096), rng() % (1ull << 40)};
    items.push_back(MapSetItem{vext, count, target});
    vext += count;
  }
  return items;
}

// The longest map_set of `batch`: the largest generation (and epoch).
std::string Longest(const std::vector<MapSetItem>& batch, bool epoch_word) {
  return *WithEpoch(FormatMapSet(UINT64_MAX, batch), epoch_word ? CVOL_MAX_EPOCH : 0);
}

// Property: batches keep order and content, and every message fits.
TEST(SplitMapSetTest, BatchesFitAndConcatenateToInput) {
  std::mt19937_64 rng(99);
  for (size_t max_bytes : {72ul, 80ul, 100ul, 1000ul, 4096ul, 65536ul}) {
    for (size_t max_items : {0ul, 1ul, 7ul}) {
      for (bool epoch_word : {false, true}) {
        if (epoch_word && max_bytes < 100) continue;  // too small for the word and an item
        const std::vector<MapSetItem> items = RandomItems(rng, 2000);
        MapSetLimits limits{max_bytes, max_items, epoch_word};
        absl::StatusOr<std::vector<std::vector<MapSetItem>>> batches = SplitMapSet(items, limits);
        ASSERT_TRUE(batches.ok()) << batches.status();
        std::vector<MapSetItem> joined;
        for (size_t b = 0; b < batches->size(); ++b) {
          const std::vector<MapSetItem>& batch = (*batches)[b];
          ASSERT_FALSE(batch.empty());
          // The worst case: the longest generation and the longest epoch.
          ASSERT_LE(Longest(batch, epoch_word).size(), max_bytes);
          if (max_items != 0) {
            ASSERT_LE(batch.size(), max_items);
          }
          // Not wasteful: the next batch's first item would not have fit.
          if (b + 1 < batches->size() && (max_items == 0 || batch.size() < max_items)) {
            std::vector<MapSetItem> grown = batch;
            grown.push_back((*batches)[b + 1].front());
            ASSERT_GT(Longest(grown, epoch_word).size(), max_bytes);
          }
          joined.insert(joined.end(), batch.begin(), batch.end());
        }
        ASSERT_EQ(joined, items);
      }
    }
  }
}

TEST(SplitMapSetTest, DefaultBoundIs64KiB) {
  std::mt19937_64 rng(5);
  const std::vector<MapSetItem> items = RandomItems(rng, 20000);
  absl::StatusOr<std::vector<std::vector<MapSetItem>>> batches = SplitMapSet(items);
  ASSERT_TRUE(batches.ok());
  EXPECT_GT(batches->size(), 1u);
  for (const auto& batch : *batches) EXPECT_LE(Longest(batch, false).size(), 65536u);
}

TEST(SplitMapSetTest, EmptyInputGivesNoMessages) {
  EXPECT_THAT(*SplitMapSet({}), IsEmpty());
}

TEST(SplitMapSetTest, RejectsLimitsTooSmallForOneItem) {
  const MapSetItem item{123456, 7, Location{1, 99}};
  EXPECT_THAT(ErrorOf(SplitMapSet({item}, MapSetLimits{30, 0})),
              HasSubstr("cannot hold item \"123456:1:99:7\""));
  // Fits without the epoch word, not with it.
  EXPECT_TRUE(SplitMapSet({item}, MapSetLimits{50, 0}).ok());
  EXPECT_THAT(ErrorOf(SplitMapSet({item}, MapSetLimits{50, 0, true})),
              HasSubstr("cannot hold item"));
}

}  // namespace
}  // namespace cvol
