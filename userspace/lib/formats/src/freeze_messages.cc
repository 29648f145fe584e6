#include "cvol/freeze_messages.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {

std::string FormatFreeze(uint64_t vext, uint64_t count, std::optional<uint64_t> timeout_ms) {
  std::string text = absl::StrCat(CVOL_MSG_FREEZE, " ", vext, " ", count);
  if (timeout_ms) absl::StrAppend(&text, " ", *timeout_ms);
  return text;
}

std::string FormatFreezeWait(uint64_t id, uint64_t timeout_ms) {
  // The target refuses longer waits (they would run inside dm's table lock);
  // a caller that wants longer asks again.
  return absl::StrCat(CVOL_MSG_FREEZE_WAIT, " ", id, " ",
                      std::min<uint64_t>(timeout_ms, CVOL_MAX_FREEZE_WAIT_MS));
}

std::string FormatThaw(uint64_t id) { return absl::StrCat(CVOL_MSG_THAW, " ", id); }

absl::StatusOr<uint64_t> ParseFreezeResponse(absl::string_view response) {
  WordReader reader(response);
  ASSIGN_OR_RETURN(uint64_t id, reader.NextDecimal("freeze response id"));
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "freeze response \"", response, "\": expected only the freeze id"));
  }
  return id;
}

absl::Status ParseFreezeWaitResponse(absl::string_view response) {
  WordReader reader(response);
  ASSIGN_OR_RETURN(absl::string_view word, reader.Next("freeze_wait response"));
  if (word != CVOL_FREEZE_DRAINED || !reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "freeze_wait response \"", response, "\": expected \"", CVOL_FREEZE_DRAINED, "\""));
  }
  return absl::OkStatus();
}

}  // namespace cvol
