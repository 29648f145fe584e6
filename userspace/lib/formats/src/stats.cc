#include "cvol/stats.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/colon_fields.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {

std::string FormatStats(uint64_t vext, uint64_t count, bool clear) {
  std::string text = absl::StrCat(CVOL_MSG_STATS, " ", vext, " ", count);
  if (clear) absl::StrAppend(&text, " ", CVOL_ARG_CLEAR);
  return text;
}

std::string FormatDevStats(bool clear) {
  std::string text = CVOL_MSG_DEV_STATS;
  if (clear) absl::StrAppend(&text, " ", CVOL_ARG_CLEAR);
  return text;
}

absl::StatusOr<ExtentStatsResponse> ParseStatsResponse(absl::string_view response) {
  WordReader reader(response);
  ExtentStatsResponse out;
  ASSIGN_OR_RETURN(uint64_t per_entry, reader.NextDecimal("stats extents_per_entry"));
  if (per_entry == 0 || (per_entry & (per_entry - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stats extents_per_entry ", per_entry, ": not a power of two"));
  }
  out.extents_per_entry = per_entry;
  for (absl::string_view token : reader.Rest()) {
    ASSIGN_OR_RETURN(
        std::vector<uint64_t> f,
        ParseColonFields("stats entry", token,
                         {"vext", "reads", "writes", "read_sectors", "write_sectors", "seq_ios"}));
    const ExtentStats e{f[0], f[1], f[2], f[3], f[4], f[5]};
    if (e.vext % out.extents_per_entry != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stats entry \"", token, "\": vext is not a multiple of extents_per_entry ",
          out.extents_per_entry));
    }
    if (!out.entries.empty() && e.vext <= out.entries.back().vext) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stats entry \"", token, "\": vext not above the previous entry's ",
          out.entries.back().vext));
    }
    out.entries.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<DeviceStats>> ParseDevStatsResponse(absl::string_view response) {
  std::vector<DeviceStats> out;
  for (absl::string_view token : WordReader(response).Rest()) {
    ASSIGN_OR_RETURN(std::vector<uint64_t> f,
                     ParseColonFields("dev_stats entry", token,
                                      {"slot", "reads", "writes", "read_sectors", "write_sectors",
                                       "read_ns", "write_ns", "seq_ios", "errors"}));
    if (f[0] >= CVOL_MAX_DEVS) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dev_stats entry \"", token, "\": slot ", f[0], " out of range (maximum ",
          CVOL_MAX_DEVS - 1, ")"));
    }
    const DeviceStats d{static_cast<uint32_t>(f[0]), f[1], f[2], f[3], f[4],
                        f[5], f[6], f[7], f[8]};
    if (!out.empty() && d.slot <= out.back().slot) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dev_stats entry \"", token, "\": slot not above the previous entry's ",
          out.back().slot));
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace cvol
