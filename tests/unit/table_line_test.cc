#include "cvol/table_line.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TableLineTest, ParsesMinimalLine) {
  absl::StatusOr<TableLine> line = TableLine::Parse("vol-1 2048 1 /dev/vdb 2048");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->vol_uuid, "vol-1");
  EXPECT_EQ(line->extent_sectors, 2048u);
  EXPECT_THAT(line->devices, ElementsAre(DeviceSlot{"/dev/vdb", 2048}));
  EXPECT_FALSE(line->map_gen.has_value());
  EXPECT_FALSE(line->map_runs.has_value());
  EXPECT_FALSE(line->unmapped_zero);
  EXPECT_FALSE(line->fenced);
}

TEST(TableLineTest, ParsesWhatTheKernelPrints) {
  // The example of docs/target.md.
  const std::string kernel =
      "vol-a 2048 2 7:0 2048 7:1 2048 6 map_gen 3 map_runs 2 0:0:0:6 6:1:4:4";
  absl::StatusOr<TableLine> line = TableLine::Parse(kernel);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->map_gen, 3u);
  EXPECT_THAT(*line->map_runs, ElementsAre(cvol::Run{0, 0, 0, 6}, cvol::Run{6, 1, 4, 4}));
  EXPECT_EQ(line->Format(), kernel);
}

TEST(TableLineTest, ParsesAllFeaturesInAnyOrder) {
  absl::StatusOr<TableLine> line = TableLine::Parse(
      "v 16 3 /dev/a 0 - 0 8:16 8 11 unmapped_zero freeze_timeout_ms 500 fenced "
      "map_runs 1 0:2:0:4 region_sectors 8 map_gen 9\n");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->devices[1].is_empty());
  EXPECT_EQ(line->region_sectors, 8u);
  EXPECT_EQ(line->freeze_timeout_ms, 500u);
  EXPECT_TRUE(line->unmapped_zero);
  EXPECT_TRUE(line->fenced);
  // Canonical order: map_gen, map_runs, region_sectors, freeze_timeout_ms,
  // unmapped_zero, fenced.
  EXPECT_EQ(line->Format(),
            "v 16 3 /dev/a 0 - 0 8:16 8 11 map_gen 9 map_runs 1 0:2:0:4 "
            "region_sectors 8 freeze_timeout_ms 500 unmapped_zero fenced");
}

TEST(TableLineTest, ZeroFeatureArgsAndEmptyRunsAreKept) {
  absl::StatusOr<TableLine> line = TableLine::Parse("v 8 1 /dev/a 0 0");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->Format(), "v 8 1 /dev/a 0");

  line = TableLine::Parse("v 8 1 /dev/a 0 3 map_runs 0 unmapped_zero");
  ASSERT_TRUE(line.ok()) << line.status();
  ASSERT_TRUE(line->map_runs.has_value());
  EXPECT_TRUE(line->map_runs->empty());
  EXPECT_EQ(line->Format(), "v 8 1 /dev/a 0 3 map_runs 0 unmapped_zero");
}

TEST(TableLineTest, FormatThenParseRoundTrips) {
  TableLine line;
  line.vol_uuid = "Vol_2.x";
  line.extent_sectors = 8192;
  line.devices = {DeviceSlot{"/dev/mapper/pv0", 2048}, DeviceSlot{std::nullopt, 0},
                  DeviceSlot{"253:7", 4096}};
  line.map_gen = 18446744073709551615u;
  line.map_runs = std::vector<cvol::Run>{{0, 2, 100, 10}, {10, 0, 0, 1}, {20, 2, 0, 5}};
  line.region_sectors = 2048;
  line.freeze_timeout_ms = 3600000;
  line.unmapped_zero = true;
  line.fenced = true;
  absl::StatusOr<TableLine> back = TableLine::Parse(line.Format());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, line);
}

TEST(TableLineTest, RoundTripsEachFeatureAlone) {
  for (const char* params : {
           "v 8 1 /dev/a 0",
           "v 8 1 /dev/a 0 2 map_gen 0",
           "v 8 1 /dev/a 0 3 map_runs 1 0:0:0:1",
           "v 8 1 /dev/a 0 2 region_sectors 8",
           "v 8 1 /dev/a 0 2 freeze_timeout_ms 1",
           "v 8 1 /dev/a 0 1 unmapped_zero",
           "v 8 1 /dev/a 0 1 fenced",
           "v 1073741824 1 /dev/a 0",
       }) {
    absl::StatusOr<TableLine> line = TableLine::Parse(params);
    ASSERT_TRUE(line.ok()) << params << ": " << line.status();
    EXPECT_EQ(line->Format(), params);
  }
}

