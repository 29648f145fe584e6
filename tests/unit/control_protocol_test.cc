#include "cvol/control/protocol.h"

#include <string>

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

TEST(ControlProtocol, RequestRoundTrip) {
  Request request;
  request.id = 7;
  request.command = "volume.create";
  request.args = {{"volume", "pool1/vol1"}, {"size_bytes", uint64_t{1} << 30}};
  std::string line = EncodeRequest(request);
  EXPECT_EQ(line,
            "{\"version\":1,\"id\":7,\"command\":\"volume.create\","
            "\"args\":{\"size_bytes\":1073741824,\"volume\":\"pool1/vol1\"}}\n");
  absl::StatusOr<Request> parsed = ParseRequest(line);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version, 1);
  EXPECT_EQ(parsed->id, 7u);
  EXPECT_EQ(parsed->command, "volume.create");
  EXPECT_EQ(parsed->args, request.args);
}

TEST(ControlProtocol, RequestWithoutArgsGetsEmptyObject) {
  absl::StatusOr<Request> parsed = ParseRequest(R"({"version":1,"id":1,"command":"status"})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->args, json::object());
  Request null_args{1, 2, "status", json()};
  EXPECT_THAT(EncodeRequest(null_args), HasSubstr("\"args\":{}"));
}

TEST(ControlProtocol, RequestIdExtremes) {
  absl::StatusOr<Request> max =
      ParseRequest(R"({"version":1,"id":18446744073709551615,"command":"status"})");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->id, UINT64_MAX);
  EXPECT_TRUE(ParseRequest(R"({"version":1,"id":0,"command":"status"})").ok());
}

TEST(ControlProtocol, RequestUnicodeSurvives) {
  Request request{1, 3, "pv.create", {{"device", "/dev/disk/by-id/caf\u00e9"}}};
  absl::StatusOr<Request> parsed = ParseRequest(EncodeRequest(request));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->args["device"], "/dev/disk/by-id/caf\u00e9");
}

struct BadLine {
  const char* line;
  const char* message_part;
};

class ControlProtocolBadRequest : public ::testing::TestWithParam<BadLine> {};

TEST_P(ControlProtocolBadRequest, IsInvalidArgument) {
  absl::StatusOr<Request> parsed = ParseRequest(GetParam().line);
  ASSERT_FALSE(parsed.ok()) << GetParam().line;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
  EXPECT_THAT(ErrorOf(parsed), HasSubstr(GetParam().message_part));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, ControlProtocolBadRequest,
    ::testing::Values(
        BadLine{"", "not valid JSON"}, BadLine{"\n", "not valid JSON"},
        BadLine{"   ", "not valid JSON"}, BadLine{"{", "not valid JSON"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"status\"", "not valid JSON"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"status\"}x", "not valid JSON"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"status\"}{}", "not valid JSON"},
        BadLine{"{'version':1}", "not valid JSON"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"\xff\"}", "not valid JSON"},
        BadLine{"[1,2]", "must be a JSON object, not array"},
        BadLine{"\"status\"", "must be a JSON object, not string"},
        BadLine{"42", "must be a JSON object, not number"},
        BadLine{"null", "must be a JSON object, not null"},
        BadLine{"{\"id\":1,\"command\":\"status\"}", "no \"version\""},
        BadLine{"{\"version\":\"1\",\"id\":1,\"command\":\"status\"}", "\"version\" must be an integer"},
        BadLine{"{\"version\":1.0,\"id\":1,\"command\":\"status\"}", "\"version\" must be an integer"},
        BadLine{"{\"version\":1,\"command\":\"status\"}", "no \"id\""},
        BadLine{"{\"version\":1,\"id\":-1,\"command\":\"status\"}", "\"id\" must be a non-negative"},
        BadLine{"{\"version\":1,\"id\":1.5,\"command\":\"status\"}", "\"id\" must be a non-negative"},
        BadLine{"{\"version\":1,\"id\":\"1\",\"command\":\"status\"}", "\"id\" must be a non-negative"},
        BadLine{"{\"version\":1,\"id\":18446744073709551616,\"command\":\"status\"}",
                "\"id\" must be a non-negative"},
        BadLine{"{\"version\":1,\"id\":1}", "no \"command\""},
        BadLine{"{\"version\":1,\"id\":1,\"command\":7}", "\"command\" must be a non-empty string"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"\"}", "\"command\" must be a non-empty string"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":null}", "\"command\" must be a non-empty string"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"status\",\"args\":[]}", "\"args\" must be an object, not array"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"status\",\"args\":null}", "\"args\" must be an object, not null"},
        BadLine{"{\"version\":1,\"id\":1,\"command\":\"status\",\"argz\":{}}", "unknown member \"argz\""}));

