// Service's KernelPort: the controller's and the peer handlers' kernel
// calls as dm-cvol messages through libdevmapper (docs/target.md), each
// under the service's lock (libdevmapper is used by one thread at a time),
// held only for one message: waits run outside it.
#include <algorithm>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cvol/freeze_messages.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {

// dm-cvol refuses a message under an epoch older than one the volume has
// seen with ESTALE, which DmClient reports as kAborted (absl's mapping; no
// other errno of a dm-cvol message maps there).
absl::StatusOr<std::string> KernelReply(absl::StatusOr<std::string> reply) {
  if (reply.status().code() == absl::StatusCode::kAborted) {
    return StaleEpochError(reply.status().message());
  }
  return reply;
}

absl::Status Service::Activate(const Snapshot& snap, const VolumeRecord& volume) {
  absl::MutexLock lock(&mu_);
  return ActivateVolume(snap, volume);
}

absl::StatusOr<KernelExtent> Service::Read(const ExtentRef& e) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(ExtentState st, ReadExtent(e.volume, e.extent_sectors, e.vext));
  return KernelExtent{st.location, st.migration};
}

void Service::WaitForProgress(absl::Duration most) {
  absl::MutexLock lock(&mu_);
  kernel_progress_.WaitWithTimeout(&mu_, most);
}

absl::StatusOr<std::string> Service::MessageToExtent(
    const ExtentRef& e, const std::function<absl::StatusOr<std::string>(uint64_t)>& format) {
  ASSIGN_OR_RETURN(ExtentState st, ReadExtent(e.volume, e.extent_sectors, e.vext));
  ASSIGN_OR_RETURN(std::string text, format(st.at.local_vext));
  return KernelReply(dm_.Message(st.dm_name, st.at.sector, text));
}

absl::Status Service::MigrateStart(const ExtentRef& e, Location dst, MigrateMode mode,
                                   uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  return MessageToExtent(e, [&](uint64_t v) -> absl::StatusOr<std::string> {
           ASSIGN_OR_RETURN(std::string text, FormatMigrateStart(v, dst, mode));
           return WithEpoch(std::move(text), epoch);
         }).status();
}

absl::StatusOr<MigrateDirty> Service::MigrateDirtyRegions(const ExtentRef& e, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::string text,
                   MessageToExtent(e, [&](uint64_t v) -> absl::StatusOr<std::string> {
                     ASSIGN_OR_RETURN(std::string text, FormatMigrateDirty(v));
                     return WithEpoch(std::move(text), epoch);
                   }));
  return ParseMigrateDirtyResponse(text);
}

absl::Status Service::MigrateCommit(const ExtentRef& e, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  return MessageToExtent(e, [&](uint64_t v) -> absl::StatusOr<std::string> {
           ASSIGN_OR_RETURN(std::string text, FormatMigrateCommit(v));
           return WithEpoch(std::move(text), epoch);
         }).status();
}

absl::Status Service::MigrateAbort(const ExtentRef& e, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  return MessageToExtent(e, [&](uint64_t v) -> absl::StatusOr<std::string> {
           ASSIGN_OR_RETURN(std::string text, FormatMigrateAbort(v));
           return WithEpoch(std::move(text), epoch);
         }).status();
}

absl::StatusOr<uint64_t> Service::Freeze(const ExtentRef& e, uint64_t timeout_ms,
                                         uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::string text, MessageToExtent(e, [&](uint64_t v) {
                     return WithEpoch(FormatFreeze(v, 1, timeout_ms), epoch);
                   }));
  return ParseFreezeResponse(text);
}

absl::Status Service::FreezeWait(const ExtentRef& e, uint64_t id, uint64_t wait_ms) {
  // The kernel waits inside the message, under mu_, which every other
  // kernel call needs (the lease renewal too): wait in short slices and
  // let them in between, or one slow drain stalls every change here.
  constexpr uint64_t kSliceMs = 100;
  const absl::Time deadline = clock_.Now() + absl::Milliseconds(wait_ms);
  while (true) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - clock_.Now());
    const uint64_t slice = std::clamp<int64_t>(left, 1, kSliceMs);
    absl::Status s;
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<std::string> text = MessageToExtent(e, [&](uint64_t) {
        return absl::StatusOr<std::string>(FormatFreezeWait(id, slice));
      });
      s = text.ok() ? ParseFreezeWaitResponse(*text) : text.status();
    }
    // ETIMEDOUT: not drained within the slice.
    if (s.code() != absl::StatusCode::kDeadlineExceeded || left <= static_cast<int64_t>(slice)) {
      return s;
    }
  }
}

absl::Status Service::Thaw(const ExtentRef& e, uint64_t id, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  return MessageToExtent(e, [&](uint64_t) { return WithEpoch(FormatThaw(id), epoch); }).status();
}

absl::Status Service::SetLocation(const ExtentRef& e, Location to, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(ExtentState st, ReadExtent(e.volume, e.extent_sectors, e.vext));
  return MapSetFrozen(st.dm_name, st.at.sector, {MapSetItem{st.at.local_vext, 1, to}}, epoch);
}

// One message per batch of runs: a whole dirty list may hold more runs
// than one message should carry. Each batch only adds regions to copy, so
// a batch refused after others leaves nothing half done: the caller asks
// again.
absl::Status Service::MigrateRecopy(const ExtentRef& e, const std::vector<DirtyRun>& runs,
                                    uint64_t epoch) {
  constexpr size_t kRunsPerMessage = 1024;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < runs.size(); i += kRunsPerMessage) {
    const std::vector<DirtyRun> batch(runs.begin() + i,
                                      runs.begin() + std::min(runs.size(), i + kRunsPerMessage));
    RETURN_IF_ERROR(MessageToExtent(e, [&](uint64_t local) -> absl::StatusOr<std::string> {
                      ASSIGN_OR_RETURN(std::string text, FormatMigrateRecopy(local, batch));
                      return WithEpoch(std::move(text), epoch);
                    }).status());
  }
  return absl::OkStatus();
}

}  // namespace cvol::daemon
