// Device-mapper devices through libdevmapper: what `dmsetup create`,
// `reload`, `message`, `status`, `table` and `remove` do, with errors as
// Status values that name the device, the operation and the kernel's
// errno instead of text on stderr.
//
// libdevmapper's logging is process-wide: a DmClient routes it into the
// errors it returns, so use DmClient for all dm calls of a process (and
// from one thread at a time).
#ifndef CVOL_DM_CLIENT_H_
#define CVOL_DM_CLIENT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cvol/dm_line.h"

namespace cvol {

class DmClient {
 public:
  // Installs the log capture, and turns udev synchronisation off when no
  // udev runs here (no /run/udev/control, or DM_DISABLE_UDEV=1): waiting
  // for a udev that never answers would hang, and libdevmapper then
  // creates the /dev/mapper nodes itself.
  DmClient();
  ~DmClient();
  DmClient(const DmClient&) = delete;
  DmClient& operator=(const DmClient&) = delete;

  // Whether udev's disk rules (blkid, /dev/disk links) and other rules run
  // on the uevent of a create or resume. kNo for a device whose I/O is held
  // (created fenced): the probe's reads would wait, and with them the
  // udev cookie that create and resume wait for. Reprobe() once its I/O
  // flows.
  enum class Probe { kYes, kNo };

  // Creates the device, loads `table` and resumes it; if any step fails
  // libdevmapper removes the half-made device again. `uuid` may be empty.
  absl::Status Create(const std::string& name, const std::string& uuid,
                      absl::Span<const DmLine> table, Probe probe = Probe::kYes);

  // Replaces the live table without losing I/O: load it as the inactive
  // table, suspend with noflush (I/O the target holds stays queued instead
  // of being failed), resume. The device is never left suspended on
  // purpose: a failed suspend drops the inactive table, a failed resume is
  // retried once and the error says if the device stays suspended.
  absl::Status Reload(const std::string& name, absl::Span<const DmLine> table,
                      Probe probe = Probe::kYes);
  // A noflush suspend and a resume with probing: udev runs every rule on
  // the device again (after a create or reload with Probe::kNo).
  absl::Status Reprobe(const std::string& name);

  // `dmsetup message NAME SECTOR TEXT`: the target's response (may be
  // empty). A message the target refuses fails with its errno.
  absl::StatusOr<std::string> Message(const std::string& name, uint64_t sector,
                                      const std::string& text);

  // The live table's lines with the target's INFO status / TABLE text as
  // params.
  absl::StatusOr<std::vector<DmLine>> Status(const std::string& name);
  absl::StatusOr<std::vector<DmLine>> Table(const std::string& name);

  absl::Status Remove(const std::string& name);
  absl::StatusOr<bool> Exists(const std::string& name);

  // The loaded version of a target type ("cvol"); NotFound if the kernel
  // does not have it (module not loaded).
  absl::StatusOr<std::array<uint32_t, 3>> TargetVersion(const std::string& target_type);

 private:
  absl::Status Resume(const std::string& name, Probe probe = Probe::kYes);
  absl::StatusOr<bool> Suspended(const std::string& name);
};

// Whether libdevmapper should wait for udev, from the environment and the
// presence of udev's control socket. Exposed for tests.
bool ShouldSyncWithUdev(const char* dm_disable_udev_env, bool udev_control_exists);

}  // namespace cvol

#endif  // CVOL_DM_CLIENT_H_
