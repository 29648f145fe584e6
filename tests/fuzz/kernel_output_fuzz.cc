// The target's other answers, as the daemon and the tools read them back
// from the kernel: `dmsetup table` lines (DmLine), the replies to
// map_set/map_get, stats/dev_stats, migrate_*, freeze/freeze_wait,
// events_seq and the verbs that answer nothing, and the run tokens inside
// them. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cvol/dm_line.h"
#include "cvol/events_seq.h"
#include "cvol/freeze_messages.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "cvol/run_codec.h"
#include "cvol/stats.h"
#include "cvol/status.h"
#include "fuzz_input.h"

namespace {

void DmLineRoundTrip(absl::string_view text) {
  absl::StatusOr<cvol::DmLine> line = cvol::DmLine::Parse(text);
  if (!line.ok()) return;
  absl::StatusOr<cvol::DmLine> again = cvol::DmLine::Parse(line->Format());
  if (!again.ok() || !(*again == *line)) cvol::fuzz::Violated("DmLine Parse(Format()) differs");
}

void RunRoundTrip(absl::string_view text) {
  absl::StatusOr<cvol::Run> run = cvol::ParseRun(text);
  if (!run.ok()) return;
  absl::StatusOr<cvol::Run> again = cvol::ParseRun(cvol::FormatRun(*run));
  if (!again.ok() || !(*again == *run)) cvol::fuzz::Violated("ParseRun(FormatRun()) differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  const unsigned which = in.Select(15);
  const absl::string_view text = in.absl_rest();
  switch (which) {
    case 0: DmLineRoundTrip(text); break;
    case 1: (void)cvol::ParseMapSetResponse(text); break;
    case 2: (void)cvol::ParseMapGetResponse(text); break;
    case 3: (void)cvol::ParseEmptyResponse("thaw", text); break;
    case 4: (void)cvol::ParseStatsResponse(text); break;
    case 5: (void)cvol::ParseDevStatsResponse(text); break;
    case 6: (void)cvol::ParseMigrateCommitResponse(text); break;
    case 7: (void)cvol::ParseMigrateThrottleResponse(text); break;
    case 8: (void)cvol::ParseMigrateDirtyResponse(text); break;
    case 9: (void)cvol::ParseFreezeResponse(text); break;
    case 10: (void)cvol::ParseFreezeWaitResponse(text); break;
    case 11: (void)cvol::ParseEventsSeqResponse(text); break;
    case 12: RunRoundTrip(text); break;
    case 13: (void)cvol::ParseMapSetItem(text); break;
    case 14: (void)cvol::ParseMigrationState(text); break;
  }
  return 0;
}
