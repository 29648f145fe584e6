// Service's KernelPort: the controller's and the peer handlers' kernel
// calls as dm-cvol messages through libdevmapper (docs/target.md), each
// under the service's lock (libdevmapper is used by one thread at a time),
// held only for one message: waits and copies run outside it.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cvol/freeze_messages.h"
#include "cvol/messages.h"
#include "cvol/migrate_messages.h"
#include "cvol/unique_fd.h"
#include "service.h"
#include "cvol/status_macros.h"

namespace cvol::daemon {
namespace {

// Copies [offset, offset+bytes) from one block device to another with
// O_DIRECT, then flushes the destination.
absl::Status CopyRange(const std::string& from, uint64_t from_offset, const std::string& to,
                       uint64_t to_offset, uint64_t bytes,
                       const std::function<absl::Status()>& may_write) {
  UniqueFd in(open(from.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!in.ok()) return absl::UnavailableError(absl::StrCat("open ", from, ": ", strerror(errno)));
  UniqueFd out(open(to.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  if (!out.ok()) return absl::UnavailableError(absl::StrCat("open ", to, ": ", strerror(errno)));
  constexpr size_t kChunk = 1 << 20;
  void* raw = nullptr;
  if (posix_memalign(&raw, 4096, kChunk) != 0) {
    return absl::ResourceExhaustedError("no memory for the copy buffer");
  }
  std::unique_ptr<void, decltype(&free)> buffer(raw, &free);
  for (uint64_t done = 0; done < bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - done));
    if (absl::Status s = may_write(); !s.ok()) return s;
    if (pread(in.get(), raw, n, static_cast<off_t>(from_offset + done)) != static_cast<ssize_t>(n)) {
      return absl::DataLossError(absl::StrCat("read ", from, ": ", strerror(errno)));
    }
    // Again after the read, which may have taken longer than the lease.
    if (absl::Status s = may_write(); !s.ok()) return s;
    if (pwrite(out.get(), raw, n, static_cast<off_t>(to_offset + done)) != static_cast<ssize_t>(n)) {
      return absl::DataLossError(absl::StrCat("write ", to, ": ", strerror(errno)));
    }
    done += n;
  }
  if (fdatasync(out.get()) != 0 || out.Close() != 0) {
    return absl::DataLossError(absl::StrCat("flush ", to, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

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

absl::Status Service::CopyRegions(const ExtentRef& e, Location src, Location dst,
                                  uint64_t region_sectors, const std::vector<DirtyRun>& runs) {
  ASSIGN_OR_RETURN(Snapshot snap, db_.Load());
  const PvRecord* from = nullptr;
  const PvRecord* to = nullptr;
  for (const PvRecord* pv : snap.PvsOf(e.volume.pool)) {
    if (pv->slot == src.dev) from = pv;
    if (pv->slot == dst.dev) to = pv;
  }
  std::string from_path, to_path;
  ExtentState st;
  {
    absl::MutexLock lock(&mu_);
    if (from == nullptr || to == nullptr || !paths_.contains(from->uuid) ||
        !paths_.contains(to->uuid)) {
      return absl::FailedPreconditionError("the source or destination pv is not on this host");
    }
    from_path = paths_.at(from->uuid);
    to_path = paths_.at(to->uuid);
    ASSIGN_OR_RETURN(st, ReadExtent(e.volume, e.extent_sectors, e.vext));
  }
  const uint64_t es = e.extent_sectors;
  // These writes bypass dm-cvol, so its fence does not stop them: the
  // copy checks before every chunk that the volume here is not fenced (its
  // kernel lease still runs). A daemon stopped between the check and the
  // write can still land one chunk late; a copy inside the kernel would
  // close that too. The copy itself runs outside mu_: other changes and
  // the lease renewal must not wait for it.
  auto may_write = [&]() -> absl::Status {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(std::vector<DmLine> status, dm_.Status(st.dm_name));
    if (st.at.segment >= status.size()) return absl::InternalError("the device lacks a segment");
    ASSIGN_OR_RETURN(TargetStatus ts,
                     TargetStatus::Parse(status[st.at.segment].params, StatusFormat::kV1_2));
    if (ts.v1_1.has_value() && ts.v1_1->lease == LeaseState::kFenced) {
      return absl::UnavailableError(absl::StrCat(st.dm_name, " is fenced: the re-copy stops"));
    }
    return absl::OkStatus();
  };
  for (const DirtyRun& run : runs) {
    const uint64_t off = uint64_t{run.first} * region_sectors * 512;
    RETURN_IF_ERROR(CopyRange(from_path, (from->data_offset + src.pext * es) * 512 + off,
                              to_path, (to->data_offset + dst.pext * es) * 512 + off,
                              uint64_t{run.count} * region_sectors * 512, may_write));
  }
  return absl::OkStatus();
}

}  // namespace cvol::daemon
