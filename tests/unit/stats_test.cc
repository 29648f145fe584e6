#include "cvol/stats.h"

#include "cvol/colon_fields.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ColonFieldsTest, ParsesAndNamesFields) {
  EXPECT_THAT(*ParseColonFields("x", "1:2:3", {"a", "b", "c"}), ElementsAre(1u, 2u, 3u));
  EXPECT_THAT(ErrorOf(ParseColonFields("x", "1:2", {"a", "b", "c"})),
              HasSubstr("x \"1:2\": expected <a>:<b>:<c>"));
  EXPECT_THAT(ErrorOf(ParseColonFields("x", "1:y:3", {"a", "b", "c"})),
              HasSubstr("x \"1:y:3\": b \"y\": not a decimal number"));
  EXPECT_THAT(ErrorOf(ParseColonFields("x", "1::3", {"a", "b", "c"})), HasSubstr("empty number"));
}

TEST(StatsTest, Formats) {
  EXPECT_EQ(FormatStats(0, 100), "stats 0 100");
  EXPECT_EQ(FormatStats(5, 1, true), "stats 5 1 clear");
  EXPECT_EQ(FormatDevStats(), "dev_stats");
  EXPECT_EQ(FormatDevStats(true), "dev_stats clear");
}

TEST(StatsTest, ParsesStatsResponse) {
  absl::StatusOr<ExtentStatsResponse> r = ParseStatsResponse("1 0:1:2:8:16:1 7:0:5:0:40:4\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->extents_per_entry, 1u);
  EXPECT_THAT(r->entries,
              ElementsAre(ExtentStats{0, 1, 2, 8, 16, 1}, ExtentStats{7, 0, 5, 0, 40, 4}));

  r = ParseStatsResponse("1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->entries, IsEmpty());

  r = ParseStatsResponse("4 0:1:0:8:0:0 8:0:1:0:8:1 1024:18446744073709551615:0:0:0:0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->extents_per_entry, 4u);
  EXPECT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->entries[2].reads, 18446744073709551615u);
}

TEST(StatsTest, RejectsBadStatsResponse) {
  EXPECT_THAT(ErrorOf(ParseStatsResponse("")), HasSubstr("missing stats extents_per_entry"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("0")), HasSubstr("not a power of two"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("3 0:1:1:1:1:1")), HasSubstr("not a power of two"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("x")), HasSubstr("not a decimal number"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("0:1:1:1:1:1")), HasSubstr("not a decimal number"));
  // Wrong field counts.
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:1:1:1")),
              HasSubstr("expected <vext>:<reads>:<writes>:<read_sectors>:<write_sectors>:<seq_ios>"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:1:1:1:1:1")), HasSubstr("expected <vext>"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0")), HasSubstr("expected <vext>"));
  // Bad numbers inside an entry.
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:x:1:1:1")), HasSubstr("writes \"x\""));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:0x1:1:1:1")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:1:1:1:-1")), HasSubstr("negative"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:18446744073709551616:1:1:1:1")),
              HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:1:1:1:1x")), HasSubstr("not a decimal"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 0:1:1:1:1:1 junk")), HasSubstr("stats entry \"junk\""));
  // Order and alignment.
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 5:1:1:1:1:1 5:1:1:1:1:1")),
              HasSubstr("not above the previous"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("1 5:1:1:1:1:1 4:1:1:1:1:1")),
              HasSubstr("not above the previous"));
  EXPECT_THAT(ErrorOf(ParseStatsResponse("2 3:1:1:1:1:1")),
              HasSubstr("not a multiple of extents_per_entry 2"));
}

TEST(StatsTest, ParsesDevStatsResponse) {
  absl::StatusOr<std::vector<DeviceStats>> r =
      ParseDevStatsResponse("0:1:2:8:16:100:200:3:0 2:0:0:0:0:0:0:0:7\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre(DeviceStats{0, 1, 2, 8, 16, 100, 200, 3, 0},
                              DeviceStats{2, 0, 0, 0, 0, 0, 0, 0, 7}));
  EXPECT_THAT(*ParseDevStatsResponse(""), IsEmpty());
  EXPECT_EQ(ParseDevStatsResponse("4095:0:0:0:0:0:0:0:0")->at(0).slot, 4095u);
}

TEST(StatsTest, RejectsBadDevStatsResponse) {
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("0:1:2:8:16:100:200:3")),
              HasSubstr("expected <slot>:<reads>:<writes>:<read_sectors>:<write_sectors>:"
                        "<read_ns>:<write_ns>:<seq_ios>:<errors>"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("0:1:2:8:16:100:200:3:0:0")), HasSubstr("expected"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("0:1:2:8:16:1e3:200:3:0")),
              HasSubstr("read_ns \"1e3\": not a decimal number"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("4096:0:0:0:0:0:0:0:0")), HasSubstr("slot 4096 out of range"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("1:0:0:0:0:0:0:0:0 1:0:0:0:0:0:0:0:0")),
              HasSubstr("not above the previous"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("2:0:0:0:0:0:0:0:0 1:0:0:0:0:0:0:0:0")),
              HasSubstr("not above the previous"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("0:0:0:0:0:0:0:0:99999999999999999999")),
              HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(ParseDevStatsResponse("0:0:0:0:0:0:0:0:0 clear")), HasSubstr("\"clear\""));
}

}  // namespace
}  // namespace cvol
