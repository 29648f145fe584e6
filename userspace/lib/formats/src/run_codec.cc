#include "cvol/run_codec.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cvol/decimal.h"

namespace cvol {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();

// Wraps a field error so the message also shows the whole token.
absl::Status InToken(absl::string_view kind, absl::string_view token,
                     const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat(kind, " \"", token, "\": ", status.message()));
}

absl::Status CheckRangeFits(absl::string_view kind, absl::string_view token,
                            uint64_t vext, uint64_t pext, uint64_t count) {
  if (count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " \"", token, "\": count must be at least 1"));
  }
  if (vext > kU64Max - count || pext > kU64Max - count) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind, " \"", token, "\": count ", count, " runs past the end of the extent space"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Run> ParseRun(absl::string_view token) {
  const std::vector<absl::string_view> fields = absl::StrSplit(token, ':');
  if (fields.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "run \"", token, "\": expected <vext>:<dev>:<pext>:<count>"));
  }
  absl::StatusOr<uint64_t> vext = ParseDecimal(fields[0], "vext");
  if (!vext.ok()) return InToken("run", token, vext.status());
  absl::StatusOr<uint64_t> dev = ParseDecimal(fields[1], "dev", kU32Max);
  if (!dev.ok()) return InToken("run", token, dev.status());
  absl::StatusOr<uint64_t> pext = ParseDecimal(fields[2], "pext");
  if (!pext.ok()) return InToken("run", token, pext.status());
  absl::StatusOr<uint64_t> count = ParseDecimal(fields[3], "count");
  if (!count.ok()) return InToken("run", token, count.status());
  if (absl::Status s = CheckRangeFits("run", token, *vext, *pext, *count); !s.ok()) {
    return s;
  }
  return Run{*vext, static_cast<uint32_t>(*dev), *pext, *count};
}

std::string FormatRun(const Run& run) { return ToString(run); }

absl::StatusOr<MapSetItem> ParseMapSetItem(absl::string_view token) {
  const std::vector<absl::string_view> fields = absl::StrSplit(token, ':');
  if (fields.size() != 3 && fields.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "map_set item \"", token, "\": expected <vext>:<dev>:<pext>[:<count>]"));
  }
  absl::StatusOr<uint64_t> vext = ParseDecimal(fields[0], "vext");
  if (!vext.ok()) return InToken("map_set item", token, vext.status());
  uint64_t count = 1;
  if (fields.size() == 4) {
    absl::StatusOr<uint64_t> parsed = ParseDecimal(fields[3], "count");
    if (!parsed.ok()) return InToken("map_set item", token, parsed.status());
    count = *parsed;
  }
  MapSetItem item{*vext, count, std::nullopt};
  if (fields[1] == "-") {
    if (fields[2] != "0") {
      return absl::InvalidArgumentError(absl::StrCat(
          "map_set item \"", token, "\": an unmap item must have pext 0"));
    }
  } else {
    absl::StatusOr<uint64_t> dev = ParseDecimal(fields[1], "dev", kU32Max);
    if (!dev.ok()) return InToken("map_set item", token, dev.status());
    absl::StatusOr<uint64_t> pext = ParseDecimal(fields[2], "pext");
    if (!pext.ok()) return InToken("map_set item", token, pext.status());
    item.target = Location{static_cast<uint32_t>(*dev), *pext};
  }
  const uint64_t pext = item.target ? item.target->pext : 0;
  if (absl::Status s = CheckRangeFits("map_set item", token, item.vext, pext, count);
      !s.ok()) {
    return s;
  }
  return item;
}

std::string FormatMapSetItem(const MapSetItem& item) {
  std::string text = item.is_unmap()
                         ? absl::StrCat(item.vext, ":-:0")
                         : absl::StrCat(item.vext, ":", item.target->dev, ":",
                                        item.target->pext);
  if (item.count != 1) absl::StrAppend(&text, ":", item.count);
  return text;
}

absl::Status CheckRunsDisjoint(absl::Span<const Run> runs) {
  std::vector<const Run*> sorted;
  sorted.reserve(runs.size());
  for (const Run& run : runs) sorted.push_back(&run);
  std::sort(sorted.begin(), sorted.end(),
            [](const Run* a, const Run* b) { return a->vext < b->vext; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    const Run& prev = *sorted[i - 1];
    const Run& cur = *sorted[i];
    if (cur.vext - prev.vext < prev.count) {  // no overflow: sorted
      return absl::InvalidArgumentError(
          absl::StrCat("runs \"", FormatRun(prev), "\" and \"", FormatRun(cur),
                       "\" overlap"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cvol
