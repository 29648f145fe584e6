// The cluster change's peer messages: what a peer sends is checked field by
// field, so a malformed or hostile reply is an error Status, never an
// exception, and no run of regions can reach outside its extent.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "change_messages.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cvol::daemon {
namespace {

using Json = nlohmann::json;

// As a reply arrives: parsed from text (non-negative numbers unsigned).
Json GoodFreezeReply() {
  return Json::parse(R"({"freeze_id": 7, "migrating": true, "ready": true,
                         "region_sectors": 256, "regions": 8, "dirty": [[1, 2], [5, 1]]})");
}

TEST(ChangeMessagesTest, FreezeReplyRoundTrips) {
  absl::StatusOr<FreezeReply> r = FreezeReply::FromJson(GoodFreezeReply());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->freeze_id, 7u);
  EXPECT_TRUE(r->ready);
  ASSERT_EQ(r->dirty.size(), 2u);
  EXPECT_EQ(r->dirty[1], (DirtyRun{5, 1}));
  absl::StatusOr<FreezeReply> again = FreezeReply::FromJson(r->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->dirty, r->dirty);
}

TEST(ChangeMessagesTest, FreezeReplyRefusesRunsOutsideTheExtent) {
  for (const char* dirty : {"[[7, 2]]",           // past the end
                            "[[0, 0]]",           // empty
                            "[[3, 1], [2, 1]]",   // out of order
                            "[[1, 2], [2, 1]]",   // overlapping
                            "[[1, 18446744073709551615]]",  // first + count wraps
                            "[[-1, 1]]", "[[1]]", "[\"1,2\"]", "\"not a list\""}) {
    Json reply = GoodFreezeReply();
    reply["dirty"] = Json::parse(dirty);
    absl::StatusOr<FreezeReply> r = FreezeReply::FromJson(reply);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << dirty;
  }
}

TEST(ChangeMessagesTest, FreezeReplyRefusesImpossibleGeometryAndUnknownFields) {
  Json huge = GoodFreezeReply();
  huge["regions"] = kMaxRegionsPerExtent + 1;
  EXPECT_EQ(FreezeReply::FromJson(huge).status().code(), absl::StatusCode::kInvalidArgument);
  Json zero = GoodFreezeReply();
  zero["region_sectors"] = 0;
  EXPECT_EQ(FreezeReply::FromJson(zero).status().code(), absl::StatusCode::kInvalidArgument);
  Json extra = GoodFreezeReply();
  extra["surprise"] = 1;
  EXPECT_EQ(FreezeReply::FromJson(extra).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FreezeReply::FromJson(Json::array()).status().code(),
            absl::StatusCode::kInvalidArgument);
  Json id = GoodFreezeReply();
  id["freeze_id"] = "7";
  EXPECT_EQ(FreezeReply::FromJson(id).status().code(), absl::StatusCode::kInvalidArgument);
}

// The re-copy's answer: typed at both ends, a wrong type is an error, not
// an exception in the controller.
TEST(ChangeMessagesTest, RecopyReplyRoundTripsAndRefusesBadFields) {
  absl::StatusOr<RecopyReply> r = RecopyReply::FromJson(RecopyReply{false, 4096, 8192}.ToJson());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->done);
  EXPECT_EQ(r->copied_bytes, 4096u);
  EXPECT_EQ(r->total_bytes, 8192u);
  Json bad = RecopyReply{true, 1, 1}.ToJson();
  bad["copied_bytes"] = "1";
  EXPECT_EQ(RecopyReply::FromJson(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = RecopyReply{true, 1, 1}.ToJson();
  bad["done"] = 1;
  EXPECT_EQ(RecopyReply::FromJson(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = RecopyReply{true, 1, 1}.ToJson();
  bad.erase("total_bytes");
  EXPECT_EQ(RecopyReply::FromJson(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChangeMessagesTest, RequestsRoundTripAndRefuseBadLocations) {
  RecopyRequest recopy{{"c#1", "p", "v", 3}, Location{1, 4}, Location{2, 9}, 256, {{0, 8}}};
  absl::StatusOr<RecopyRequest> r = RecopyRequest::FromJson(recopy.ToJson());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dst, (Location{2, 9}));
  EXPECT_EQ(r->at.change, "c#1");
  Json bad = recopy.ToJson();
  bad["dst"] = Json::array({uint64_t{1} << 40, 0});  // no such slot
  EXPECT_EQ(RecopyRequest::FromJson(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = recopy.ToJson();
  bad["volume"] = "no-slash";
  EXPECT_EQ(RecopyRequest::FromJson(bad).status().code(), absl::StatusCode::kInvalidArgument);

  FreezeRequest freeze{{"c#1", "p", "v", 3}, 30000};
  ASSERT_TRUE(FreezeRequest::FromJson(freeze.ToJson()).ok());
  Json no_timeout = freeze.ToJson();
  no_timeout["timeout_ms"] = 0;
  EXPECT_EQ(FreezeRequest::FromJson(no_timeout).status().code(),
            absl::StatusCode::kInvalidArgument);
  ApplyRequest apply{{"", "p", "v", 3}, Location{2, 9}};
  // apply names its change: without one it is refused.
  EXPECT_EQ(ApplyRequest::FromJson(apply.ToJson()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nor with an empty one, which ToJson would leave out (found by
  // tests/fuzz, change_messages).
  EXPECT_TRUE(AbortRequest::FromJson(Json::parse(R"({"change":"c#1","volume":"p/v","vext":3})")).ok());
  EXPECT_EQ(AbortRequest::FromJson(Json::parse(R"({"change":"","volume":"p/v","vext":3})"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  Json empty_change = freeze.ToJson();
  empty_change["change"] = "";
  EXPECT_EQ(FreezeRequest::FromJson(empty_change).status().code(),
            absl::StatusCode::kInvalidArgument);
  Json apply_empty = apply.ToJson();
  apply_empty["change"] = "";
  EXPECT_EQ(ApplyRequest::FromJson(apply_empty).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cvol::daemon
