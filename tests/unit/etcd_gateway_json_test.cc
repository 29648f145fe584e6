// cvolstore's parsers of etcd's JSON gateway answers (src/etcd_gateway_json.h),
// without an etcd: what tests/fuzz/etcd_gateway_fuzz.cc found, and the
// promises its checks rely on.
#include "etcd_gateway_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace cvol::store::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// An int64 field holding a deeply nested array used to be quoted in the
// error with dump(), which recurses once per level: a 2 MB answer
// overflowed the stack and ended cvold. Now it is an error naming the type.
TEST(EtcdGatewayJsonTest, DeeplyNestedInt64FieldIsAnErrorNotAStackOverflow) {
  const std::string nested = Nested(1000000);
  absl::StatusOr<RangeResult> range = ParseRange(R"({"header":{"revision":)" + nested + "}}");
  EXPECT_EQ(range.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(range.status().message()),
              HasSubstr("field revision is not an int64: array"));

  WatchLine line =
      ParseWatchLine(R"({"result":{"canceled":true,"compact_revision":)" + nested + "}}");
  ASSERT_TRUE(line.verdict.has_value());
  EXPECT_EQ(line.verdict->status().code(), absl::StatusCode::kInternal);

  // Scalars are still quoted.
  range = ParseRange(R"({"header":{"revision":"12x"}})");
  EXPECT_THAT(std::string(range.status().message()), HasSubstr("is not an int64: \"12x\""));
}

TEST(EtcdGatewayJsonTest, RangeAsEtcd34AnswersIt) {
  absl::StatusOr<RangeResult> range = ParseRange(
      R"({"header":{"cluster_id":"15118495548433857066","revision":"4","raft_term":"2"},)"
      R"("kvs":[{"key":"L2N2b2wvaG9zdHMvaDE=","create_revision":"3","mod_revision":"3",)"
      R"("version":"1","value":"e30=","lease":"4111120510459908869"}],"count":"1"})");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->revision, 4);
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, "/cvol/hosts/h1");
  EXPECT_EQ(range->kvs[0].value, "{}");
  EXPECT_EQ(range->kvs[0].lease, 4111120510459908869);
}

TEST(EtcdGatewayJsonTest, WatchStreamVerdictDoesNotDependOnThePieces) {
  const std::string stream =
      R"({"result":{"header":{"revision":"5"},"created":true}})"
      "\n"
      R"({"result":{"header":{"revision":"6"},"events":[{"type":"DELETE",)"
      R"("kv":{"key":"L2E=","mod_revision":"6","version":"3"}}]}})";
  for (size_t piece = 1; piece <= stream.size(); ++piece) {
    WatchStreamParser parser;
    for (size_t at = 0; at < stream.size(); at += piece) {
      parser.Feed(absl::string_view(stream).substr(at, piece));
    }
    parser.Finish();  // the last line has no newline
    ASSERT_TRUE(parser.created());
    ASSERT_TRUE(parser.decided()) << piece;
    absl::StatusOr<WatchResult> r = parser.outcome();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome, WatchResult::Outcome::kChanged);
    EXPECT_EQ(r->revision, 6);
    ASSERT_EQ(r->events.size(), 1u);
    EXPECT_EQ(r->events[0], (WatchEvent{WatchEvent::Type::kDelete, "/a", 6, 0}));
  }
}

// Something that answers as etcd but never ends a line must not grow the
// buffer without bound.
TEST(EtcdGatewayJsonTest, AWatchLineWithoutEndIsCutAtTheLimit) {
  WatchStreamParser parser;
  const std::string chunk(1 << 20, 'x');
  bool decided = false;
  size_t fed = 0;
  while (!decided && fed <= WatchStreamParser::kMaxWatchLineBytes) {
    decided = parser.Feed(chunk);
    fed += chunk.size();
  }
  ASSERT_TRUE(decided);
  EXPECT_EQ(parser.outcome().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(parser.outcome().status().message(), HasSubstr("a line longer than"));
}

TEST(EtcdGatewayJsonTest, LoginErrorNeverQuotesTheAnswer) {
  absl::StatusOr<std::string> token = ParseAuthToken(R"({"token":"secret.1")");  // cut short
  EXPECT_FALSE(token.ok());
  EXPECT_THAT(std::string(token.status().message()), Not(HasSubstr("secret")));
  token = ParseAuthToken(R"({"header":{},"token":"secret.1"})");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "secret.1");
}

TEST(EtcdGatewayJsonTest, ErrorBodies) {
  EXPECT_EQ(ErrorFromReply(401, R"({"error":"etcdserver: invalid auth token","code":16})", "e",
                           "/p")
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ErrorFromReply(503, "upstream reset", "e", "/p").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(ErrorFromReply(200, R"({"header":{}})", "e", "/p").ok());
  EXPECT_EQ(ErrorFromReply(200, R"({"error":{"grpc_code":7,"message":"denied"}})", "e", "/p")
                .code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cvol::store::gateway
