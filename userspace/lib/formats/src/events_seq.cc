#include "cvol/events_seq.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"
#include "cvol/word_reader.h"
#include "linux/dm-cvol.h"

namespace cvol {

std::string FormatEventsSeq() { return CVOL_MSG_EVENTS_SEQ; }

absl::StatusOr<EventsSeq> ParseEventsSeqResponse(absl::string_view response) {
  WordReader reader(response);
  ASSIGN_OR_RETURN(uint64_t seq, reader.NextDecimal("events_seq seq"));
  ASSIGN_OR_RETURN(uint64_t lost, reader.NextDecimal("events_seq lost"));
  if (!reader.AtEnd()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "events_seq response \"", response, "\": expected only <seq> <lost>"));
  }
  return EventsSeq{seq, lost};
}

}  // namespace cvol
