#include "cvol/status.h"

#include <ostream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/dm-cvol.h"
#include "test_util.h"

namespace cvol {

// Readable GoogleTest failures for migration entries (found by ADL).
void PrintTo(const MigrationStatus& m, std::ostream* os);
void PrintTo(const MigrationStatus& m, std::ostream* os) {
  *os << m.vext << ":" << MigrationStateName(m.state) << ":" << m.copied_regions << "/"
      << m.regions << ":" << m.errors;
}

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

TEST(TargetStatusTest, ParsesVersion1_1) {
  const char* line = "4 10/16 AW- 2 7:0:1:draining 8:4:2:drained 0 42 3 armed\n";
  for (StatusFormat format : {StatusFormat::kAny, StatusFormat::kV1_1, StatusFormat::kV1_2}) {
    absl::StatusOr<TargetStatus> status = TargetStatus::Parse(line, format);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->map_gen, 4u);
    ASSERT_TRUE(status->v1_1.has_value());
    EXPECT_THAT(status->v1_1->freezes,
                ElementsAre(FreezeStatus{7, 0, 1, FreezeState::kDraining},
                            FreezeStatus{8, 4, 2, FreezeState::kDrained}));
    EXPECT_THAT(status->v1_1->migrations, IsEmpty());
    EXPECT_EQ(status->v1_1->event_seq, 42u);
    EXPECT_EQ(status->v1_1->events_lost, 3u);
    EXPECT_EQ(status->v1_1->lease, LeaseState::kArmed);
    EXPECT_THAT(status->trailing_fields, IsEmpty());
  }
}

TEST(TargetStatusTest, ParsesVersion1_2) {
  const char* line =
      "4 10/16 AW- 2 7:0:1:draining 8:4:2:drained 1 3:copy:5/8:1 42 3 armed\n";
  for (StatusFormat format : {StatusFormat::kAny, StatusFormat::kV1_2}) {
    absl::StatusOr<TargetStatus> status = TargetStatus::Parse(line, format);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->map_gen, 4u);
    ASSERT_TRUE(status->v1_1.has_value());
    EXPECT_THAT(status->v1_1->freezes,
                ElementsAre(FreezeStatus{7, 0, 1, FreezeState::kDraining},
                            FreezeStatus{8, 4, 2, FreezeState::kDrained}));
    EXPECT_THAT(status->v1_1->migrations, ElementsAre(MigrationStatus{3, MigrationState::kCopy, 5, 8, 1}));
    EXPECT_EQ(status->v1_1->event_seq, 42u);
    EXPECT_EQ(status->v1_1->events_lost, 3u);
    EXPECT_EQ(status->v1_1->lease, LeaseState::kArmed);
    EXPECT_THAT(status->trailing_fields, IsEmpty());
  }
}

TEST(TargetStatusTest, ParsesEmptyVersion1_1Fields) {
  absl::StatusOr<TargetStatus> status =
      TargetStatus::Parse("0 0/4 A 0 0 0 0 none", StatusFormat::kV1_1);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->v1_1, StatusV1_1{});
  EXPECT_EQ(TargetStatus::Parse("0 0/4 A 0 0 9 1 fenced")->v1_1->lease, LeaseState::kFenced);
  EXPECT_EQ(TargetStatus::Parse("0 0/4 A 0 0 9 1 none")->v1_1->event_seq, 9u);
}

TEST(TargetStatusTest, KeepsFieldsAfterVersion1_1) {
  absl::StatusOr<TargetStatus> status =
      TargetStatus::Parse("0 0/4 A 0 0 5 0 none later:field 7", StatusFormat::kV1_1);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->v1_1->event_seq, 5u);
  EXPECT_THAT(status->trailing_fields, ElementsAre("later:field", "7"));
  // kAny also takes the 1.1 fields and keeps the rest.
  status = TargetStatus::Parse("0 0/4 A 0 0 5 0 none later:field 7");
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_TRUE(status->v1_1.has_value());
  EXPECT_THAT(status->trailing_fields, ElementsAre("later:field", "7"));
}

