#include "cvol/control/args.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_util.h"

namespace cvol::control {
namespace {

using ::cvol::testing::ErrorOf;
using ::nlohmann::json;
using ::testing::HasSubstr;

TEST(ControlArgs, ReadsEveryKind) {
  json args = json::parse(
      R"({"volume":"p/v","size_bytes":1073741824,"force":true,"name":null,"count":0})");
  ArgReader r(args);
  EXPECT_EQ(r.String("volume").value(), "p/v");
  EXPECT_EQ(r.Uint("size_bytes").value(), 1073741824u);
  EXPECT_EQ(r.Bool("force", false).value(), true);
  EXPECT_EQ(r.OptionalString("name").value(), std::nullopt);  // null is absent
  EXPECT_EQ(r.OptionalUint("count").value(), 0u);
  EXPECT_EQ(r.OptionalString("to_pv").value(), std::nullopt);
  EXPECT_EQ(r.OptionalUint("vext").value(), std::nullopt);
  EXPECT_EQ(r.Bool("wait", true).value(), true);
  EXPECT_TRUE(r.Finish().ok()) << r.Finish();
}

TEST(ControlArgs, MissingIsInvalidArgumentNamingIt) {
  json args = json::object();
  ArgReader r(args);
  absl::StatusOr<std::string> s = r.String("volume");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf(s), "missing argument 'volume'");
  EXPECT_EQ(ErrorOf(r.Uint("size_bytes")), "missing argument 'size_bytes'");
  // Finish reports the first error.
  EXPECT_EQ(ErrorOf(r.Finish()), "missing argument 'volume'");
}

TEST(ControlArgs, NullRequiredIsMissing) {
  json args = {{"volume", nullptr}};
  ArgReader r(args);
  EXPECT_EQ(ErrorOf(r.String("volume")), "missing argument 'volume'");
}

TEST(ControlArgs, TypeMismatches) {
  json args = json::parse(
      R"({"s":5,"u":"5","b":"true","neg":-1,"frac":1.5,"whole_float":2.0,"exp":1e3,
          "big":18446744073709551616,"arr":[1],"obj":{}})");
  ArgReader r(args);
  EXPECT_EQ(ErrorOf(r.String("s")), "argument 's' must be a string, not number 5");
  EXPECT_EQ(ErrorOf(r.Uint("u")), "argument 'u' must be a non-negative integer, not string \"5\"");
  EXPECT_EQ(ErrorOf(r.Bool("b", false)), "argument 'b' must be true or false, not string \"true\"");
  EXPECT_THAT(ErrorOf(r.Uint("neg")), HasSubstr("must be a non-negative integer, not number -1"));
  EXPECT_THAT(ErrorOf(r.Uint("frac")), HasSubstr("not number 1.5"));
  EXPECT_THAT(ErrorOf(r.OptionalUint("whole_float")), HasSubstr("must be a non-negative integer"));
  EXPECT_THAT(ErrorOf(r.Uint("exp")), HasSubstr("must be a non-negative integer"));
  EXPECT_THAT(ErrorOf(r.Uint("big")), HasSubstr("must be a non-negative integer"));
  EXPECT_THAT(ErrorOf(r.OptionalString("arr")), HasSubstr("not array [1]"));
  EXPECT_THAT(ErrorOf(r.String("obj")), HasSubstr("not object {}"));
  EXPECT_EQ(ErrorOf(r.Finish()), "argument 's' must be a string, not number 5");
}

TEST(ControlArgs, UintExtremes) {
  json args = json::parse(R"({"max":18446744073709551615,"zero":0})");
  ArgReader r(args);
  EXPECT_EQ(r.Uint("max").value(), UINT64_MAX);
  EXPECT_EQ(r.Uint("zero").value(), 0u);
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ControlArgs, JsonBuiltInCxxWithSignedInts) {
  // json{{"n", 5}} holds a signed integer; the daemon's own tests build
  // args that way.
  json args = {{"n", 5}, {"m", -5}};
  ArgReader r(args);
  EXPECT_EQ(r.Uint("n").value(), 5u);
  EXPECT_FALSE(r.Uint("m").ok());
}

TEST(ControlArgs, FinishNamesUnreadArgument) {
  json args = {{"volume", "p/v"}, {"sise_bytes", 10}};
  ArgReader r(args);
  ASSERT_TRUE(r.String("volume").ok());
  absl::Status s = r.Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf(s), "unknown argument 'sise_bytes'");
}

TEST(ControlArgs, ReadingAnOptionalThatIsAbsentStillCountsAsKnown) {
  json args = {{"pool", "p"}};
  ArgReader r(args);
  EXPECT_EQ(r.OptionalString("pool").value(), "p");
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ControlArgs, NotAnObject) {
  json args = json::array();
  ArgReader r(args);
  EXPECT_THAT(ErrorOf(r.String("x")), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorOf(r.Bool("y", false)), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorOf(r.Finish()), HasSubstr("must be a JSON object"));
}

}  // namespace
}  // namespace cvol::control
