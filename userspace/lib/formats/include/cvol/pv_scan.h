// Finds this host's path of every cvol physical volume: device names
// differ between hosts sharing a SAN, the pv uuid in the label does not.
// Lists the block devices in sysfs, reads the label of each candidate and
// reports what cannot be trusted instead of guessing.
#ifndef CVOL_PV_SCAN_H_
#define CVOL_PV_SCAN_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cvol/pv_label.h"

namespace cvol {

struct PvScanOptions {
  // Both roots are injectable: the tests build a fake tree of sysfs
  // directories and regular files standing in for devices.
  std::string sys_block_dir = "/sys/class/block";
  std::string dev_dir = "/dev";
  // Device-mapper devices that are cvol volumes must not be read: their
  // first 4 KiB are a user's data, and a read there can wait on a freeze.
  // cvold names its volumes' dm uuids "CVOL-<volume uuid>" (as LVM uses
  // "LVM-"); dmsetup-made volumes are caught by name prefix or the hook.
  std::vector<std::string> skip_dm_uuid_prefixes = {"CVOL-"};
  std::vector<std::string> skip_dm_name_prefixes;
  // If set, called with the dm name of every other dm device: true skips it
  // (cvold asks libdevmapper whether its table has a "cvol" target).
  std::function<bool(const std::string& dm_name)> is_cvol_volume;
};

struct ScannedPv {
  std::string path;
  PvLabel label;
};

// A device whose label cannot be used: damaged, stale, on a shrunk device,
// unreadable, or the same pv uuid on several paths (each path reported).
struct PvScanProblem {
  std::string path;
  absl::Status status;
};

// A device not read, or read and found without a cvol label, and why.
struct PvScanSkip {
  std::string path;
  std::string reason;
};

struct PvScanResult {
  std::map<Uuid, ScannedPv> pvs;  // only pvs found on exactly one path
  std::vector<PvScanProblem> problems;
  std::vector<PvScanSkip> skipped;
};

// Candidates: every entry of sys_block_dir with a "dev" file, except
// ram disks, loop devices without a backing file, empty devices (size 0:
// no medium), suspended dm devices (a read would hang), cvol volumes (see
// the options), and paths of a multipath device (held by a dm device whose
// uuid starts with "mpath-": the label is read once, on the multipath
// device). Fails only if sys_block_dir cannot be listed; everything about
// a single device is in the result.
absl::StatusOr<PvScanResult> ScanPvs(const PvScanOptions& options = {});

}  // namespace cvol

#endif  // CVOL_PV_SCAN_H_
