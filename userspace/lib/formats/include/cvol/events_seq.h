// `events_seq` -> "<seq> <lost>": the last event sequence number raised on
// the volume and how many events the ring dropped, so a listener that saw
// a gap (or just started) knows where the stream stands before it
// resynchronises from the status.
#ifndef CVOL_EVENTS_SEQ_H_
#define CVOL_EVENTS_SEQ_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cvol {

struct EventsSeq {
  uint64_t seq = 0;   // 0: no event yet
  uint64_t lost = 0;

  friend bool operator==(const EventsSeq&, const EventsSeq&) = default;
};

std::string FormatEventsSeq();
absl::StatusOr<EventsSeq> ParseEventsSeqResponse(absl::string_view response);

}  // namespace cvol

#endif  // CVOL_EVENTS_SEQ_H_