TEST(TargetStatusTest, Version1_0LinesHaveNoVersion1_1Fields) {
  for (StatusFormat format : {StatusFormat::kAny, StatusFormat::kV1_0}) {
    absl::StatusOr<TargetStatus> status = TargetStatus::Parse("3 10/16 AD-W", format);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_FALSE(status->v1_1.has_value());
    EXPECT_THAT(status->trailing_fields, IsEmpty());
  }
  // kV1_0 interprets nothing after the health characters.
  absl::StatusOr<TargetStatus> status =
      TargetStatus::Parse("3 10/16 A 0 0 5 0 none", StatusFormat::kV1_0);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->v1_1.has_value());
  EXPECT_THAT(status->trailing_fields, ElementsAre("0", "0", "5", "0", "none"));
  // kAny falls back to trailing fields when the words are no 1.1 fields.
  status = TargetStatus::Parse("3 10/16 A 0 0 5 0 maybe");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->v1_1.has_value());
  EXPECT_THAT(status->trailing_fields, ElementsAre("0", "0", "5", "0", "maybe"));
}

TEST(TargetStatusTest, RejectsMalformedVersion1_1Fields) {
  auto err = [](absl::string_view tail) {
    return ErrorOf(TargetStatus::Parse(absl::StrCat("1 4/16 AA ", tail), StatusFormat::kV1_1));
  };
  EXPECT_THAT(err(""), HasSubstr("missing number of freezes"));
  EXPECT_THAT(err("x"), HasSubstr("number of freezes \"x\""));
  EXPECT_THAT(err("1025 0 0 0 none"), HasSubstr("out of range (maximum 1024)"));
  EXPECT_THAT(err("9 1:0:1:drained 0 0 0 none"), HasSubstr("number of freezes 9: only 5 words"));
  EXPECT_THAT(err("3 1:0:1:drained 0 0 0 none"), HasSubstr("status freeze \"0\""));
  EXPECT_THAT(err("1"), HasSubstr("number of freezes 1: only 0 words"));
  // Freeze entries.
  EXPECT_THAT(err("1 1:0:1 0 0 0 none"), HasSubstr("state \"1\": expected draining or drained"));
  EXPECT_THAT(err("1 drained 0 0 0 none"), HasSubstr("expected <id>:<vext>:<count>"));
  EXPECT_THAT(err("1 1:0:1:frozen 0 0 0 none"), HasSubstr("state \"frozen\""));
  EXPECT_THAT(err("1 1:0:drained 0 0 0 none"), HasSubstr("expected <id>:<vext>:<count>"));
  EXPECT_THAT(err("1 1:0:1:1:drained 0 0 0 none"), HasSubstr("expected <id>:<vext>:<count>"));
  EXPECT_THAT(err("1 1:x:1:drained 0 0 0 none"), HasSubstr("vext \"x\""));
  EXPECT_THAT(err("1 1:0:0:drained 0 0 0 none"), HasSubstr("count must be at least 1"));
  EXPECT_THAT(err("1 1:15:2:drained 0 0 0 none"), HasSubstr("runs past the volume's 16 extents"));
  EXPECT_THAT(err("1 1:0:18446744073709551615:drained 0 0 0 none"), HasSubstr("runs past"));
  // Migration entries (ParsesMigrationEntries has more).
  EXPECT_THAT(err("0"), HasSubstr("missing number of migrations"));
  // A 1.1 target has no migrations; entries mean the caller has the
  // version wrong.
  EXPECT_THAT(err("0 1 3:copy:5/8:1 0 0 none"),
              HasSubstr("number of migrations 1: a target 1.1 status has none"));
  // Sequence and lease.
  EXPECT_THAT(err("0 0"), HasSubstr("missing event_seq"));
  EXPECT_THAT(err("0 0 5"), HasSubstr("missing events_lost"));
  EXPECT_THAT(err("0 0 5 0"), HasSubstr("missing lease state"));
  EXPECT_THAT(err("0 0 0x5 0 none"), HasSubstr("hex"));
  EXPECT_THAT(err("0 0 5 18446744073709551616 none"), HasSubstr("out of range"));
  EXPECT_THAT(err("0 0 5 0 held"), HasSubstr("lease state \"held\": expected none, armed or fenced"));
}

