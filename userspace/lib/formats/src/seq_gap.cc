#include "cvol/seq_gap.h"

#include "cvol/json_line.h"

namespace cvol {

SeqObservation SeqGapDetector::Observe(absl::string_view uuid, uint64_t seq) {
  SeqObservation obs;
  obs.got = seq;
  auto [it, inserted] = next_.try_emplace(uuid, 0);
  if (inserted) {
    obs.kind = SeqObservation::kFirst;
  } else {
    obs.expected = it->second;
    if (seq == obs.expected) {
      obs.kind = SeqObservation::kInOrder;
    } else if (seq > obs.expected) {
      obs.kind = SeqObservation::kGap;
    } else {
      obs.kind = SeqObservation::kRestart;
    }
  }
  // Wraps to 0 only after 2^64 events; then the next one reads as a restart.
  it->second = seq + 1;
  return obs;
}

std::string GapToJson(absl::string_view uuid, const SeqObservation& gap) {
  return JsonObjectWriter()
      .Add("type", "gap")
      .Add("uuid", uuid)
      .Add("expected", gap.expected)
      .Add("got", gap.got)
      .Finish();
}

}  // namespace cvol