TEST(TableLineTest, AcceptsMaximumSizes) {
  std::string params = "v 8 4096";
  for (int i = 0; i < 4096; ++i) params += " /dev/x 0";
  params += " 3 map_runs 1 0:4095:0:1";
  EXPECT_TRUE(TableLine::Parse(params).ok()) << ErrorOf(TableLine::Parse(params));
  EXPECT_TRUE(TableLine::Parse("v 8 1 /dev/a 0 3 map_runs 1 0:0:1099511627775:1").ok());
  EXPECT_TRUE(TableLine::Parse("v 8 1 /dev/a 0 3 map_runs 1 134217727:0:0:1").ok());
  EXPECT_TRUE(TableLine::Parse(std::string("v") + std::string(63, 'u') + " 8 1 /dev/a 0").ok());
}

struct Malformed {
  const char* params;
  const char* error;  // a substring of the expected message
};

class TableLineMalformedTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(TableLineMalformedTest, IsRejectedWithClearError) {
  absl::StatusOr<TableLine> line = TableLine::Parse(GetParam().params);
  ASSERT_FALSE(line.ok()) << "accepted: " << GetParam().params;
  SCOPED_TRACE(GetParam().params);
  EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(line.status().message()), HasSubstr(GetParam().error));
}

const Malformed kMalformed[] = {
    // Missing words.
    {"", "missing vol_uuid"},
    {"v", "missing extent_sectors"},
    {"v 8", "missing #devs"},
    {"v 8 1", "missing device 0 path"},
    {"v 8 1 /dev/a", "missing device 0 offset"},
    {"v 8 2 /dev/a 0 /dev/b", "missing device 1 offset"},
    // Bad numbers.
    {"v 0x8 1 /dev/a 0", "extent_sectors \"0x8\": hex is not accepted"},
    {"v -8 1 /dev/a 0", "extent_sectors \"-8\": negative"},
    {"v +8 1 /dev/a 0", "extent_sectors \"+8\": a sign"},
    {"v 8a 1 /dev/a 0", "extent_sectors \"8a\": not a decimal number"},
    {"v 008 1 /dev/a 0", "extent_sectors \"008\": leading zeros"},
    {"v 18446744073709551616 1 /dev/a 0", "extent_sectors \"18446744073709551616\": out of range"},
    {"v 8 1 /dev/a 8s", "device 0 offset \"8s\": not a decimal"},
    {"v 8 1 /dev/a 0 2 map_gen 18446744073709551616", "map_gen \"18446744073709551616\": out of range"},
    {"v 8 1 /dev/a 0 2 map_gen x", "map_gen \"x\": not a decimal"},
    {"v 8 1 /dev/a 0 -1", "#feature_args \"-1\": negative"},
    // Values out of the ABI's limits.
    {"v 0 1 /dev/a 0", "extent_sectors \"0\": must be a multiple of 8"},
    {"v 12 1 /dev/a 0", "extent_sectors \"12\": must be a multiple of 8"},
    {"v 2147483648 1 /dev/a 0", "extent_sectors \"2147483648\""},
    {"v 8 0", "#devs \"0\": must be 1 to 4096"},
    {"v 8 4097 /dev/a 0", "#devs \"4097\": out of range (maximum 4096)"},
    {"v 8 1 /dev/a 3", "device 0 offset \"3\": must be a multiple of 8"},
    {"v 8 1 - 8", "an empty slot must have offset 0"},
    {"bad/uuid 8 1 /dev/a 0", "vol_uuid \"bad/uuid\": only letters"},
    {"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu 8 1 /dev/a 0",
     "must be 1 to 64 characters"},
    {"v 8 1 /dev/a 0 2 region_sectors 0", "region_sectors \"0\": must divide"},
    {"v 16 1 /dev/a 0 2 region_sectors 3", "region_sectors \"3\": must divide extent_sectors (16)"},
    {"v 8 1 /dev/a 0 2 freeze_timeout_ms 0", "freeze_timeout_ms \"0\""},
    {"v 8 1 /dev/a 0 2 freeze_timeout_ms 3600001", "freeze_timeout_ms \"3600001\""},
    // Feature list structure.
    {"v 8 1 /dev/a 0 1", "#feature_args is 1 but 0 words follow"},
    {"v 8 1 /dev/a 0 2 unmapped_zero", "#feature_args is 2 but 1 words follow"},
    {"v 8 1 /dev/a 0 1 unmapped_zero junk", "#feature_args is 1 but 2 words follow"},
    {"v 8 1 /dev/a 0 0 map_gen 1", "#feature_args is 0 but 2 words follow"},
    {"v 8 1 /dev/a 0 2 unmapped_zero unmapped_zero", "feature \"unmapped_zero\" given twice"},
    {"v 8 1 /dev/a 0 2 fenced fenced", "feature \"fenced\" given twice"},
    {"v 8 1 /dev/a 0 4 fenced map_gen 1 fenced", "feature \"fenced\" given twice"},
    {"v 8 1 /dev/a 0 1 FENCED", "unknown feature \"FENCED\""},
    {"v 8 1 /dev/a 0 2 fenced 1", "unknown feature \"1\""},
    {"v 8 1 /dev/a 0 4 map_gen 1 map_gen 2", "feature \"map_gen\" given twice"},
    {"v 8 1 /dev/a 0 4 map_runs 0 map_runs 0", "feature \"map_runs\" given twice"},
    {"v 8 1 /dev/a 0 4 region_sectors 8 region_sectors 8", "given twice"},
    {"v 8 1 /dev/a 0 1 frobnicate", "unknown feature \"frobnicate\""},
    {"v 8 1 /dev/a 0 1 MAP_GEN", "unknown feature \"MAP_GEN\""},
    {"v 8 1 /dev/a 0 1 map_gen", "missing map_gen"},
    {"v 8 1 /dev/a 0 1 map_runs", "missing map_runs <#runs>"},
    // Runs.
    {"v 8 1 /dev/a 0 2 map_runs 1", "map_runs <#runs> is 1 but only 0 words follow"},
    {"v 8 1 /dev/a 0 3 map_runs 2 0:0:0:1", "map_runs <#runs> is 2 but only 1 words follow"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:0:0", "run \"0:0:0\": expected <vext>:<dev>:<pext>:<count>"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:0:0:1:5", "run \"0:0:0:1:5\": expected"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:0:0:", "run \"0:0:0:\": count \"\": empty number"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:0:0:0", "run \"0:0:0:0\": count must be at least 1"},
    {"v 8 1 /dev/a 0 3 map_runs 1 -1:0:0:1", "run \"-1:0:0:1\": vext \"-1\": negative"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0x1:0:0:1", "run \"0x1:0:0:1\": vext \"0x1\": hex"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:-:0:1", "run \"0:-:0:1\": dev \"-\""},
    {"v 8 1 /dev/a 0 3 map_runs 1 1:0:0:18446744073709551615",
     "runs past the end of the extent space"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:0:0:134217729", "past the maximum of 134217728 extents"},
    {"v 8 1 /dev/a 0 3 map_runs 1 134217728:0:0:1", "past the maximum of 134217728 extents"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:0:1099511627775:2", "physical extent beyond the maximum"},
    {"v 8 1 /dev/a 0 4 map_runs 2 0:0:0:4 3:0:10:2", "runs \"0:0:0:4\" and \"3:0:10:2\" overlap"},
    {"v 8 1 /dev/a 0 4 map_runs 2 5:0:10:2 0:0:0:6", "overlap"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:1:0:1", "run \"0:1:0:1\": device index 1 out of range (1 devices)"},
    {"v 8 1 /dev/a 0 3 map_runs 1 0:4294967296:0:1", "dev \"4294967296\": out of range"},
    {"v 8 2 /dev/a 0 - 0 3 map_runs 1 0:1:0:1", "run \"0:1:0:1\": device slot 1 is empty"},
    {"v 8 1 /dev/a 0 3 map_runs 1 unmapped_zero", "run \"unmapped_zero\": expected"},
};

INSTANTIATE_TEST_SUITE_P(Cases, TableLineMalformedTest, ::testing::ValuesIn(kMalformed));

// `fenced` takes no value and keeps its place among the other features.
TEST(TableLineTest, FencedRoundTripsWithTheMap) {
  absl::StatusOr<TableLine> line =
      TableLine::Parse("v 8 2 /dev/a 0 /dev/b 0 4 fenced map_runs 1 0:1:3:2");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->fenced);
  EXPECT_THAT(*line->map_runs, ElementsAre(cvol::Run{0, 1, 3, 2}));
  EXPECT_EQ(line->Format(), "v 8 2 /dev/a 0 /dev/b 0 4 map_runs 1 0:1:3:2 fenced");
  absl::StatusOr<TableLine> back = TableLine::Parse(line->Format());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *line);
  line->fenced = false;
  EXPECT_NE(*back, *line);
}

TEST(TableLineTest, ValidateCatchesHandBuiltMistakes) {
  TableLine line;
  line.vol_uuid = "v";
  line.extent_sectors = 8;
  line.devices = {DeviceSlot{"-", 0}};
  EXPECT_THAT(ErrorOf(line.Validate()), HasSubstr("must be a non-empty word"));
  line.devices = {DeviceSlot{"/dev/a b", 0}};
  EXPECT_THAT(ErrorOf(line.Validate()), HasSubstr("must be a non-empty word"));
  line.devices = {DeviceSlot{"/dev/a", 0}};
  EXPECT_EQ(ErrorOf(line.Validate()), "OK");
}

}  // namespace
}  // namespace cvol