TEST(ControlProtocol, OtherVersionIsUnimplementedWhateverTheShape) {
  for (const char* line : {R"({"version":2,"id":1,"command":"status"})", R"({"version":0})",
                           R"({"version":-1,"frobnicate":true})",
                           R"({"version":18446744073709551615})"}) {
    absl::StatusOr<Request> parsed = ParseRequest(line);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnimplemented) << line;
    EXPECT_THAT(ErrorOf(parsed), HasSubstr("speaks version 1")) << line;
  }
}

TEST(ControlProtocol, LineLengthLimit) {
  // Padding with spaces inside the args object keeps the JSON valid.
  std::string head = R"({"version":1,"id":1,"command":"status","args":{)";
  std::string tail = "}}";
  std::string at_limit = head + std::string(kMaxLineBytes - head.size() - tail.size(), ' ') + tail;
  ASSERT_EQ(at_limit.size(), kMaxLineBytes);
  EXPECT_TRUE(ParseRequest(at_limit).ok());
  EXPECT_TRUE(ParseRequest(at_limit + "\n").ok());  // the '\n' does not count
  std::string over = head + std::string(kMaxLineBytes - head.size() - tail.size() + 1, ' ') + tail;
  absl::StatusOr<Request> parsed = ParseRequest(over);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(parsed), HasSubstr("the limit is 1048576"));
  EXPECT_FALSE(ParseReply(std::string(kMaxLineBytes + 1, ' ')).ok());
}

TEST(ControlProtocol, DeepNestingIsRefusedOrParsedWithoutCrashing) {
  // Half a megabyte of '[' must not blow the stack (the parser is
  // iterative); it is simply not a valid request.
  std::string deep = R"({"version":1,"id":1,"command":"x","args":{"a":)" +
                     std::string(500000, '[') + std::string(500000, ']') + "}}";
  ASSERT_LE(deep.size(), kMaxLineBytes);
  absl::StatusOr<Request> parsed = ParseRequest(deep);
  EXPECT_TRUE(parsed.ok()) << parsed.status();  // valid JSON; ArgReader judges args
}

TEST(ControlProtocol, PeekRequestId) {
  EXPECT_EQ(PeekRequestId(R"({"version":9,"id":5})"), 5u);
  EXPECT_EQ(PeekRequestId(R"({"id":5,"command":7})"), 5u);
  EXPECT_EQ(PeekRequestId(R"({"id":-5})"), std::nullopt);
  EXPECT_EQ(PeekRequestId("junk"), std::nullopt);
  EXPECT_EQ(PeekRequestId("[]"), std::nullopt);
}

TEST(ControlProtocol, EncodeRepliesAreOneLine) {
  EXPECT_EQ(EncodeOk(7, {{"a", 1}}), "{\"version\":1,\"id\":7,\"status\":\"ok\",\"result\":{\"a\":1}}\n");
  EXPECT_EQ(EncodeError(7, absl::NotFoundError("pool 'p' does not exist")),
            "{\"version\":1,\"id\":7,\"status\":\"error\",\"error\":{\"code\":\"NOT_FOUND\","
            "\"message\":\"pool 'p' does not exist\"}}\n");
  EXPECT_EQ(EncodeProgress(8, {{"moves", json::array()}}),
            "{\"version\":1,\"id\":8,\"status\":\"progress\",\"progress\":{\"moves\":[]}}\n");
  EXPECT_EQ(EncodeEvent(9, {{"type", "x"}}),
            "{\"version\":1,\"id\":9,\"status\":\"event\",\"event\":{\"type\":\"x\"}}\n");
  // A newline in a message is escaped, so the reply stays one line.
  std::string multi = EncodeError(1, absl::InternalError("line one\nline two"));
  EXPECT_EQ(multi.find('\n'), multi.size() - 1);
}

TEST(ControlProtocol, NullBodyIsTheEmptyObject) {
  // EncodeOk(id, {}) passes a null json; the protocol's empty result is {}.
  EXPECT_EQ(EncodeOk(5, {}), "{\"version\":1,\"id\":5,\"status\":\"ok\",\"result\":{}}\n");
  EXPECT_TRUE(ParseReply(EncodeProgress(5, {})).ok());
}

TEST(ControlProtocol, EncodeNeverThrowsOnBadUtf8) {
  std::string line = EncodeError(3, absl::NotFoundError("no device /dev/\xff\xfe"));
  absl::StatusOr<Reply> reply = ParseReply(line);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->error.message(), "no device /dev/\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(ParseRequest(EncodeRequest({1, 1, "pv.show", {{"pv", "\xc3"}}})).ok());
}

TEST(ControlProtocol, EncodeErrorWithOkIsUnknown) {
  absl::StatusOr<Reply> reply = ParseReply(EncodeError(4, absl::OkStatus()));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->error.code(), absl::StatusCode::kUnknown);
}

