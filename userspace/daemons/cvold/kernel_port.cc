#include "kernel_port.h"

#include "absl/strings/cord.h"

namespace cvol::daemon {
namespace {

constexpr absl::string_view kStaleEpochPayload = "cvol.dev/kernel/stale_epoch";

}  // namespace

absl::Status StaleEpochError(absl::string_view why) {
  absl::Status s = absl::FailedPreconditionError(why);
  s.SetPayload(kStaleEpochPayload, absl::Cord("ESTALE"));
  return s;
}

bool IsStaleEpoch(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition &&
         s.GetPayload(kStaleEpochPayload).has_value();
}

}  // namespace cvol::daemon
