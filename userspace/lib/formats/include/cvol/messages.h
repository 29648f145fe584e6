// The target messages (`dmsetup message <dev> 0 <text>`) that read and
// change the live map, and their responses.
#ifndef CVOL_MESSAGES_H_
#define CVOL_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cvol/map_types.h"

namespace cvol {

// "map_set <expect_gen> <item>..." with items as FormatMapSetItem writes
// them. The kernel applies all items or none and answers with the new
// generation.
std::string FormatMapSet(uint64_t expect_gen, absl::Span<const MapSetItem> items);

// The cluster epoch a message is sent under (target 1.4), as its last word
// " epoch=<n>": the volume refuses (ESTALE) one older than an epoch it has
// seen, so a deposed controller cannot act even after it passed the etcd
// check. Epoch 0 appends nothing (single-host mode has no epochs). Refuses
// what the target would (ERANGE): an epoch beyond CVOL_MAX_EPOCH. Only
// map_set, freeze, thaw and the migrate_* messages but migrate_throttle
// take the word (docs/target.md, "Cluster epochs").
absl::StatusOr<std::string> WithEpoch(std::string message, uint64_t epoch);

// "map_get <vext> <count>".
std::string FormatMapGet(uint64_t vext, uint64_t count);

// The map_set response: the new generation, one decimal number.
absl::StatusOr<uint64_t> ParseMapSetResponse(absl::string_view response);

// The map_get response: space-separated runs <vext>:<dev>:<pext>:<count>,
// possibly none. Runs must not overlap.
absl::StatusOr<std::vector<Run>> ParseMapGetResponse(absl::string_view response);

// For messages that answer nothing (thaw, lease, fence, unfence): anything
// but whitespace in the response means the kernel and this library
// disagree about the verb, which the caller should hear about.
absl::Status ParseEmptyResponse(absl::string_view verb, absl::string_view response);

// Bounds for one map_set message. Messages run under the live table and
// travel in one ioctl buffer, so a large diff goes as several messages.
struct MapSetLimits {
  static constexpr size_t kDefaultMaxBytes = 64 * 1024;

  size_t max_bytes = kDefaultMaxBytes;  // length of the whole message text
  size_t max_items = 0;                 // 0: no limit
  bool epoch_word = false;              // room for WithEpoch's word
};

// Splits `items` into consecutive batches such that FormatMapSet(gen,
// batch) fits `limits` for every 64-bit gen (and, with epoch_word, with
// WithEpoch's word for every epoch). Order is kept, so a caller
// sending the batches in sequence applies the same change. Fails if the
// limits cannot hold even one item.
absl::StatusOr<std::vector<std::vector<MapSetItem>>> SplitMapSet(
    absl::Span<const MapSetItem> items, const MapSetLimits& limits = {});

}  // namespace cvol

#endif  // CVOL_MESSAGES_H_
