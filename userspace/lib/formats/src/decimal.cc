#include "cvol/decimal.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace cvol {
namespace {

absl::Status Invalid(absl::string_view what, absl::string_view token,
                     absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", token, "\": ", reason));
}

}  // namespace

absl::StatusOr<uint64_t> ParseDecimal(absl::string_view token,
                                      absl::string_view what, uint64_t max) {
  if (token.empty()) return Invalid(what, token, "empty number");
  if (token[0] == '-') return Invalid(what, token, "negative numbers are not allowed");
  if (token[0] == '+') return Invalid(what, token, "a sign is not allowed");
  if (token.size() > 1 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
    return Invalid(what, token, "hex is not accepted, use decimal");
  }
  uint64_t value = 0;
  for (char c : token) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return Invalid(what, token, "not a decimal number");
    }
  }
  // Leading zeros are how C writes octal; refuse rather than guess.
  if (token.size() > 1 && token[0] == '0') {
    return Invalid(what, token, "leading zeros are not allowed");
  }
  for (char c : token) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (digit > max || value > (max - digit) / 10) {
      return Invalid(what, token, absl::StrCat("out of range (maximum ", max, ")"));
    }
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace cvol
