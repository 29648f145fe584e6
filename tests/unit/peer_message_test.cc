// cvolpeer's messages and addresses: exact round trips and strict parsing
// (each missing or mistyped field is named).
#include "cvol/peer/message.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cvol/peer/address.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cvol::peer {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

PeerRequest SampleRequest() {
  PeerRequest r;
  r.type = "freeze";
  r.id = UINT64_MAX;
  r.epoch = 42;
  r.from = "host-a";
  r.sent_unix_ms = -5;
  r.body = json{{"volume", "v1"}, {"range", {0, 128}}};
  return r;
}

json RequestJson() { return json::parse(EncodeRequest(SampleRequest())); }

json ReplyJson() {
  return json::parse(EncodeReply(PeerReply{9, absl::NotFoundError("no volume v1"), json{{"k", 1}}}));
}

TEST(PeerMessageTest, RequestRoundTrips) {
  const PeerRequest in = SampleRequest();
  absl::StatusOr<PeerRequest> out = ParseRequest(EncodeRequest(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, in.type);
  EXPECT_EQ(out->id, in.id);
  EXPECT_EQ(out->epoch, in.epoch);
  EXPECT_EQ(out->from, in.from);
  EXPECT_EQ(out->sent_unix_ms, in.sent_unix_ms);
  EXPECT_EQ(out->body, in.body);
}

TEST(PeerMessageTest, ReplyRoundTripsEveryStatusCode) {
  for (int i = 0; i <= 16; ++i) {
    const auto code = static_cast<absl::StatusCode>(i);
    const absl::Status status(code, code == absl::StatusCode::kOk ? "" : "why: \"quoted\"\n\xff");
    absl::StatusOr<PeerReply> out = ParseReply(EncodeReply(PeerReply{7, status, json::array({1})}));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->id, 7u);
    EXPECT_EQ(out->status.code(), code);
    EXPECT_EQ(out->body, json::array({1}));
    if (code != absl::StatusCode::kOk) {
      // The invalid UTF-8 byte is replaced, the rest kept exactly.
      EXPECT_THAT(std::string(out->status.message()), HasSubstr("why: \"quoted\"\n"));
    }
  }
  absl::StatusOr<PeerReply> ok = ParseReply(EncodeReply(PeerReply{1, absl::OkStatus(), nullptr}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->status.ok());
  EXPECT_TRUE(ok->body.is_null());
}

TEST(PeerMessageTest, StatusCodeNames) {
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  absl::StatusOr<absl::StatusCode> code = StatusCodeFromName("FAILED_PRECONDITION");
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(StatusCodeFromName("").ok());
  EXPECT_FALSE(StatusCodeFromName("not_found").ok());
}

TEST(PeerMessageTest, RequestNotJsonOrNotObject) {
  EXPECT_EQ(ParseRequest("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRequest("[1]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseReply("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PeerMessageTest, RequestMissingFieldIsNamed) {
  for (const char* field : {"kind", "type", "id", "epoch", "from", "sent_unix_ms", "body"}) {
    json j = RequestJson();
    j.erase(field);
    absl::StatusOr<PeerRequest> r = ParseRequest(j.dump());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string("'") + field + "'"));
  }
}

struct Mistyped {
  const char* field;
  json value;
};

TEST(PeerMessageTest, RequestMistypedFieldIsNamed) {
  const Mistyped cases[] = {
      {"kind", "reply"},
      {"kind", 1},
      {"type", 5},
      {"type", ""},
      {"id", -1},
      {"id", 1.5},
      {"id", "1"},
      {"id", true},
      {"epoch", -42},
      {"epoch", nullptr},
      {"from", json::array()},
      {"sent_unix_ms", 1.0},
      {"sent_unix_ms", "now"},
      {"sent_unix_ms", UINT64_MAX},
  };
  for (const Mistyped& c : cases) {
    json j = RequestJson();
    j[c.field] = c.value;
    absl::StatusOr<PeerRequest> r = ParseRequest(j.dump());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field << "=" << c.value;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string("'") + c.field + "'"))
        << c.value;
  }
}

TEST(PeerMessageTest, RequestIgnoresUnknownFields) {
  json j = RequestJson();
  j["added_later"] = 1;
  EXPECT_TRUE(ParseRequest(j.dump()).ok());
}

TEST(PeerMessageTest, ReplyMissingFieldIsNamed) {
  for (const char* field : {"kind", "id", "status", "body"}) {
    json j = ReplyJson();
    j.erase(field);
    absl::StatusOr<PeerReply> r = ParseReply(j.dump());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string("'") + field + "'"));
  }
  for (const char* field : {"code", "message"}) {
    json j = ReplyJson();
    j["status"].erase(field);
    absl::StatusOr<PeerReply> r = ParseReply(j.dump());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string("'") + field + "'"));
  }
}

TEST(PeerMessageTest, ReplyMistypedFieldIsNamed) {
  const Mistyped cases[] = {
      {"kind", "request"}, {"id", -9}, {"id", "9"}, {"status", "NOT_FOUND"}, {"status", 5},
  };
  for (const Mistyped& c : cases) {
    json j = ReplyJson();
    j[c.field] = c.value;
    absl::StatusOr<PeerReply> r = ParseReply(j.dump());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field << "=" << c.value;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string("'") + c.field + "'"))
        << c.value;
  }
  const Mistyped status_cases[] = {
      {"code", 5}, {"code", "NO_SUCH_CODE"}, {"message", nullptr}};
  for (const Mistyped& c : status_cases) {
    json j = ReplyJson();
    j["status"][c.field] = c.value;
    absl::StatusOr<PeerReply> r = ParseReply(j.dump());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field << "=" << c.value;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string("'") + c.field + "'"))
        << c.value;
  }
}

TEST(PeerMessageTest, ReplyOkWithMessageRefused) {
  json j = ReplyJson();
  j["status"] = {{"code", "OK"}, {"message", "lost otherwise"}};
  EXPECT_EQ(ParseReply(j.dump()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PeerMessageTest, ReplyIsNotARequestAndBack) {
  EXPECT_FALSE(ParseRequest(ReplyJson().dump()).ok());
  EXPECT_FALSE(ParseReply(RequestJson().dump()).ok());
}

TEST(PeerAddressTest, ParsesIpv4AndBracketedIpv6) {
  absl::StatusOr<HostPort> v4 = ParseHostPort("10.1.2.3:7000");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, 7000);
  absl::StatusOr<HostPort> v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(FormatHostPort(*v6), "[::1]:0");
  EXPECT_EQ(FormatHostPort(*v4), "10.1.2.3:7000");
}

TEST(PeerAddressTest, RefusesTheRest) {
  for (const char* bad : {"", "10.0.0.1", "10.0.0.1:", "10.0.0.1:65536", "10.0.0.1:-1",
                          "10.0.0.1:7x", "::1:7000", "[::1:7000", "[10.0.0.1]:1",
                          "host.example:7000", ":7000"}) {
    absl::StatusOr<HostPort> a = ParseHostPort(bad);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(std::string(ParseHostPort("::1:7000").status().message()), HasSubstr("brackets"));
}

}  // namespace
}  // namespace cvol::peer
