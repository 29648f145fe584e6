#include "cvol/messages.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/run_codec.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

// " epoch=" plus the longest epoch the target accepts (2^48 - 1).
constexpr size_t kEpochWordBytes = 1 + sizeof(CVOL_ARG_EPOCH) - 1 + 15;
static_assert(CVOL_MAX_EPOCH < 1000000000000000ULL, "kEpochWordBytes counts 15 digits");

// "map_set " plus the longest 64-bit number.
constexpr size_t kMapSetHeaderBytes = sizeof(CVOL_MSG_MAP_SET) - 1 + 1 + 20;

}  // namespace

std::string FormatMapSet(uint64_t expect_gen, absl::Span<const MapSetItem> items) {
  std::string text = absl::StrCat(CVOL_MSG_MAP_SET, " ", expect_gen);
  for (const MapSetItem& item : items) {
    absl::StrAppend(&text, " ", FormatMapSetItem(item));
  }
  return text;
}

absl::StatusOr<std::string> WithEpoch(std::string message, uint64_t epoch) {
  if (epoch > CVOL_MAX_EPOCH) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch ", epoch, " is beyond the target's maximum ", CVOL_MAX_EPOCH));
  }
  if (epoch != 0) absl::StrAppend(&message, " ", CVOL_ARG_EPOCH, epoch);
  return message;
}

std::string FormatMapGet(uint64_t vext, uint64_t count) {
  return absl::StrCat(CVOL_MSG_MAP_GET, " ", vext, " ", count);
}

absl::StatusOr<uint64_t> ParseMapSetResponse(absl::string_view response) {
  WordReader reader(response);
  ASSIGN_OR_RETURN(uint64_t gen, reader.NextDecimal("map_set response generation"));
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "map_set response \"", response, "\": expected only the new generation"));
  }
  return gen;
}

absl::StatusOr<std::vector<Run>> ParseMapGetResponse(absl::string_view response) {
  std::vector<Run> runs;
  for (absl::string_view token : WordReader(response).Rest()) {
    ASSIGN_OR_RETURN(Run run, ParseRun(token));
    runs.push_back(run);
  }
  if (absl::Status s = CheckRunsDisjoint(runs); !s.ok()) return s;
  return runs;
}

absl::Status ParseEmptyResponse(absl::string_view verb, absl::string_view response) {
  if (!WordReader(response).AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        verb, " response \"", response, "\": expected no response"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<MapSetItem>>> SplitMapSet(
    absl::Span<const MapSetItem> items, const MapSetLimits& limits) {
  std::vector<std::vector<MapSetItem>> batches;
  const size_t header = kMapSetHeaderBytes + (limits.epoch_word ? kEpochWordBytes : 0);
  size_t bytes = 0;
  for (const MapSetItem& item : items) {
    const size_t item_bytes = 1 + FormatMapSetItem(item).size();  // " <item>"
    if (header + item_bytes > limits.max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a map_set message of at most ", limits.max_bytes,
          " bytes cannot hold item \"", FormatMapSetItem(item), "\""));
    }
    const bool full =
        batches.empty() || bytes + item_bytes > limits.max_bytes ||
        (limits.max_items != 0 && batches.back().size() >= limits.max_items);
    if (full) {
      batches.emplace_back();
      bytes = header;
    }
    batches.back().push_back(item);
    bytes += item_bytes;
  }
  return batches;
}

}  // namespace cvol
