#include "cvol/migrate_messages.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/messages.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/dm-cvol.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

// The text of a builder that must succeed, or a readable failure.
std::string TextOf(const absl::StatusOr<std::string>& text) {
  return text.ok() ? *text : absl::StrCat("ERROR: ", text.status().message());
}

TEST(MigrateMessagesTest, FormatsStartCommitAbort) {
  EXPECT_EQ(TextOf(FormatMigrateStart(3, Location{1, 600})), "migrate_start 3 1 600");
  EXPECT_EQ(TextOf(FormatMigrateStart(0, Location{0, 0})), "migrate_start 0 0 0");
  EXPECT_EQ(TextOf(FormatMigrateStart(CVOL_MAX_EXTENTS - 1,
                                      Location{CVOL_MAX_DEVS - 1, CVOL_MAX_PEXT})),
            "migrate_start 134217727 4095 1099511627775");
  EXPECT_EQ(TextOf(FormatMigrateCommit(7)), "migrate_commit 7");
  EXPECT_EQ(TextOf(FormatMigrateAbort(7)), "migrate_abort 7");
  EXPECT_EQ(TextOf(FormatMigrateCommit(CVOL_MAX_EXTENTS - 1)), "migrate_commit 134217727");
}

TEST(MigrateMessagesTest, RefusesOutOfRangeStartCommitAbort) {
  absl::StatusOr<std::string> s = FormatMigrateStart(CVOL_MAX_EXTENTS, Location{0, 0});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(ErrorOf(s), HasSubstr("migrate_start vext 134217728: out of range (0-134217727)"));
  EXPECT_THAT(ErrorOf(FormatMigrateStart(0, Location{CVOL_MAX_DEVS, 0})),
              HasSubstr("migrate_start dst_dev 4096: out of range (0-4095)"));
  EXPECT_THAT(ErrorOf(FormatMigrateStart(0, Location{0, CVOL_MAX_PEXT + 1})),
              HasSubstr("migrate_start dst_pext 1099511627776: out of range"));
  EXPECT_THAT(ErrorOf(FormatMigrateStart(18446744073709551615u, Location{0, 0})),
              HasSubstr("vext 18446744073709551615"));
  EXPECT_THAT(ErrorOf(FormatMigrateCommit(CVOL_MAX_EXTENTS)), HasSubstr("migrate_commit vext"));
  EXPECT_THAT(ErrorOf(FormatMigrateAbort(CVOL_MAX_EXTENTS)), HasSubstr("migrate_abort vext"));
}

TEST(MigrateMessagesTest, FormatsThrottle) {
  EXPECT_EQ(TextOf(FormatMigrateThrottle(16)), "migrate_throttle 16");
  EXPECT_EQ(TextOf(FormatMigrateThrottle(1, 1)), "migrate_throttle 1 1");
  EXPECT_EQ(TextOf(FormatMigrateThrottle(CVOL_MAX_COPY_REGIONS, CVOL_MAX_MIGRATIONS)),
            "migrate_throttle 1024 64");
  EXPECT_EQ(TextOf(FormatMigrateThrottle(32, 8)), "migrate_throttle 32 8");
}

TEST(MigrateMessagesTest, RefusesOutOfRangeThrottle) {
  absl::StatusOr<std::string> zero = FormatMigrateThrottle(0);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(ErrorOf(zero),
              HasSubstr("migrate_throttle regions_in_flight 0: out of range (1-1024)"));
  EXPECT_THAT(ErrorOf(FormatMigrateThrottle(1025)), HasSubstr("regions_in_flight 1025"));
  EXPECT_THAT(ErrorOf(FormatMigrateThrottle(18446744073709551615u)),
              HasSubstr("regions_in_flight 18446744073709551615"));
  EXPECT_THAT(ErrorOf(FormatMigrateThrottle(16, 0)),
              HasSubstr("migrate_throttle max_migrations 0: out of range (1-64)"));
  EXPECT_THAT(ErrorOf(FormatMigrateThrottle(16, 65)), HasSubstr("max_migrations 65"));
  // The first bad value is reported even when both are bad.
  EXPECT_THAT(ErrorOf(FormatMigrateThrottle(0, 0)), HasSubstr("regions_in_flight 0"));
}

TEST(MigrateMessagesTest, ParsesCommitResponse) {
  absl::StatusOr<uint64_t> gen = ParseMigrateCommitResponse("4");
  ASSERT_TRUE(gen.ok()) << gen.status();
  EXPECT_EQ(*gen, 4u);
  EXPECT_EQ(*ParseMigrateCommitResponse("18446744073709551615\n"), 18446744073709551615u);
  EXPECT_EQ(*ParseMigrateCommitResponse("0"), 0u);
}