TEST(TargetStatusTest, FormatOfVersion) {
  EXPECT_EQ(StatusFormatOf(1, 0), StatusFormat::kV1_0);
  EXPECT_EQ(StatusFormatOf(1, 1), StatusFormat::kV1_1);
  EXPECT_EQ(StatusFormatOf(1, 2), StatusFormat::kV1_2);
  EXPECT_EQ(StatusFormatOf(1, 7), StatusFormat::kV1_2);
  EXPECT_EQ(StatusFormatOf(2, 0), StatusFormat::kAny);
  EXPECT_STREQ(FreezeStateName(FreezeState::kDrained), "drained");
  EXPECT_STREQ(LeaseStateName(LeaseState::kFenced), "fenced");
}

// --- Target 1.2: migration entries. ---

// The status of a 16-extent volume with `migrations` (the count and its
// entries) between a freeze and the event fields.
std::string Line1_2(absl::string_view migrations) {
  return absl::StrCat("5 12/16 AAW 1 9:2:1:drained ", migrations, " 77 0 none");
}

absl::StatusOr<TargetStatus> Parse1_2(absl::string_view migrations) {
  return TargetStatus::Parse(Line1_2(migrations), StatusFormat::kV1_2);
}

TEST(TargetStatusMigrationTest, NoMigrations) {
  absl::StatusOr<TargetStatus> status = Parse1_2("0");
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_TRUE(status->v1_1.has_value());
  EXPECT_THAT(status->v1_1->migrations, IsEmpty());
  EXPECT_THAT(status->v1_1->freezes, ElementsAre(FreezeStatus{9, 2, 1, FreezeState::kDrained}));
  EXPECT_EQ(status->v1_1->event_seq, 77u);
  EXPECT_THAT(status->trailing_fields, IsEmpty());
}

TEST(TargetStatusMigrationTest, OneMigration) {
  absl::StatusOr<TargetStatus> status = Parse1_2("1 15:start:0/64:0");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(status->v1_1->migrations,
              ElementsAre(MigrationStatus{15, MigrationState::kStart, 0, 64, 0}));
  EXPECT_EQ(status->v1_1->event_seq, 77u);
  EXPECT_EQ(status->v1_1->lease, LeaseState::kNone);
}

TEST(TargetStatusMigrationTest, SeveralMigrationsInEveryState) {
  absl::StatusOr<TargetStatus> status = Parse1_2(
      "5 0:start:0/8:0 1:copy:3/8:2 2:ready:8/8:0 3:failed:2/8:10 4:abort:8/8:1");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(status->v1_1->migrations,
              ElementsAre(MigrationStatus{0, MigrationState::kStart, 0, 8, 0},
                          MigrationStatus{1, MigrationState::kCopy, 3, 8, 2},
                          MigrationStatus{2, MigrationState::kReady, 8, 8, 0},
                          MigrationStatus{3, MigrationState::kFailed, 2, 8, 10},
                          MigrationStatus{4, MigrationState::kAbort, 8, 8, 1}));
  // The event fields after the entries are still read at their place.
  EXPECT_EQ(status->v1_1->event_seq, 77u);
  EXPECT_EQ(status->v1_1->events_lost, 0u);
  EXPECT_THAT(status->trailing_fields, IsEmpty());
}