TEST(ControlProtocol, ReplyRoundTrips) {
  json result = {{"pools", json::array({{{"name", "p"}}})}};
  absl::StatusOr<Reply> ok = ParseReply(EncodeOk(11, result));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->id, 11u);
  EXPECT_EQ(ok->kind, Reply::kOk);
  EXPECT_TRUE(ok->is_final());
  EXPECT_EQ(ok->body, result);
  EXPECT_TRUE(ok->error.ok());

  absl::StatusOr<Reply> progress = ParseReply(EncodeProgress(11, {{"moves", json::array()}}));
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->kind, Reply::kProgress);
  EXPECT_FALSE(progress->is_final());

  absl::StatusOr<Reply> event = ParseReply(EncodeEvent(12, {{"type", "move_done"}}));
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->kind, Reply::kEvent);
  EXPECT_EQ(event->body["type"], "move_done");
}

TEST(ControlProtocol, EveryStatusCodeRoundTrips) {
  for (int i = 1; i <= 16; ++i) {
    auto code = static_cast<absl::StatusCode>(i);
    absl::Status error(code, "why");
    absl::StatusOr<Reply> reply = ParseReply(EncodeError(1, error));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->kind, Reply::kError);
    EXPECT_EQ(reply->error, error);
    EXPECT_EQ(StatusCodeFromName(StatusCodeName(code)), code);
  }
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kFailedPrecondition), "FAILED_PRECONDITION");
  EXPECT_EQ(StatusCodeFromName("OK"), absl::StatusCode::kOk);
  EXPECT_EQ(StatusCodeFromName("not_found"), std::nullopt);
  EXPECT_EQ(StatusCodeFromName(""), std::nullopt);
}

TEST(ControlProtocol, ReplyWithUnknownOrOkCodeIsUnknown) {
  for (const char* code : {"TEAPOT", "OK"}) {
    absl::StatusOr<Reply> reply = ParseReply(absl::StrCat(
        R"({"version":1,"id":1,"status":"error","error":{"code":")", code,
        R"(","message":"m"}})"));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->error, absl::UnknownError("m")) << code;
  }
}

TEST(ControlProtocol, MalformedReplies) {
  for (const char* line : {
           "", "[]", R"({"id":1,"status":"ok","result":{}})",
           R"({"version":1,"status":"ok","result":{}})",
           R"({"version":1,"id":1,"result":{}})",
           R"({"version":1,"id":1,"status":"done","result":{}})",
           R"({"version":1,"id":1,"status":"ok"})",
           R"({"version":1,"id":1,"status":"ok","result":[]})",
           R"({"version":1,"id":1,"status":"ok","result":{},"extra":1})",
           R"({"version":1,"id":1,"status":"ok","progress":{}})",
           R"({"version":1,"id":1,"status":"error","error":{"code":"NOT_FOUND"}})",
           R"({"version":1,"id":1,"status":"error","error":{"code":5,"message":"m"}})",
           R"({"version":1,"id":1,"status":"error","error":"NOT_FOUND"})",
           R"({"version":1,"id":1,"status":"progress","progress":null})",
       }) {
    absl::StatusOr<Reply> reply = ParseReply(line);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument) << line;
  }
  EXPECT_EQ(ParseReply(R"({"version":2,"id":1,"status":"ok","result":{}})").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ControlProtocol, ExitCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("")), 1);
  EXPECT_EQ(ExitCodeFor(absl::UnknownError("")), 1);
  EXPECT_EQ(ExitCodeFor(absl::DataLossError("")), 1);
  EXPECT_EQ(ExitCodeFor(absl::UnimplementedError("")), 1);
  EXPECT_EQ(ExitCodeFor(absl::CancelledError("")), 1);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("")), 2);
  EXPECT_EQ(ExitCodeFor(absl::OutOfRangeError("")), 2);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("")), 3);
  EXPECT_EQ(ExitCodeFor(absl::AlreadyExistsError("")), 4);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("")), 4);
  EXPECT_EQ(ExitCodeFor(absl::AbortedError("")), 4);
  EXPECT_EQ(ExitCodeFor(absl::ResourceExhaustedError("")), 4);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("")), 5);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("")), 5);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("")), 6);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("")), 6);
}

// Found by tests/fuzz (control_protocol): nlohmann reports a number beyond
// a double's range as out_of_range, not parse_error, and the exception
// escaped ParseRequest and ended cvold.
TEST(ControlProtocol, NumberOutOfRangeIsInvalidArgument) {
  const std::string line = R"({"version":1,"id":1,"command":"status","args":{"x":1E400}})";
  EXPECT_EQ(ParseRequest(line).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PeekRequestId(line), std::nullopt);
  EXPECT_EQ(ParseReply(R"({"version":1,"id":1,"status":"ok","result":{"x":-1e999}})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cvol::control
