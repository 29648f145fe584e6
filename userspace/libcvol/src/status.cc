#include "cvol/status.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cvol/decimal.h"
#include "cvol/word_reader.h"

namespace cvol {
namespace {

absl::StatusOr<DeviceHealth> ParseHealth(char c, absl::string_view token) {
  switch (c) {
    case 'A': return DeviceHealth::kAlive;
    case 'D': return DeviceHealth::kIoErrors;
    case 'W': return DeviceHealth::kDestinationWriteErrors;
    case '-': return DeviceHealth::kEmptySlot;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "health \"", token, "\": unknown character '", absl::string_view(&c, 1),
          "' (expected A, D, W or -)"));
  }
}

}  // namespace

absl::StatusOr<TargetStatus> TargetStatus::Parse(absl::string_view info) {
  WordReader reader(info);
  TargetStatus status;

  absl::StatusOr<uint64_t> gen = reader.NextDecimal("map_gen");
  if (!gen.ok()) return gen.status();
  status.map_gen = *gen;

  absl::StatusOr<absl::string_view> extents = reader.Next("<mapped>/<total>");
  if (!extents.ok()) return extents.status();
  const std::vector<absl::string_view> parts = absl::StrSplit(*extents, '/');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extents \"", *extents, "\": expected <mapped>/<total>"));
  }
  absl::StatusOr<uint64_t> mapped = ParseDecimal(parts[0], "mapped extents");
  if (!mapped.ok()) return mapped.status();
  absl::StatusOr<uint64_t> total = ParseDecimal(parts[1], "total extents");
  if (!total.ok()) return total.status();
  if (*mapped > *total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extents \"", *extents, "\": more extents mapped than exist"));
  }
  status.mapped_extents = *mapped;
  status.total_extents = *total;

  absl::StatusOr<absl::string_view> health = reader.Next("health characters");
  if (!health.ok()) return health.status();
  for (char c : *health) {
    absl::StatusOr<DeviceHealth> h = ParseHealth(c, *health);
    if (!h.ok()) return h.status();
    status.health.push_back(*h);
  }

  for (absl::string_view word : reader.Rest()) status.trailing_fields.emplace_back(word);
  return status;
}

}  // namespace cvol