TEST(TargetStatusMigrationTest, AsManyMigrationsAsTheCap) {
  std::string entries = absl::StrCat(CVOL_MAX_MIGRATIONS);
  for (int i = 0; i < CVOL_MAX_MIGRATIONS; ++i) {
    absl::StrAppend(&entries, " ", i, ":copy:", i % 9, "/8:0");
  }
  absl::StatusOr<TargetStatus> status = TargetStatus::Parse(
      absl::StrCat("0 64/64 A 0 ", entries, " 1 0 none"), StatusFormat::kV1_2);
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->v1_1->migrations.size(), size_t{CVOL_MAX_MIGRATIONS});
  EXPECT_EQ(status->v1_1->migrations[63], (MigrationStatus{63, MigrationState::kCopy, 0, 8, 0}));
  EXPECT_EQ(status->v1_1->event_seq, 1u);
}

TEST(TargetStatusMigrationTest, LargestValues) {
  absl::StatusOr<TargetStatus> status =
      Parse1_2("1 15:copy:18446744073709551615/18446744073709551615:18446744073709551615");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(status->v1_1->migrations,
              ElementsAre(MigrationStatus{15, MigrationState::kCopy, 18446744073709551615u,
                                          18446744073709551615u, 18446744073709551615u}));
}

TEST(TargetStatusMigrationTest, KeepsTrailingFieldsOfLaterVersions) {
  for (StatusFormat format : {StatusFormat::kAny, StatusFormat::kV1_2}) {
    absl::StatusOr<TargetStatus> status =
        TargetStatus::Parse(Line1_2("1 3:ready:4/4:0") + " later:field 7", format);
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_TRUE(status->v1_1.has_value());
    EXPECT_THAT(status->v1_1->migrations,
                ElementsAre(MigrationStatus{3, MigrationState::kReady, 4, 4, 0}));
    EXPECT_EQ(status->v1_1->lease, LeaseState::kNone);
    EXPECT_THAT(status->trailing_fields, ElementsAre("later:field", "7"));
  }
}

