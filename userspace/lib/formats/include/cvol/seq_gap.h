// Per-volume event sequence tracking. The kernel numbers each volume's
// events 1, 2, 3, ... and only skips numbers when its ring overflowed, so
// a jump tells the listener that it missed events and must resynchronise
// from the status (events_seq, dmsetup status).
#ifndef CVOL_SEQ_GAP_H_
#define CVOL_SEQ_GAP_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace cvol {

struct SeqObservation {
  enum Kind {
    kFirst,    // first event seen for this volume: nothing to compare
    kInOrder,  // the expected next number
    kGap,      // numbers expected..got-1 were missed
    kRestart,  // a number at or below one seen before: the volume was
               // recreated (its sequence starts again) or a duplicate
  };
  Kind kind = kFirst;
  uint64_t expected = 0;  // for kInOrder, kGap and kRestart
  uint64_t got = 0;
};

class SeqGapDetector {
 public:
  // Records `seq` for `uuid` and says how it relates to the previous one.
  SeqObservation Observe(absl::string_view uuid, uint64_t seq);

  // Forgets a volume, e.g. after resynchronising it from its status.
  void Reset(absl::string_view uuid) { next_.erase(uuid); }

 private:
  absl::flat_hash_map<std::string, uint64_t> next_;  // uuid -> expected seq
};

// {"type":"gap","uuid":..,"expected":..,"got":..}
std::string GapToJson(absl::string_view uuid, const SeqObservation& gap);

}  // namespace cvol

#endif  // CVOL_SEQ_GAP_H_
