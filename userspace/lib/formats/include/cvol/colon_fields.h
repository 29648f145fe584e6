// Tokens of colon-separated decimal fields, as the target writes its
// per-item response and status entries ("<vext>:<reads>:<writes>...").
#ifndef CVOL_COLON_FIELDS_H_
#define CVOL_COLON_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

// Splits `token` at every ':' and parses each part with ParseDecimal,
// naming it by the matching entry of `names`. `kind` names the token in
// errors, e.g.
//   stats entry "3:1:x": writes "x": not a decimal number
//   stats entry "3:1": expected <vext>:<reads>:<writes>
absl::StatusOr<std::vector<uint64_t>> ParseColonFields(
    absl::string_view kind, absl::string_view token,
    std::initializer_list<absl::string_view> names);

}  // namespace cvol

#endif  // CVOL_COLON_FIELDS_H_