TEST(MigrateMessagesTest, RejectsBadCommitResponse) {
  EXPECT_THAT(ErrorOf(ParseMigrateCommitResponse("")),
              HasSubstr("missing migrate_commit response generation"));
  EXPECT_THAT(ErrorOf(ParseMigrateCommitResponse("4 5")), HasSubstr("only the new generation"));
  EXPECT_THAT(ErrorOf(ParseMigrateCommitResponse("x")), HasSubstr("not a decimal number"));
  EXPECT_THAT(ErrorOf(ParseMigrateCommitResponse("0x4")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseMigrateCommitResponse("-4")), HasSubstr("negative"));
  EXPECT_THAT(ErrorOf(ParseMigrateCommitResponse("18446744073709551616")),
              HasSubstr("out of range"));
}

TEST(MigrateMessagesTest, ParsesThrottleResponse) {
  absl::StatusOr<MigrateThrottle> t = ParseMigrateThrottleResponse("16 8");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, (MigrateThrottle{16, 8}));
  EXPECT_EQ(*ParseMigrateThrottleResponse("1024 64\n"), (MigrateThrottle{1024, 64}));
  EXPECT_EQ(*ParseMigrateThrottleResponse("1 1"), (MigrateThrottle{1, 1}));
}

TEST(MigrateMessagesTest, RejectsBadThrottleResponse) {
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("")),
              HasSubstr("missing migrate_throttle response regions"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("16")),
              HasSubstr("missing migrate_throttle response migrations"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("16 8 1")),
              HasSubstr("only <regions> <migrations>"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("1025 8")),
              HasSubstr("out of range (maximum 1024)"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("16 65")),
              HasSubstr("out of range (maximum 64)"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("0 8")), HasSubstr("a bound of 0"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("16 0")), HasSubstr("a bound of 0"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("16:8")), HasSubstr("not a decimal"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("x 8")), HasSubstr("regions \"x\""));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("16 0x8")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseMigrateThrottleResponse("99999999999999999999 8")),
              HasSubstr("out of range"));
}

TEST(MigrateMessagesTest, StartAndAbortAnswerNothing) {
  EXPECT_TRUE(ParseEmptyResponse(CVOL_MSG_MIGRATE_START, "").ok());
  EXPECT_TRUE(ParseEmptyResponse(CVOL_MSG_MIGRATE_ABORT, "\n").ok());
  EXPECT_THAT(ErrorOf(ParseEmptyResponse(CVOL_MSG_MIGRATE_ABORT, "aborted")),
              HasSubstr("migrate_abort response \"aborted\": expected no response"));
}

TEST(MigrateMessagesTest, FormatsFollowStart) {
  EXPECT_EQ(TextOf(FormatMigrateStart(3, Location{1, 600}, MigrateMode::kFollow)),
            "migrate_start 3 1 600 follow");
  EXPECT_EQ(TextOf(FormatMigrateStart(3, Location{1, 600}, MigrateMode::kCopy)),
            "migrate_start 3 1 600");
  // Range checks come first, whatever the mode.
  EXPECT_THAT(ErrorOf(FormatMigrateStart(CVOL_MAX_EXTENTS, Location{0, 0}, MigrateMode::kFollow)),
              HasSubstr("migrate_start vext 134217728: out of range"));
  EXPECT_THAT(ErrorOf(FormatMigrateStart(0, Location{CVOL_MAX_DEVS, 0}, MigrateMode::kFollow)),
              HasSubstr("dst_dev 4096"));
}

TEST(MigrateMessagesTest, FormatsDirty) {
  EXPECT_EQ(TextOf(FormatMigrateDirty(7)), "migrate_dirty 7");
  EXPECT_EQ(TextOf(FormatMigrateDirty(7, true)), "migrate_dirty 7 clear");
  EXPECT_EQ(TextOf(FormatMigrateDirty(CVOL_MAX_EXTENTS - 1)), "migrate_dirty 134217727");
  absl::StatusOr<std::string> s = FormatMigrateDirty(CVOL_MAX_EXTENTS, true);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(ErrorOf(s), HasSubstr("migrate_dirty vext 134217728: out of range"));
}

