// Names and sizes as people type them and the kernel sees them.
//
// Pool, pv and volume names are [A-Za-z0-9_][A-Za-z0-9_.+-]{0,62}: safe in
// a path, an etcd key and a device-mapper name, and never "." or "..". A
// volume is "<pool>/<volume>"; its device-mapper name doubles every '-'
// inside either part and joins the parts with one '-' (LVM's rule, so
// "a-b/c" and "a/b-c" map to "a--b-c" and "a-b--c", never the same name).
#ifndef CVOL_CONTROL_NAMES_H_
#define CVOL_CONTROL_NAMES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cvol::control {

inline constexpr size_t kMaxNameBytes = 63;
// DM_NAME_LEN less its NUL: the longest device-mapper name.
inline constexpr size_t kMaxDmNameBytes = 127;

// OK if `name` is a valid name; else INVALID_ARGUMENT saying what is
// allowed. `kind` ("pool", "pv", "volume") starts the message.
absl::Status ValidateName(std::string_view kind, std::string_view name);

struct VolumeName {
  std::string pool;
  std::string volume;

  std::string full() const { return pool + "/" + volume; }
  friend bool operator==(const VolumeName&, const VolumeName&) = default;
};

// "pool/vol": both parts valid names, and a device-mapper name that fits
// in kMaxDmNameBytes (every '-' counts twice).
absl::StatusOr<VolumeName> ParseVolumeName(std::string_view text);

// The device-mapper name: /dev/mapper/<DmName(pool, volume)>.
std::string DmName(std::string_view pool, std::string_view volume);
// The device-mapper uuid: "CVOL-" + the volume's uuid.
std::string DmUuid(std::string_view volume_uuid);

// A size as clusterctl takes it: a decimal number, optionally with a
// fraction, and an optional unit: none or "B" (bytes), K M G T P E (powers
// of 1024, any case, optionally followed by "iB"), or "s" (512-byte
// sectors). "1.5G" is fine; a fraction must come to whole bytes ("1.5" and
// "0.3K" do not). Signs, spaces, junk and values over 2^64-1 bytes are
// INVALID_ARGUMENT.
absl::StatusOr<uint64_t> ParseSize(std::string_view text);

// For people: "512 B", "4.00 MiB", "1.50 GiB" (two decimals, rounded, the
// largest binary unit that keeps the number at least 1).
std::string FormatSize(uint64_t bytes);

}  // namespace cvol::control

#endif  // CVOL_CONTROL_NAMES_H_
