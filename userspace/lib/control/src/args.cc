#include "cvol/control/args.h"

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

absl::string_view TypeName(const json& value) {
  return value.is_number() ? "number" : value.type_name();
}

absl::Status WrongType(std::string_view name, std::string_view wanted, const json& value) {
  return absl::InvalidArgumentError(
      absl::StrCat("argument '", Av(name), "' must be ", Av(wanted), ", not ", TypeName(value), " ",
                   value.dump(-1, ' ', false, json::error_handler_t::replace)));
}

absl::Status Missing(std::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat("missing argument '", Av(name), "'"));
}

}  // namespace

ArgReader::ArgReader(const json& args) : args_(args) {
  if (!args_.is_object()) {
    first_error_ = absl::InvalidArgumentError(
        absl::StrCat("arguments must be a JSON object, not ", TypeName(args_)));
  }
}

absl::Status ArgReader::Fail(absl::Status status) {
  if (first_error_.ok()) first_error_ = status;
  return status;
}

absl::StatusOr<const json*> ArgReader::Find(std::string_view name) {
  if (!args_.is_object()) return first_error_;
  read_.emplace(name);
  auto it = args_.find(name);
  if (it == args_.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<std::string>> ArgReader::OptionalString(std::string_view name) {
  ASSIGN_OR_RETURN(const json* value, Find(name));
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return Fail(WrongType(name, "a string", *value));
  return value->get<std::string>();
}

absl::StatusOr<nlohmann::json> ArgReader::Raw(std::string_view name) {
  ASSIGN_OR_RETURN(const json* value, Find(name));
  if (value == nullptr) return Fail(Missing(name));
  return *value;
}

absl::StatusOr<std::string> ArgReader::String(std::string_view name) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, OptionalString(name));
  if (!value.has_value()) return Fail(Missing(name));
  return std::move(*value);
}

absl::StatusOr<std::optional<uint64_t>> ArgReader::OptionalUint(std::string_view name) {
  ASSIGN_OR_RETURN(const json* value, Find(name));
  if (value == nullptr) return std::nullopt;
  // Parsed JSON holds integer literals >= 0 as unsigned, negatives as
  // signed and fractions, exponents and overflowing literals as floats; a
  // json built in C++ from an int is signed, so both integer kinds count.
  const json& number = *value;
  if (number.is_number_unsigned()) return number.get<uint64_t>();
  if (number.is_number_integer() && number.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(number.get<int64_t>());
  }
  return Fail(WrongType(name, "a non-negative integer", number));
}

absl::StatusOr<uint64_t> ArgReader::Uint(std::string_view name) {
  ASSIGN_OR_RETURN(std::optional<uint64_t> value, OptionalUint(name));
  if (!value.has_value()) return Fail(Missing(name));
  return *value;
}

absl::StatusOr<bool> ArgReader::Bool(std::string_view name, bool default_value) {
  ASSIGN_OR_RETURN(const json* value, Find(name));
  if (value == nullptr) return default_value;
  if (!value->is_boolean()) return Fail(WrongType(name, "true or false", *value));
  return value->get<bool>();
}

absl::Status ArgReader::Finish() {
  if (!first_error_.ok()) return first_error_;
  for (const auto& [key, unused] : args_.items()) {
    if (!read_.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", key, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cvol::control
