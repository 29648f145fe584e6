// Strict parsing of the decimal numbers used in table lines, messages and
// status: the kernel target speaks decimal only, so anything else (hex, a
// sign, leading zeros, trailing garbage) is a caller bug we want to report.
#ifndef CVOL_DECIMAL_H_
#define CVOL_DECIMAL_H_

#include <cstdint>
#include <limits>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

// Parses `token` as an unsigned decimal number in [0, max]. Rejects empty
// tokens, signs, "0x" prefixes, leading zeros ("007"), and any non-digit.
// `what` names the value in the error, e.g.
//   extent_sectors "0x80": hex is not accepted, use decimal
absl::StatusOr<uint64_t> ParseDecimal(
    absl::string_view token, absl::string_view what,
    uint64_t max = std::numeric_limits<uint64_t>::max());

}  // namespace cvol

#endif  // CVOL_DECIMAL_H_
