// cvold's etcd records: JSON round trips, every malformed input refused as
// data loss (never an exception), and the volume record's shape checks.
#include "records.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_util.h"

// `cvol::Run` is spelled out: inside a test, plain `Run` is testing::Test::Run.
namespace cvol::daemon {
namespace {

using ::cvol::testing::ErrorOf;
using ::nlohmann::json;
using ::testing::HasSubstr;

PoolRecord SamplePool() {
  return PoolRecord{"tank", "0b9a5c1e-pool", 8192, 17, 1700000000123456789ULL};
}

PvRecord SamplePv() {
  return PvRecord{"5e2f-pv-uuid", "sdb", "tank", 3, 1000, 2048, 8194048};
}

VolumeRecord SampleVolume() {
  VolumeRecord v;
  v.pool = "tank";
  v.name = "vol1";
  v.uuid = "c0ffee-vol";
  v.extents = 10;
  v.generation = 4;
  v.segments = {Segment{0, 6}, Segment{6, 4}};
  v.runs = {cvol::Run{0, 0, 100, 6}, cvol::Run{6, 2, 0, 3}, cvol::Run{9, 0, 7, 1}};
  v.created_ns = 42;
  return v;
}

MoveRecord SampleMove(MoveRecord::Phase phase) {
  MoveRecord m;
  m.pool = "tank";
  m.volume = "vol1";
  m.volume_uuid = "c0ffee-vol";
  m.vext = 7;
  m.src = Location{2, 1};
  m.dst = Location{0, 500};
  m.phase = phase;
  m.started_ns = 99;
  return m;
}

// --- Round trips ---

TEST(RecordsTest, PoolRoundTrips) {
  const PoolRecord pool = SamplePool();
  absl::StatusOr<PoolRecord> decoded = DecodePool(EncodePool(pool));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, pool);
}

TEST(RecordsTest, PvRoundTrips) {
  const PvRecord pv = SamplePv();
  absl::StatusOr<PvRecord> decoded = DecodePv(EncodePv(pv));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, pv);
}

TEST(RecordsTest, VolumeRoundTrips) {
  const VolumeRecord volume = SampleVolume();
  absl::StatusOr<VolumeRecord> decoded = DecodeVolume(EncodeVolume(volume));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, volume);
}

TEST(RecordsTest, EmptyVolumeRoundTrips) {
  VolumeRecord volume;
  volume.pool = "tank";
  volume.name = "empty";
  absl::StatusOr<VolumeRecord> decoded = DecodeVolume(EncodeVolume(volume));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, volume);
}

TEST(RecordsTest, MoveRoundTripsInBothPhases) {
  for (MoveRecord::Phase phase : {MoveRecord::Phase::kCopying, MoveRecord::Phase::kCommitting}) {
    const MoveRecord move = SampleMove(phase);
    absl::StatusOr<MoveRecord> decoded = DecodeMove(EncodeMove(move));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, move) << PhaseName(phase);
  }
}

TEST(RecordsTest, LargestValuesRoundTrip) {
  constexpr uint64_t kMax = UINT64_MAX;
  PoolRecord pool{"p", "u", kMax, kMax, kMax};
  absl::StatusOr<PoolRecord> p = DecodePool(EncodePool(pool));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, pool);

  PvRecord pv{"u", "n", "p", UINT32_MAX, kMax, kMax, kMax};
  absl::StatusOr<PvRecord> v = DecodePv(EncodePv(pv));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, pv);

  MoveRecord move = SampleMove(MoveRecord::Phase::kCommitting);
  move.vext = kMax;
  move.src = Location{UINT32_MAX, kMax};
  absl::StatusOr<MoveRecord> m = DecodeMove(EncodeMove(move));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, move);
}

TEST(RecordsTest, PhaseNames) {
  EXPECT_EQ(PhaseName(MoveRecord::Phase::kCopying), "copying");
  EXPECT_EQ(PhaseName(MoveRecord::Phase::kCommitting), "committing");
}

TEST(RecordsTest, MoveReservesDstWhileCopyingAndSrcWhileCommitting) {
  EXPECT_EQ(SampleMove(MoveRecord::Phase::kCopying).reserved(), (Location{0, 500}));
  EXPECT_EQ(SampleMove(MoveRecord::Phase::kCommitting).reserved(), (Location{2, 1}));
}

