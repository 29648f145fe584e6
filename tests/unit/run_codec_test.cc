#include "cvol/run_codec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

TEST(RunCodecTest, RunRoundTrips) {
  const cvol::Run run{7, 3, 100, 12};
  EXPECT_EQ(FormatRun(run), "7:3:100:12");
  EXPECT_EQ(*ParseRun("7:3:100:12"), run);
}

TEST(RunCodecTest, MapSetItemForms) {
  EXPECT_EQ(FormatMapSetItem(MapSetItem{5, 1, Location{2, 9}}), "5:2:9");
  EXPECT_EQ(FormatMapSetItem(MapSetItem{5, 4, Location{2, 9}}), "5:2:9:4");
  EXPECT_EQ(FormatMapSetItem(MapSetItem{5, 1, std::nullopt}), "5:-:0");
  EXPECT_EQ(FormatMapSetItem(MapSetItem{5, 3, std::nullopt}), "5:-:0:3");

  EXPECT_EQ(*ParseMapSetItem("5:2:9"), (MapSetItem{5, 1, Location{2, 9}}));
  EXPECT_EQ(*ParseMapSetItem("5:2:9:4"), (MapSetItem{5, 4, Location{2, 9}}));
  EXPECT_EQ(*ParseMapSetItem("5:-:0:3"), (MapSetItem{5, 3, std::nullopt}));
}

TEST(RunCodecTest, MapSetItemErrors) {
  EXPECT_THAT(ErrorOf(ParseMapSetItem("5:-:7")), HasSubstr("unmap item must have pext 0"));
  EXPECT_THAT(ErrorOf(ParseMapSetItem("5:2")), HasSubstr("expected <vext>:<dev>:<pext>"));
  EXPECT_THAT(ErrorOf(ParseMapSetItem("5:2:9:0")), HasSubstr("count must be at least 1"));
  EXPECT_THAT(ErrorOf(ParseMapSetItem("5:2:9:1:1")), HasSubstr("expected"));
  EXPECT_THAT(ErrorOf(ParseMapSetItem("5:x:9")), HasSubstr("dev \"x\""));
  EXPECT_THAT(ErrorOf(ParseMapSetItem("18446744073709551615:0:0:2")),
              HasSubstr("runs past the end"));
}

TEST(RunCodecTest, DisjointCheckNamesBothRuns) {
  EXPECT_TRUE(CheckRunsDisjoint({}).ok());
  EXPECT_TRUE(CheckRunsDisjoint({cvol::Run{4, 0, 0, 2}, cvol::Run{0, 0, 0, 4}}).ok());
  EXPECT_EQ(ErrorOf(CheckRunsDisjoint({cvol::Run{4, 0, 0, 2}, cvol::Run{0, 0, 0, 5}})),
            "runs \"0:0:0:5\" and \"4:0:0:2\" overlap");
  EXPECT_THAT(ErrorOf(CheckRunsDisjoint({cvol::Run{0, 0, 0, UINT64_MAX}, cvol::Run{UINT64_MAX - 1, 0, 0, 1}})),
              HasSubstr("overlap"));
}

}  // namespace
}  // namespace cvol
