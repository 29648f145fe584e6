#include "cvol/control/protocol.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"
#include "nlohmann/json.hpp"
#include "absl_view.h"

namespace cvol::control {
namespace {

using internal::Av;
using nlohmann::json;

// Dumps compactly without ever throwing: invalid UTF-8 is replaced, not an
// exception (a message may quote bytes we did not choose).
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::string_view TypeName(const json& value) {
  // "number" for every number kind: the peer thinks in JSON, not C++.
  return value.is_number() ? "number" : value.type_name();
}

// Parses `line` (one trailing '\n' allowed) into a JSON object. `what` is
// "request" or "reply", for messages.
absl::StatusOr<json> ParseObjectLine(std::string_view line, absl::string_view what) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.size() > kMaxLineBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " line is ", line.size(),
                                                   " bytes; the limit is ", kMaxLineBytes));
  }
  json value;
  try {
    value = json::parse(line.begin(), line.end());
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid JSON (error at byte ", e.byte, ")"));
  } catch (const json::exception& e) {
    // A number beyond a double's range (1E400) is out_of_range, not a
    // parse_error; uncaught, it ended the daemon.
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON (", e.what(), ")"));
  }
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a JSON object, not ", TypeName(value)));
  }
  return value;
}

// Checks "version" first: a line of another version is UNIMPLEMENTED
// however the rest of it looks.
absl::Status CheckVersion(const json& object, absl::string_view what) {
  auto it = object.find("version");
  if (it == object.end()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has no \"version\""));
  }
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"version\" must be an integer, not ", TypeName(*it)));
  }
  if (it->is_number_unsigned() ? it->get<uint64_t>() != kProtocolVersion
                               : it->get<int64_t>() != kProtocolVersion) {
    return absl::UnimplementedError(absl::StrCat("protocol version ", Dump(*it),
                                                 " is not supported; this side speaks version ",
                                                 kProtocolVersion));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ReadId(const json& object, absl::string_view what) {
  auto it = object.find("id");
  if (it == object.end()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has no \"id\""));
  }
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    return static_cast<uint64_t>(it->get<int64_t>());
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"id\" must be a non-negative integer, not ", Dump(*it)));
}

absl::Status RejectUnknownMembers(const json& object, absl::string_view what,
                                  std::initializer_list<absl::string_view> known) {
  for (const auto& [key, unused] : object.items()) {
    bool is_known = false;
    for (absl::string_view k : known) is_known = is_known || absl::string_view(key) == k;
    if (!is_known) {
      return absl::InvalidArgumentError(absl::StrCat(what, " has an unknown member \"", key, "\""));
    }
  }
  return absl::OkStatus();
}

std::string EncodeReply(uint64_t id, absl::string_view status, absl::string_view member,
                        const json& body) {
  // `{}` as a json argument is null, not an empty object; a caller writing
  // EncodeOk(id, {}) means the empty result the protocol shows as {}.
  std::string encoded_body = body.is_null() ? "{}" : Dump(body);
  return absl::StrCat("{\"version\":", kProtocolVersion, ",\"id\":", id, ",\"status\":\"", status,
                      "\",\"", member, "\":", encoded_body, "}\n");
}

}  // namespace

absl::StatusOr<Request> ParseRequest(std::string_view line) {
  constexpr absl::string_view kWhat = "request";
  ASSIGN_OR_RETURN(json object, ParseObjectLine(line, kWhat));
  if (absl::Status s = CheckVersion(object, kWhat); !s.ok()) return s;
  if (absl::Status s = RejectUnknownMembers(object, kWhat, {"version", "id", "command", "args"});
      !s.ok()) {
    return s;
  }
  Request request;
  ASSIGN_OR_RETURN(uint64_t id, ReadId(object, kWhat));
  request.id = id;

  auto command = object.find("command");
  if (command == object.end()) {
    return absl::InvalidArgumentError("request has no \"command\"");
  }
  if (!command->is_string() || command->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request \"command\" must be a non-empty string, not ", Dump(*command)));
  }
  request.command = command->get<std::string>();

  auto args = object.find("args");
  if (args != object.end()) {
    if (!args->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request \"args\" must be an object, not ", TypeName(*args)));
    }
    request.args = std::move(*args);
  }
  return request;
}