TEST(TargetStatusMigrationTest, AnyFallsBackOnABadEntry) {
  // kAny is for display: a line it cannot read as 1.1/1.2 fields keeps
  // every word after the health characters, and nothing half-parsed.
  absl::StatusOr<TargetStatus> status =
      TargetStatus::Parse(Line1_2("2 3:copy:1/4:0 4:moving:1/4:0"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->v1_1.has_value());
  EXPECT_THAT(status->trailing_fields,
              ElementsAre("1", "9:2:1:drained", "2", "3:copy:1/4:0", "4:moving:1/4:0", "77",
                          "0", "none"));
}

TEST(TargetStatusMigrationTest, RejectsMalformedEntries) {
  auto err = [](absl::string_view migrations) { return ErrorOf(Parse1_2(migrations)); };
  // Missing fields.
  EXPECT_THAT(err("1 3:copy:5/8"),
              HasSubstr("status migration \"3:copy:5/8\": expected "
                        "<vext>:<state>:<copied>/<regions>:<errors>"));
  EXPECT_THAT(err("1 3:copy:5:1"), HasSubstr("expected <vext>:<state>"));
  EXPECT_THAT(err("1 3:copy:/8:1"), HasSubstr("copied regions \"\": empty number"));
  EXPECT_THAT(err("1 3:copy:5/:1"), HasSubstr("regions \"\": empty number"));
  EXPECT_THAT(err("1 :copy:5/8:1"), HasSubstr("vext \"\": empty number"));
  EXPECT_THAT(err("1 3:copy:5/8:"), HasSubstr("errors \"\": empty number"));
  EXPECT_THAT(err("1 3:copy:5/8/9:1"), HasSubstr("expected <vext>:<state>"));
  EXPECT_THAT(err("1 3:copy:5/8:1:0"), HasSubstr("expected <vext>:<state>"));
  EXPECT_THAT(err("1 copy"), HasSubstr("expected <vext>:<state>"));
  // Fewer entries than the count says: refused before reading any.
  EXPECT_THAT(err("9 3:copy:5/8:1"), HasSubstr("number of migrations 9: only 4 words follow"));
  // One entry short: the next word is read as an entry and fails.
  EXPECT_THAT(err("2 3:copy:5/8:1"), HasSubstr("status migration \"77\""));
  // Bad state words.
  EXPECT_THAT(err("1 3::5/8:1"),
              HasSubstr("migration state \"\": expected start, copy, ready, failed or abort"));
  EXPECT_THAT(err("1 3:Copy:5/8:1"), HasSubstr("migration state \"Copy\""));
  EXPECT_THAT(err("1 3:copying:5/8:1"), HasSubstr("migration state \"copying\""));
  EXPECT_THAT(err("1 3:done:5/8:1"), HasSubstr("migration state \"done\""));
  EXPECT_THAT(err("1 3:draining:5/8:1"), HasSubstr("migration state \"draining\""));
  // Impossible progress.
  EXPECT_THAT(err("1 3:copy:9/8:1"), HasSubstr("more regions copied than exist"));
  EXPECT_THAT(err("1 3:copy:0/0:0"), HasSubstr("at least one region"));
  // Not decimal.
  EXPECT_THAT(err("1 3:copy:5/x:1"), HasSubstr("regions \"x\": not a decimal number"));
  EXPECT_THAT(err("1 3:copy:0x5/8:1"), HasSubstr("hex"));
  EXPECT_THAT(err("1 3:copy:5/8:-1"), HasSubstr("negative"));
  EXPECT_THAT(err("1 +3:copy:5/8:1"), HasSubstr("sign"));
  EXPECT_THAT(err("1 03:copy:5/8:1"), HasSubstr("leading zeros"));
  EXPECT_THAT(err("1 3:copy:5/8:1e3"), HasSubstr("not a decimal number"));
  // Overflow.
  EXPECT_THAT(err("1 3:copy:5/18446744073709551616:1"), HasSubstr("out of range"));
  EXPECT_THAT(err("1 3:copy:5/8:18446744073709551616"), HasSubstr("out of range"));
  EXPECT_THAT(err("1 18446744073709551616:copy:5/8:1"), HasSubstr("out of range"));
  EXPECT_THAT(err("18446744073709551616"), HasSubstr("number of migrations"));
  EXPECT_THAT(err("65"), HasSubstr("number of migrations \"65\": out of range (maximum 64)"));
  // Outside the volume, or twice the same extent.
  EXPECT_THAT(err("1 16:copy:5/8:1"), HasSubstr("vext beyond the volume's 16 extents"));
  EXPECT_THAT(err("2 3:copy:5/8:1 3:ready:8/8:0"), HasSubstr("a second migration of vext 3"));
  // A bad count.
  EXPECT_THAT(err("x"), HasSubstr("number of migrations \"x\""));
  EXPECT_THAT(err("-1"), HasSubstr("negative"));
}

TEST(TargetStatusMigrationTest, ErrorsLeaveNothingHalfParsed) {
  // The first entry is fine, the second is not: the result is an error,
  // not a status with one migration.
  absl::StatusOr<TargetStatus> status = Parse1_2("2 3:copy:5/8:1 4:copy:9/8:1");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(ErrorOf(status), HasSubstr("status migration \"4:copy:9/8:1\""));
}

TEST(TargetStatusMigrationTest, StateNames) {
  const std::pair<MigrationState, const char*> names[] = {
      {MigrationState::kStart, "start"},   {MigrationState::kCopy, "copy"},
      {MigrationState::kReady, "ready"},   {MigrationState::kFailed, "failed"},
      {MigrationState::kAbort, "abort"},
  };
  for (const auto& [state, name] : names) {
    EXPECT_STREQ(MigrationStateName(state), name);
    absl::StatusOr<MigrationState> parsed = ParseMigrationState(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_THAT(ErrorOf(ParseMigrationState("aborted")), HasSubstr("migration state \"aborted\""));
  EXPECT_THAT(ErrorOf(ParseMigrationState("")), HasSubstr("expected start, copy"));
}

}  // namespace
}  // namespace cvol
