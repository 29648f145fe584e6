#include "cvol/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(TargetStatusTest, ParsesCurrentFormat) {
  absl::StatusOr<TargetStatus> status = TargetStatus::Parse("3 10/16 AD-W\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->map_gen, 3u);
  EXPECT_EQ(status->mapped_extents, 10u);
  EXPECT_EQ(status->total_extents, 16u);
  EXPECT_THAT(status->health,
              ElementsAre(DeviceHealth::kAlive, DeviceHealth::kIoErrors, DeviceHealth::kEmptySlot,
                          DeviceHealth::kDestinationWriteErrors));
  EXPECT_THAT(status->trailing_fields, IsEmpty());
}

TEST(TargetStatusTest, KeepsButIgnoresFieldsOfLaterVersions) {
  absl::StatusOr<TargetStatus> status =
      TargetStatus::Parse("0 0/4 A 1 12:copy:3/8:0 42 0 future:thing");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->total_extents, 4u);
  EXPECT_THAT(status->trailing_fields,
              ElementsAre("1", "12:copy:3/8:0", "42", "0", "future:thing"));
}

TEST(TargetStatusTest, RejectsMalformedStatus) {
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("")), HasSubstr("missing map_gen"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3")), HasSubstr("missing <mapped>/<total>"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 1/2")), HasSubstr("missing health"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("x 1/2 A")), HasSubstr("map_gen \"x\""));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 1-2 A")), HasSubstr("expected <mapped>/<total>"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 1/2/3 A")), HasSubstr("expected <mapped>/<total>"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 /2 A")), HasSubstr("mapped extents \"\""));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 1/0x2 A")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 3/2 A")), HasSubstr("more extents mapped"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 1/2 AxA")), HasSubstr("unknown character 'x'"));
  EXPECT_THAT(ErrorOf(TargetStatus::Parse("3 1/2 a")), HasSubstr("unknown character 'a'"));
}

}  // namespace
}  // namespace cvol
