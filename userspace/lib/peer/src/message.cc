#include "cvol/peer/message.h"

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"
#include "nlohmann/json.hpp"

namespace cvol::peer {
namespace {

using nlohmann::json;

constexpr char kRequestKind[] = "request";
constexpr char kReplyKind[] = "reply";

// Encodes without throwing: nlohmann throws on invalid UTF-8 by default,
// and a host name or handler message is not worth an exception.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Reads the fields of one JSON object, remembering the first problem, so
// that the parsers read as a list of fields.
class FieldReader {
 public:
  FieldReader(const json& object, const char* what) : object_(object), what_(what) {}

  const json* Find(const char* name) {
    if (!status_.ok()) return nullptr;
    const auto it = object_.find(name);
    if (it == object_.end()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(what_, " has no field '", name, "'"));
      return nullptr;
    }
    return &*it;
  }

  void String(const char* name, std::string* out) {
    const json* j = Find(name);
    if (j == nullptr) return;
    if (!j->is_string()) return Mistyped(name, "a string", *j);
    *out = j->get<std::string>();
  }

  // Refuses negative numbers and fractions: nlohmann would cast them.
  void Unsigned(const char* name, uint64_t* out) {
    const json* j = Find(name);
    if (j == nullptr) return;
    if (!j->is_number_unsigned()) return Mistyped(name, "an unsigned integer", *j);
    *out = j->get<uint64_t>();
  }

  void Signed(const char* name, int64_t* out) {
    const json* j = Find(name);
    if (j == nullptr) return;
    if (!j->is_number_integer() ||
        (j->is_number_unsigned() && j->get<uint64_t>() > uint64_t{INT64_MAX})) {
      return Mistyped(name, "a 64-bit signed integer", *j);
    }
    *out = j->get<int64_t>();
  }

  void Any(const char* name, json* out) {
    const json* j = Find(name);
    if (j != nullptr) *out = *j;
  }

  void Object(const char* name, const json** out) {
    const json* j = Find(name);
    if (j == nullptr) return;
    if (!j->is_object()) return Mistyped(name, "an object", *j);
    *out = j;
  }

  void Expect(const char* name, const char* value) {
    std::string got;
    String(name, &got);
    if (status_.ok() && got != value) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(what_, " field '", name, "' is \"", got, "\", expected \"", value, "\""));
    }
  }

  void Fail(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
  }

  const absl::Status& status() const { return status_; }

 private:
  void Mistyped(const char* name, const char* expected, const json& got) {
    std::string shown = Dump(got);
    if (shown.size() > 64) shown = shown.substr(0, 64) + "...";
    status_ = absl::InvalidArgumentError(
        absl::StrCat(what_, " field '", name, "' must be ", expected, ", got ", shown));
  }

  const json& object_;
  const char* const what_;
  absl::Status status_;
};

absl::StatusOr<json> ParseObject(std::string_view text, const char* what) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not JSON: ", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a JSON object"));
  }
  return j;
}

}  // namespace

std::string StatusCodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

absl::StatusOr<absl::StatusCode> StatusCodeFromName(std::string_view name) {
  // The canonical codes are 0..16; absl names any other number "".
  for (int i = 0; i <= 16; ++i) {
    const auto code = static_cast<absl::StatusCode>(i);
    if (absl::StatusCodeToString(code) == name) return code;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown status code \"", std::string(name), "\""));
}

std::string EncodeRequest(const PeerRequest& request) {
  return Dump(json{{"kind", kRequestKind},
                   {"type", request.type},
                   {"id", request.id},
                   {"epoch", request.epoch},
                   {"from", request.from},
                   {"sent_unix_ms", request.sent_unix_ms},
                   {"body", request.body}});
}

std::string EncodeReply(const PeerReply& reply) {
  return Dump(json{{"kind", kReplyKind},
                   {"id", reply.id},
                   {"status",
                    {{"code", StatusCodeName(reply.status.code())},
                     {"message", std::string(reply.status.message())}}},
                   {"body", reply.body}});
}

absl::StatusOr<PeerRequest> ParseRequest(std::string_view text) {
  ASSIGN_OR_RETURN(json j, ParseObject(text, "peer request"));
  PeerRequest request;
  // "kind" keeps a reply from ever being taken for a request (and back),
  // e.g. a captured frame reflected to its sender.
  FieldReader fields(j, "peer request");
  fields.Expect("kind", kRequestKind);
  fields.String("type", &request.type);
  fields.Unsigned("id", &request.id);
  fields.Unsigned("epoch", &request.epoch);
  fields.String("from", &request.from);
  fields.Signed("sent_unix_ms", &request.sent_unix_ms);
  fields.Any("body", &request.body);
  if (fields.status().ok() && request.type.empty()) {
    fields.Fail(absl::InvalidArgumentError("peer request field 'type' is empty"));
  }
  RETURN_IF_ERROR(fields.status());
  return request;
}

absl::StatusOr<PeerReply> ParseReply(std::string_view text) {
  ASSIGN_OR_RETURN(json j, ParseObject(text, "peer reply"));
  PeerReply reply;
  FieldReader fields(j, "peer reply");
  fields.Expect("kind", kReplyKind);
  fields.Unsigned("id", &reply.id);
  const json* status = nullptr;
  fields.Object("status", &status);
  fields.Any("body", &reply.body);
  RETURN_IF_ERROR(fields.status());

  FieldReader status_fields(*status, "peer reply status");
  std::string code_name;
  std::string message;
  status_fields.String("code", &code_name);
  status_fields.String("message", &message);
  RETURN_IF_ERROR(status_fields.status());
  absl::StatusOr<absl::StatusCode> code = StatusCodeFromName(code_name);
  if (!code.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer reply status field 'code': ", code.status().message()));
  }
  if (*code == absl::StatusCode::kOk && !message.empty()) {
    // absl drops the message of an OK status: refuse rather than lose it.
    return absl::InvalidArgumentError("peer reply status is OK with a message");
  }
  reply.status = absl::Status(*code, message);
  return reply;
}

}  // namespace cvol::peer