TEST(MigrateMessagesTest, FormatMigrateRecopy) {
  EXPECT_EQ(TextOf(FormatMigrateRecopy(7, {DirtyRun{0, 1}, DirtyRun{3, 2}})),
            "migrate_recopy 7 0:1 3:2");
  EXPECT_EQ(TextOf(FormatMigrateRecopy(0, {DirtyRun{CVOL_MAX_REGIONS - 1, 1}})),
            "migrate_recopy 0 1048575:1");
  EXPECT_FALSE(FormatMigrateRecopy(7, {}).ok());
  EXPECT_FALSE(FormatMigrateRecopy(7, {DirtyRun{0, 0}}).ok());
  EXPECT_FALSE(FormatMigrateRecopy(7, {DirtyRun{CVOL_MAX_REGIONS - 1, 2}}).ok());
  EXPECT_FALSE(FormatMigrateRecopy(7, {DirtyRun{UINT32_MAX, 2}}).ok());
  EXPECT_FALSE(FormatMigrateRecopy(CVOL_MAX_EXTENTS, {DirtyRun{0, 1}}).ok());
}

TEST(MigrateMessagesTest, ParsesDirtyResponse) {
  absl::StatusOr<MigrateDirty> d = ParseMigrateDirtyResponse("128 16");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, (MigrateDirty{128, 16, {}}));
  d = ParseMigrateDirtyResponse("128 16 0:1 3:1 7:2\n");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, (MigrateDirty{128, 16, {{0, 1}, {3, 1}, {7, 2}}}));
  // The whole extent, and the last region alone.
  EXPECT_EQ(*ParseMigrateDirtyResponse("2048 1 0:1"), (MigrateDirty{2048, 1, {{0, 1}}}));
  EXPECT_EQ(*ParseMigrateDirtyResponse("8 1048576 0:1048576"),
            (MigrateDirty{8, CVOL_MAX_REGIONS, {{0, CVOL_MAX_REGIONS}}}));
  EXPECT_EQ(*ParseMigrateDirtyResponse("8 16 15:1"), (MigrateDirty{8, 16, {{15, 1}}}));
  EXPECT_EQ(*ParseMigrateDirtyResponse("8 16 0:1 2:1 4:12"),
            (MigrateDirty{8, 16, {{0, 1}, {2, 1}, {4, 12}}}));
}

TEST(MigrateMessagesTest, RejectsBadDirtyResponse) {
  auto err = [](absl::string_view text) { return ErrorOf(ParseMigrateDirtyResponse(text)); };
  EXPECT_THAT(err(""), HasSubstr("missing migrate_dirty response region_sectors"));
  EXPECT_THAT(err("128"), HasSubstr("missing migrate_dirty response nr_regions"));
  EXPECT_THAT(err("0 16"), HasSubstr("region_sectors is not a multiple of 8"));
  EXPECT_THAT(err("12 16"), HasSubstr("region_sectors is not a multiple of 8"));
  EXPECT_THAT(err("2147483648 16"), HasSubstr("out of range"));
  EXPECT_THAT(err("128 0"), HasSubstr("an extent of 0 regions"));
  EXPECT_THAT(err("128 1048577"), HasSubstr("out of range"));
  EXPECT_THAT(err("0x80 16"), HasSubstr("hex"));
  EXPECT_THAT(err("128 16 3"), HasSubstr("expected <first>:<count>"));
  EXPECT_THAT(err("128 16 3:1:1"), HasSubstr("expected <first>:<count>"));
  EXPECT_THAT(err("128 16 3:x"), HasSubstr("count \"x\""));
  EXPECT_THAT(err("128 16 -3:1"), HasSubstr("negative"));
  EXPECT_THAT(err("128 16 3:0"), HasSubstr("run 3:0 is empty"));
  EXPECT_THAT(err("128 16 16:1"), HasSubstr("run 16:1 goes beyond the 16 regions"));
  EXPECT_THAT(err("128 16 15:2"), HasSubstr("run 15:2 goes beyond"));
  EXPECT_THAT(err("128 16 0:18446744073709551615"), HasSubstr("goes beyond"));
  EXPECT_THAT(err("128 16 3:1 4:1"), HasSubstr("run 4:1 overlaps, touches or precedes"));
  EXPECT_THAT(err("128 16 3:2 4:1"), HasSubstr("run 4:1 overlaps"));
  EXPECT_THAT(err("128 16 7:1 3:1"), HasSubstr("run 3:1 overlaps"));
  EXPECT_THAT(err("128 16 3:1 3:1"), HasSubstr("run 3:1 overlaps"));
}

}  // namespace
}  // namespace cvol
