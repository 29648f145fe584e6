// The records cvold reads back from etcd (records.h: pool, pv, volume,
// move). etcd is shared and outlives versions, so any text can be there;
// the first byte picks the record type. A record that decodes must
// encode to text that decodes to the same record, and a volume record
// that decodes must be consistent (CheckVolume's promise).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "records.h"

namespace {

template <typename Record>
void RoundTrip(absl::StatusOr<Record> (*decode)(const std::string&),
               std::string (*encode)(const Record&), const std::string& text) {
  absl::StatusOr<Record> r = decode(text);
  if (!r.ok()) return;
  absl::StatusOr<Record> again = decode(encode(*r));
  if (!again.ok() || !(*again == *r)) cvol::fuzz::Violated("Decode(Encode(record)) differs");
}

// What a decoded volume promises the rest of cvold: the segments tile
// [0, extents) and the runs lie inside it.
void CheckVolumeShape(const std::string& text) {
  absl::StatusOr<cvol::daemon::VolumeRecord> v = cvol::daemon::DecodeVolume(text);
  if (!v.ok()) return;
  unsigned __int128 covered = 0;
  for (const cvol::daemon::Segment& s : v->segments) covered += s.extents;
  if (covered != v->extents) cvol::fuzz::Violated("the segments do not add up to the volume");
  for (const cvol::Run& run : v->runs) {
    if (static_cast<unsigned __int128>(run.vext) + run.count > v->extents) {
      cvol::fuzz::Violated("a run lies outside the volume");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace d = cvol::daemon;
  cvol::fuzz::FuzzInput in(data, size);
  const unsigned which = in.Select(5);
  const std::string text(in.rest());
  switch (which) {
    case 0: RoundTrip<d::PoolRecord>(d::DecodePool, d::EncodePool, text); break;
    case 1: RoundTrip<d::PvRecord>(d::DecodePv, d::EncodePv, text); break;
    case 2:
      RoundTrip<d::VolumeRecord>(d::DecodeVolume, d::EncodeVolume, text);
      CheckVolumeShape(text);
      break;
    case 3: RoundTrip<d::MoveRecord>(d::DecodeMove, d::EncodeMove, text); break;
    case 4: (void)d::ParseStep(text); break;
  }
  return 0;
}
