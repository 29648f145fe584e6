#include "cvol/lease_messages.h"

#include "absl/strings/str_cat.h"
#include "linux/dm-cvol.h"

namespace cvol {

std::string FormatLease(uint64_t ms, std::optional<FencePolicy> policy) {
  std::string text = absl::StrCat(CVOL_MSG_LEASE, " ", ms);
  if (policy) {
    absl::StrAppend(&text, " ",
                    *policy == FencePolicy::kHold ? CVOL_LEASE_HOLD : CVOL_LEASE_ERROR);
  }
  return text;
}

std::string FormatFence() { return CVOL_MSG_FENCE; }

std::string FormatUnfence(uint64_t epoch) { return absl::StrCat(CVOL_MSG_UNFENCE, " ", epoch); }

}  // namespace cvol