std::optional<uint64_t> PeekRequestId(std::string_view line) {
  absl::StatusOr<json> object = ParseObjectLine(line, "request");
  if (!object.ok()) return std::nullopt;
  absl::StatusOr<uint64_t> id = ReadId(*object, "request");
  if (!id.ok()) return std::nullopt;
  return *id;
}

std::string EncodeRequest(const Request& request) {
  const json& args = request.args.is_null() ? json::object() : request.args;
  return absl::StrCat("{\"version\":", request.version, ",\"id\":", request.id,
                      ",\"command\":", Dump(json(request.command)), ",\"args\":", Dump(args),
                      "}\n");
}

std::string EncodeOk(uint64_t id, const json& result) {
  return EncodeReply(id, "ok", "result", result);
}

std::string EncodeError(uint64_t id, const absl::Status& error) {
  json body = json::object();
  body["code"] = StatusCodeName(error.ok() ? absl::StatusCode::kUnknown : error.code());
  body["message"] = error.ok() ? std::string("error reply without an error (a cvold bug)")
                               : std::string(error.message());
  return EncodeReply(id, "error", "error", body);
}

std::string EncodeProgress(uint64_t id, const json& progress) {
  return EncodeReply(id, "progress", "progress", progress);
}

std::string EncodeEvent(uint64_t id, const json& event) {
  return EncodeReply(id, "event", "event", event);
}

absl::StatusOr<Reply> ParseReply(std::string_view line) {
  constexpr absl::string_view kWhat = "reply";
  ASSIGN_OR_RETURN(json object, ParseObjectLine(line, kWhat));
  if (absl::Status s = CheckVersion(object, kWhat); !s.ok()) return s;

  Reply reply;
  ASSIGN_OR_RETURN(uint64_t id, ReadId(object, kWhat));
  reply.id = id;

  auto status = object.find("status");
  if (status == object.end() || !status->is_string()) {
    return absl::InvalidArgumentError("reply \"status\" must be a string");
  }
  const std::string& kind = status->get_ref<const std::string&>();
  absl::string_view member;
  if (kind == "ok") {
    reply.kind = Reply::kOk;
    member = "result";
  } else if (kind == "error") {
    reply.kind = Reply::kError;
    member = "error";
  } else if (kind == "progress") {
    reply.kind = Reply::kProgress;
    member = "progress";
  } else if (kind == "event") {
    reply.kind = Reply::kEvent;
    member = "event";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("reply \"status\" \"", kind,
                                                   "\" is not ok, error, progress or event"));
  }
  if (absl::Status s = RejectUnknownMembers(object, kWhat, {"version", "id", "status", member});
      !s.ok()) {
    return s;
  }
  auto body = object.find(member);
  if (body == object.end() || !body->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply \"", member, "\" must be an object"));
  }
  if (reply.kind != Reply::kError) {
    reply.body = std::move(*body);
    return reply;
  }

  auto code = body->find("code");
  auto message = body->find("message");
  if (code == body->end() || !code->is_string() || message == body->end() ||
      !message->is_string()) {
    return absl::InvalidArgumentError(
        "reply \"error\" must have a string \"code\" and a string \"message\"");
  }
  std::optional<absl::StatusCode> status_code =
      StatusCodeFromName(code->get_ref<const std::string&>());
  // OK in an error reply would make a failure look like success.
  if (!status_code.has_value() || *status_code == absl::StatusCode::kOk) {
    status_code = absl::StatusCode::kUnknown;
  }
  reply.error = absl::Status(*status_code, message->get<std::string>());
  return reply;
}

std::string StatusCodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

std::optional<absl::StatusCode> StatusCodeFromName(std::string_view name) {
  // absl::StatusCode's values are 0..16, as gRPC's codes.
  for (int i = 0; i <= 16; ++i) {
    auto code = static_cast<absl::StatusCode>(i);
    if (absl::StatusCodeToString(code) == name) return code;
  }
  return std::nullopt;
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
      return kExitConflict;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitPermission;
    default:
      return kExitFailed;
  }
}

}  // namespace cvol::control