TEST(RecordsTest, EncodingIsJsonWithTheDocumentedFields) {
  json j = json::parse(EncodeMove(SampleMove(MoveRecord::Phase::kCopying)));
  EXPECT_EQ(j.at("phase"), "copying");
  EXPECT_EQ(j.at("src"), json::array({2, 1}));
  EXPECT_EQ(j.at("dst"), json::array({0, 500}));
  json v = json::parse(EncodeVolume(SampleVolume()));
  EXPECT_EQ(v.at("segments"), json::parse("[[0,6],[6,4]]"));
  EXPECT_EQ(v.at("runs"), json::parse("[[0,0,100,6],[6,2,0,3],[9,0,7,1]]"));
}

// Decoders ignore fields they do not know (a newer cvold may add some).
TEST(RecordsTest, UnknownFieldsAreIgnored) {
  json j = json::parse(EncodePool(SamplePool()));
  j["future_field"] = "x";
  absl::StatusOr<PoolRecord> decoded = DecodePool(j.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, SamplePool());
}

// --- Malformed input: always kDataLoss, never an exception ---

// Every decoder, by record kind, applied to an arbitrary text.
enum class Kind { kPool, kPv, kVolume, kMove };

absl::Status DecodeAs(Kind kind, const std::string& text) {
  switch (kind) {
    case Kind::kPool:
      return DecodePool(text).status();
    case Kind::kPv:
      return DecodePv(text).status();
    case Kind::kVolume:
      return DecodeVolume(text).status();
    case Kind::kMove:
      return DecodeMove(text).status();
  }
  return absl::InternalError("unreachable");
}

std::string SampleText(Kind kind) {
  switch (kind) {
    case Kind::kPool:
      return EncodePool(SamplePool());
    case Kind::kPv:
      return EncodePv(SamplePv());
    case Kind::kVolume:
      return EncodeVolume(SampleVolume());
    case Kind::kMove:
      return EncodeMove(SampleMove(MoveRecord::Phase::kCopying));
  }
  return "";
}

const Kind kKinds[] = {Kind::kPool, Kind::kPv, Kind::kVolume, Kind::kMove};

TEST(RecordsMalformedTest, NotJsonIsDataLoss) {
  for (Kind kind : kKinds) {
    for (const std::string text : {"", "{", "not json", "{\"name\": }", "\xff\xfe",
                                   "{\"a\":1} trailing"}) {
      absl::Status s = DecodeAs(kind, text);
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
          << static_cast<int>(kind) << " '" << text << "': " << s;
      EXPECT_THAT(ErrorOf(s), HasSubstr("malformed"));
    }
  }
}

TEST(RecordsMalformedTest, JsonThatIsNotAnObjectIsDataLoss) {
  for (Kind kind : kKinds) {
    for (const std::string text : {"null", "[]", "[1,2,3]", "42", "\"text\"", "true", "{}"}) {
      absl::Status s = DecodeAs(kind, text);
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
          << static_cast<int>(kind) << " '" << text << "': " << s;
    }
  }
}

// Each field of each record removed in turn.
TEST(RecordsMalformedTest, EveryMissingFieldIsDataLoss) {
  for (Kind kind : kKinds) {
    const json full = json::parse(SampleText(kind));
    ASSERT_TRUE(DecodeAs(kind, full.dump()).ok());
    for (const auto& [field, value] : full.items()) {
      json partial = full;
      partial.erase(field);
      absl::Status s = DecodeAs(kind, partial.dump());
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
          << static_cast<int>(kind) << " without " << field << ": " << s;
      EXPECT_THAT(ErrorOf(s), HasSubstr(field)) << static_cast<int>(kind);
    }
  }
}

