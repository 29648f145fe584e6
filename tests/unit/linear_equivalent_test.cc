#include "cvol/linear_equivalent.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Equivalent(absl::string_view line) {
  absl::StatusOr<DmLine> dm = DmLine::Parse(line);
  EXPECT_TRUE(dm.ok()) << dm.status();
  absl::StatusOr<std::vector<DmLine>> segments = LinearEquivalent(*dm);
  EXPECT_TRUE(segments.ok()) << segments.status();
  std::vector<std::string> out;
  if (segments.ok()) {
    for (const DmLine& segment : *segments) out.push_back(segment.Format());
  }
  return out;
}

TEST(LinearEquivalentTest, OneSegmentPerRunAndErrorHoles) {
  EXPECT_THAT(
      Equivalent("0 64 cvol v 8 2 /dev/a 2048 7:0 0 "
                 "4 map_runs 2 1:1:5:2 4:0:0:3"),
      ElementsAre("0 8 error", "8 16 linear 7:0 40", "24 8 error", "32 24 linear /dev/a 2048",
                  "56 8 error"));
}

TEST(LinearEquivalentTest, ZeroHolesStartOffsetAndPartialLastExtent) {
  EXPECT_THAT(Equivalent("100 20 cvol v 8 1 /dev/a 0 4 map_runs 1 2:0:3:1 unmapped_zero"),
              ElementsAre("100 16 zero", "116 4 linear /dev/a 24"));
}

TEST(LinearEquivalentTest, MergesRunsThatAreContiguous) {
  EXPECT_THAT(Equivalent("0 16 cvol v 8 1 /dev/a 0 4 map_runs 2 0:0:0:1 1:0:1:1"),
              ElementsAre("0 16 linear /dev/a 0"));
}

TEST(LinearEquivalentTest, UnmappedVolumeIsOneHole) {
  EXPECT_THAT(Equivalent("0 80 cvol v 8 1 /dev/a 0"), ElementsAre("0 80 error"));
}

TEST(LinearEquivalentTest, RejectsBadInput) {
  EXPECT_THAT(ErrorOf(LinearEquivalent(DmLine{0, 8, "linear", "/dev/a 0"})),
              HasSubstr("expected cvol"));
  EXPECT_THAT(ErrorOf(LinearEquivalent(DmLine{0, 8, "cvol", "v 8 1 /dev/a 0 3 map_runs 1 1:0:0:1"})),
              HasSubstr("outside the volume's 1 extents"));
  EXPECT_THAT(ErrorOf(LinearEquivalent(DmLine{0, 8, "cvol", "v 8"})), HasSubstr("missing #devs"));
}

}  // namespace
}  // namespace cvol
