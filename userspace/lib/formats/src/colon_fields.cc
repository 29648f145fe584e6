#include "cvol/colon_fields.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cvol/decimal.h"

namespace cvol {

absl::StatusOr<std::vector<uint64_t>> ParseColonFields(
    absl::string_view kind, absl::string_view token,
    std::initializer_list<absl::string_view> names) {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, ':');
  if (parts.size() != names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind, " \"", token, "\": expected ",
        absl::StrJoin(names, ":", [](std::string* out, absl::string_view name) {
          absl::StrAppend(out, "<", name, ">");
        })));
  }
  std::vector<uint64_t> values;
  values.reserve(parts.size());
  auto name = names.begin();
  for (absl::string_view part : parts) {
    absl::StatusOr<uint64_t> value = ParseDecimal(part, *name++);
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " \"", token, "\": ", value.status().message()));
    }
    values.push_back(*value);
  }
  return values;
}

}  // namespace cvol