// A string where a number is expected, and an object or a number where a
// string is expected, in every field.
TEST(RecordsMalformedTest, EveryFieldWithAnIncompatibleTypeIsDataLoss) {
  for (Kind kind : kKinds) {
    const json full = json::parse(SampleText(kind));
    for (const auto& [field, value] : full.items()) {
      std::vector<json> wrong;
      if (value.is_string()) {
        wrong = {json(5), json::object(), json::array(), nullptr};
      } else if (value.is_number()) {
        wrong = {json("5"), json::object(), json::array(), nullptr};
      } else {
        // Arrays (segments, runs, locations).
        wrong = {json("x"), json(5), json::array({"a", "b", "c", "d"})};
      }
      for (const json& w : wrong) {
        json bad = full;
        bad[field] = w;
        absl::Status s = DecodeAs(kind, bad.dump());
        EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
            << static_cast<int>(kind) << " " << field << "=" << w.dump() << ": " << s;
      }
    }
  }
}

TEST(RecordsMalformedTest, ShortLocationsSegmentsAndRunsAreDataLoss) {
  json move = json::parse(SampleText(Kind::kMove));
  for (const char* field : {"src", "dst"}) {
    json bad = move;
    bad[field] = json::array({1});
    EXPECT_EQ(DecodeMove(bad.dump()).status().code(), absl::StatusCode::kDataLoss) << field;
    bad[field] = json::array();
    EXPECT_EQ(DecodeMove(bad.dump()).status().code(), absl::StatusCode::kDataLoss) << field;
  }
  json volume = json::parse(SampleText(Kind::kVolume));
  json bad = volume;
  bad["segments"] = json::parse("[[0]]");
  EXPECT_EQ(DecodeVolume(bad.dump()).status().code(), absl::StatusCode::kDataLoss);
  bad = volume;
  bad["runs"] = json::parse("[[0,0,100]]");
  EXPECT_EQ(DecodeVolume(bad.dump()).status().code(), absl::StatusCode::kDataLoss);
  bad = volume;
  bad["runs"] = json::parse("[5]");
  EXPECT_EQ(DecodeVolume(bad.dump()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RecordsMalformedTest, UnknownMovePhaseIsDataLoss) {
  json move = json::parse(SampleText(Kind::kMove));
  for (const char* phase : {"", "Copying", "done", "committed", "copying "}) {
    move["phase"] = phase;
    absl::Status s = DecodeMove(move.dump()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "'" << phase << "': " << s;
    EXPECT_THAT(ErrorOf(s), HasSubstr("unknown phase")) << phase;
  }
}

// Negative numbers where the shape check sees them (the volume's runs and
// segments). The scalar fields are in cvold_pending_bug_test.cc.
TEST(RecordsMalformedTest, NegativeVolumeRunFieldsAreDataLoss) {
  const json volume = json::parse(SampleText(Kind::kVolume));
  for (const char* runs : {"[[-1,0,100,6]]", "[[0,0,100,-6]]"}) {
    json bad = volume;
    bad["runs"] = json::parse(runs);
    EXPECT_EQ(DecodeVolume(bad.dump()).status().code(), absl::StatusCode::kDataLoss) << runs;
  }
  json bad = volume;
  bad["extents"] = -10;
  EXPECT_EQ(DecodeVolume(bad.dump()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RecordsMalformedTest, VolumeFailingTheShapeCheckIsDataLossNamingTheVolume) {
  VolumeRecord v = SampleVolume();
  v.runs.push_back(cvol::Run{2, 1, 0, 1});  // overlaps the first run
  absl::Status s = DecodeVolume(EncodeVolume(v)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(ErrorOf(s), HasSubstr("tank/vol1"));
  EXPECT_THAT(ErrorOf(s), HasSubstr("overlaps"));
}

// --- CheckVolume ---

VolumeRecord Shaped(uint64_t extents, std::vector<Segment> segments, std::vector<cvol::Run> runs) {
  VolumeRecord v;
  v.pool = "tank";
  v.name = "v";
  v.extents = extents;
  v.segments = std::move(segments);
  v.runs = std::move(runs);
  return v;
}

TEST(CheckVolumeTest, AcceptsWellFormedRecords) {
  EXPECT_TRUE(CheckVolume(SampleVolume()).ok());
  EXPECT_TRUE(CheckVolume(Shaped(0, {}, {})).ok());
  // Runs need not cover the whole volume (unmapped extents read as holes),
  // and need not be listed in order.
  EXPECT_TRUE(CheckVolume(Shaped(10, {{0, 10}}, {{5, 0, 0, 5}, {0, 1, 0, 2}})).ok());
  // Runs may straddle segment boundaries.
  EXPECT_TRUE(CheckVolume(Shaped(10, {{0, 4}, {4, 6}}, {{0, 0, 0, 10}})).ok());
}

TEST(CheckVolumeTest, SegmentsMustTileTheVolume) {
  // A gap.
  absl::Status s = CheckVolume(Shaped(10, {{0, 4}, {5, 5}}, {}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(s), HasSubstr("segment at extent 5 does not follow extent 4"));
  // An overlap.
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 6}, {5, 5}}, {})).code(),
            absl::StatusCode::kInvalidArgument);
  // Not starting at 0.
  EXPECT_EQ(CheckVolume(Shaped(10, {{1, 10}}, {})).code(), absl::StatusCode::kInvalidArgument);
  // Out of order.
  EXPECT_EQ(CheckVolume(Shaped(10, {{5, 5}, {0, 5}}, {})).code(),
            absl::StatusCode::kInvalidArgument);
  // An empty segment.
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 10}, {10, 0}}, {})).code(),
            absl::StatusCode::kInvalidArgument);
  // Segments whose sum wraps past 2^64 back to the volume's size (found by
  // tests/fuzz, records).
  s = CheckVolume(Shaped(0, {{0, UINT64_MAX}, {UINT64_MAX, 1}}, {}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(s), HasSubstr("runs past the volume's 0"));
  EXPECT_EQ(CheckVolume(Shaped(4, {{0, 2}, {2, UINT64_MAX - 1}, {0, 4}}, {})).code(),
            absl::StatusCode::kInvalidArgument);
  // Too short and too long.
  s = CheckVolume(Shaped(10, {{0, 9}}, {}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(s), HasSubstr("segments cover 9 extents, the volume has 10"));
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 11}}, {})).code(), absl::StatusCode::kInvalidArgument);
  // No segments for a non-empty volume.
  EXPECT_EQ(CheckVolume(Shaped(10, {}, {})).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CheckVolumeTest, RunsMustLieInsideTheVolume) {
  for (const cvol::Run& run : {cvol::Run{10, 0, 0, 1}, cvol::Run{9, 0, 0, 2},
                               cvol::Run{0, 0, 0, 11}, cvol::Run{UINT64_MAX, 0, 0, 1},
                               cvol::Run{1, 0, 0, UINT64_MAX}}) {
    absl::Status s = CheckVolume(Shaped(10, {{0, 10}}, {run}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << run;
    EXPECT_THAT(ErrorOf(s), HasSubstr("lies outside the volume")) << run;
  }
  // The last extent exactly is fine.
  EXPECT_TRUE(CheckVolume(Shaped(10, {{0, 10}}, {{9, 0, 0, 1}})).ok());
}

TEST(CheckVolumeTest, RunsMustNotOverlap) {
  // Overlapping by one extent, listed either way round.
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 10}}, {{0, 0, 0, 5}, {4, 1, 0, 2}})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 10}}, {{4, 1, 0, 2}, {0, 0, 0, 5}})).code(),
            absl::StatusCode::kInvalidArgument);
  // The same run twice.
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 10}}, {{3, 0, 0, 1}, {3, 0, 0, 1}})).code(),
            absl::StatusCode::kInvalidArgument);
  // One inside another.
  EXPECT_EQ(CheckVolume(Shaped(10, {{0, 10}}, {{0, 0, 0, 10}, {5, 1, 0, 1}})).code(),
            absl::StatusCode::kInvalidArgument);
  // Adjacent is fine.
  EXPECT_TRUE(CheckVolume(Shaped(10, {{0, 10}}, {{0, 0, 0, 5}, {5, 1, 0, 5}})).ok());
}

TEST(CheckVolumeTest, ZeroCountRunsAreRefused) {
  for (uint64_t vext : {0, 5, 10}) {
    absl::Status s = CheckVolume(Shaped(10, {{0, 10}}, {{vext, 0, 0, 0}}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << vext;
  }
}

}  // namespace
}  // namespace cvol::daemon
