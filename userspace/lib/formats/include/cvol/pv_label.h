// The on-disk label of a cvol physical volume (include/uapi/linux/
// dm-cvol-label.h, docs/pv-label.md): its host form, the codec, and reading
// and writing it on a device.
//
// Decoding tells apart what an administrator must tell apart, by status
// code, with a message that says what was found:
//   ok                 a cvol label, intact and consistent;
//   kNotFound          no label: "not a cvol device";
//   kAlreadyExists     a foreign signature (LVM2, ext2/3/4, XFS, swap):
//                      someone else's data, never overwritten silently;
//   kDataLoss          a cvol label that cannot be trusted: bad checksum,
//                      unknown version or flags, inconsistent fields, a
//                      damaged magic, or a foreign signature written over
//                      the rest of the label block after it.
#ifndef CVOL_PV_LABEL_H_
#define CVOL_PV_LABEL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "linux/dm-cvol-label.h"

namespace cvol {

// A 16-byte identifier; text form "8-4-4-4-12" in lower-case hex. The nil
// uuid (all zero) means "none" (a pv in no pool).
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  bool is_nil() const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Uuid& uuid) {
    return H::combine(std::move(h), uuid.bytes);
  }
};

// Accepts either case; nothing but the 36 characters.
absl::StatusOr<Uuid> ParseUuid(absl::string_view text);
std::string FormatUuid(const Uuid& uuid);
// A random (version 4) uuid from getrandom(2).
absl::StatusOr<Uuid> RandomUuid();

inline constexpr size_t kPvLabelBytes = CVOL_LABEL_SIZE;
inline constexpr size_t kPvLabelBlockBytes = CVOL_LABEL_BLOCK_SIZE;
inline constexpr uint64_t kPvDefaultDataOffset = CVOL_LABEL_DEFAULT_DATA_OFFSET;

// The first 4 KiB of a device: what is read and written.
using PvLabelBlock = std::array<uint8_t, kPvLabelBlockBytes>;

// Sizes are in 512-byte sectors.
struct PvLabel {
  uint32_t version = CVOL_LABEL_VERSION;
  uint32_t flags = 0;
  Uuid pv_uuid;
  Uuid pool_uuid;  // nil: in no pool
  uint64_t extent_sectors = 0;
  uint64_t data_offset = kPvDefaultDataOffset;
  uint64_t data_sectors = 0;    // whole extents from data_offset
  uint64_t device_sectors = 0;  // the device's size when labelled
  uint64_t ctime_ns = 0;        // CLOCK_REALTIME when labelled
  std::string name;             // printable ASCII without spaces, <= 63 bytes

  uint64_t extents() const {
    return extent_sectors == 0 ? 0 : data_sectors / extent_sectors;
  }

  friend bool operator==(const PvLabel&, const PvLabel&) = default;
};

// Sets device_sectors and data_sectors (the whole extents between
// data_offset and the end of a device of `device_sectors`), then checks
// the label. Fails if not even one extent fits.
absl::Status SizePvLabel(uint64_t device_sectors, PvLabel& label);

// The rules a label must follow (docs/pv-label.md), as InvalidArgument
// naming the field: known version and flags, a pv uuid, extent and offset
// sizes, the data area inside the device, the name.
absl::Status CheckPvLabel(const PvLabel& label);

// The label block: the 512-byte label with its checksum, then zeroes.
// Writes the fields as they are, unchecked: CheckPvLabel is the caller's
// (WritePvLabel's) business, and the tests need labels that break rules.
PvLabelBlock EncodePvLabel(const PvLabel& label);

// The crc32c of the first `kPvLabelBytes` of `label` with the crc field
// taken as zero: what the crc field must hold.
uint32_t PvLabelChecksum(absl::Span<const uint8_t> label);

// Decodes the first 4 KiB of a device (at least kPvLabelBlockBytes bytes;
// fewer is InvalidArgument). Status codes as described at the top.
absl::StatusOr<PvLabel> DecodePvLabel(absl::Span<const uint8_t> block);

// A signature of other software that the first 4 KiB can show.
struct ForeignSignature {
  std::string type;         // blkid's TYPE: "LVM2_member", "ext4", "xfs", "swap"
  std::string description;  // e.g. "an XFS file system (\"XFSB\" at byte 0)"
};

// The first foreign signature found in `block` (kPvLabelBlockBytes long):
// LVM2 "LABELONE" at the start of sectors 0-3, ext2/3/4 magic 0xEF53 at
// byte 1080, XFS "XFSB" at byte 0, swap "SWAPSPACE2"/"SWAP-SPACE" at byte
// 4086 (4 KiB pages).
std::optional<ForeignSignature> FindForeignSignature(absl::Span<const uint8_t> block);

// Reads the label of the device (or regular file) at `path`: the status
// codes of DecodePvLabel, FailedPrecondition if the device is now smaller
// than the label's data area, or the errno of a failed open or read.
// Bypasses the page cache where the file allows it (another host may
// have written the label since this host last read the device).
absl::StatusOr<PvLabel> ReadPvLabel(const std::string& path);

struct PvLabelWriteOptions {
  // Overwrite a foreign signature, a damaged cvol label, or the label of
  // another pv (a different pv uuid). Rewriting the same pv's label needs
  // no force.
  bool force = false;
  // Open a block device with O_EXCL: fails with "in use" if it is mounted
  // or held (by device-mapper, md, ...). A cvol volume holds its pvs, so
  // turn this off to update the label of a pv in use.
  bool exclusive = true;
};

// Checks `label`, refuses to overwrite what the current label block holds
// unless allowed (the error says what is there and to use --force), and
// writes the 4 KiB label block at offset 0, then fdatasync. The label must
// fit the device as it is now.
absl::Status WritePvLabel(const std::string& path, const PvLabel& label,
                          const PvLabelWriteOptions& options = {});

}  // namespace cvol

#endif  // CVOL_PV_LABEL_H_
