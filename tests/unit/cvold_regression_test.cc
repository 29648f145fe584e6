// Bugs the daemon unit tests found (records decoded too leniently, a stray
// command-line word ignored, a wrapped range in a message), kept as
// regression tests.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "records.h"
#include "test_util.h"
#include "volume_layout.h"

namespace cvol::daemon {
namespace {

using ::cvol::testing::ErrorOf;
using ::nlohmann::json;
using ::testing::Not;
using ::testing::HasSubstr;

std::string PoolText() { return EncodePool(PoolRecord{"tank", "u", 8192, 3, 5}); }
std::string PvText() { return EncodePv(PvRecord{"u", "sdb", "tank", 3, 1000, 2048, 8194048}); }
std::string MoveText() {
  MoveRecord m;
  m.pool = "tank";
  m.volume = "vol1";
  m.volume_uuid = "vu";
  m.vext = 7;
  m.src = Location{2, 1};
  m.dst = Location{0, 500};
  return EncodeMove(m);
}
std::string VolumeText() {
  VolumeRecord v;
  v.pool = "tank";
  v.name = "vol1";
  v.uuid = "vu";
  v.extents = 4;
  v.segments = {Segment{0, 4}};
  v.runs = {cvol::Run{0, 0, 100, 4}};
  return EncodeVolume(v);
}

// Was a bug (records.cc, every get_to/get<uintN_t> of a number field): nlohmann
// 3.11 converts any JSON number to an unsigned integer with a static_cast,
// so -1 becomes 18446744073709551615 and 1.5 becomes 1; a uint32_t field
// (pv slot, location and run dev) also takes true as 1 and 4294967296 as 0.
// Such records are accepted instead of refused as data loss.
TEST(RegressionTest, NumberFieldsRefuseNegativeFractionalBooleanAndOutOfRangeValues) {
  struct Field {
    const char* kind;
    std::string text;
    const char* field;
  };
  const std::vector<Field> fields = {
      {"pool", PoolText(), "extent_sectors"}, {"pool", PoolText(), "alloc_gen"},
      {"pool", PoolText(), "created_ns"},     {"pv", PvText(), "slot"},
      {"pv", PvText(), "extents"},            {"pv", PvText(), "data_offset"},
      {"pv", PvText(), "device_sectors"},     {"move", MoveText(), "vext"},
      {"move", MoveText(), "started_ns"},     {"volume", VolumeText(), "generation"},
      {"volume", VolumeText(), "created_ns"},
  };
  for (const Field& f : fields) {
    for (const json& bad : {json(-1), json(1.5), json(true)}) {
      json j = json::parse(f.text);
      j[f.field] = bad;
      absl::Status s;
      const std::string kind = f.kind;
      if (kind == "pool") s = DecodePool(j.dump()).status();
      if (kind == "pv") s = DecodePv(j.dump()).status();
      if (kind == "move") s = DecodeMove(j.dump()).status();
      if (kind == "volume") s = DecodeVolume(j.dump()).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
          << f.kind << "." << f.field << " = " << bad.dump() << " was accepted";
    }
  }
  // A slot or location dev beyond uint32_t.
  json pv = json::parse(PvText());
  pv["slot"] = 4294967296ULL;
  EXPECT_EQ(DecodePv(pv.dump()).status().code(), absl::StatusCode::kDataLoss)
      << "slot 2^32 decoded as " << (DecodePv(pv.dump()).ok() ? DecodePv(pv.dump())->slot : 0);
  json move = json::parse(MoveText());
  move["src"] = json::array({-1, 1});
  EXPECT_EQ(DecodeMove(move.dump()).status().code(), absl::StatusCode::kDataLoss);
  move = json::parse(MoveText());
  move["dst"] = json::array({4294967296ULL, 1});
  EXPECT_EQ(DecodeMove(move.dump()).status().code(), absl::StatusCode::kDataLoss);
}

// Was a bug (records.cc, DecodeVolume's range-for over j.at("segments") and
// j.at("runs")): iterating a JSON null yields nothing and iterating an
// object yields its values, so "runs": null (or {}) decodes as a volume
// with no map, and {"a": [...]} as if it were an array.
TEST(RegressionTest, VolumeSegmentsAndRunsMustBeArrays) {
  const json good = json::parse(VolumeText());
  for (const char* field : {"segments", "runs"}) {
    for (const json& bad : {json(nullptr), json::object(),
                            json::object({{"a", good.at(field).at(0)}})}) {
      json j = good;
      j[field] = bad;
      EXPECT_EQ(DecodeVolume(j.dump()).status().code(), absl::StatusCode::kDataLoss)
          << field << " = " << bad.dump() << " was accepted";
    }
  }
}

// Was a bug (volume_layout.cc, Locate's error): for a volume of 0 extents the
// range is printed as "0-" volume.extents - 1, which wraps around.
TEST(RegressionTest, LocateInAnEmptyVolumeDoesNotPrintAWrappedRange) {
  VolumeRecord v;
  v.pool = "tank";
  v.name = "empty";
  absl::StatusOr<ExtentAddress> a = Locate(v, 0, 8);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(ErrorOf(a), Not(HasSubstr("18446744073709551615")));
}

// Was a bug (daemon_config.cc, ParseDaemonConfig): the command line parser has no
// positional options description, and boost then keeps stray words without
// an error, so `cvold etcd-prefix=/x/` (a forgotten "--") starts with the
// defaults instead of failing.
TEST(RegressionTest, StrayCommandLineWordIsInvalidArgument) {
  for (const std::string word : {"positional", "etcd-prefix=/x/"}) {
    absl::StatusOr<DaemonConfig> c =
        ParseDaemonConfig({"--config", "/dev/null", "--etcd-insecure", word});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << "'" << word << "'";
  }
}

}  // namespace
}  // namespace cvol::daemon
