#include "cvol/dm_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

TEST(DmLineTest, ParsesAndFormats) {
  absl::StatusOr<DmLine> line = DmLine::Parse("0  2048 cvol vol 8\t1 /dev/a 0\n");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, (DmLine{0, 2048, "cvol", "vol 8 1 /dev/a 0"}));
  EXPECT_EQ(line->Format(), "0 2048 cvol vol 8 1 /dev/a 0");
}

TEST(DmLineTest, AcceptsDmsetupNamePrefix) {
  absl::StatusOr<DmLine> line = DmLine::Parse("vol1: 0 8 zero");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, (DmLine{0, 8, "zero", ""}));
  EXPECT_EQ(line->Format(), "0 8 zero");
}

TEST(DmLineTest, RejectsBadLines) {
  EXPECT_THAT(ErrorOf(DmLine::Parse("")), HasSubstr("missing start"));
  EXPECT_THAT(ErrorOf(DmLine::Parse("0 0 cvol x")), HasSubstr("at least 1"));
  EXPECT_THAT(ErrorOf(DmLine::Parse("0 8")), HasSubstr("missing target type"));
  EXPECT_THAT(ErrorOf(DmLine::Parse("0 0x8 zero")), HasSubstr("hex"));
}

}  // namespace
}  // namespace cvol
