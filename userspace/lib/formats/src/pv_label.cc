#include "cvol/pv_label.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cvol/crc32c.h"
#include "cvol/status_macros.h"
#include "cvol/unique_fd.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

using Label = struct cvol_pv_label;

constexpr size_t kMagicOffset = offsetof(Label, magic);
constexpr size_t kVersionOffset = offsetof(Label, version);
constexpr size_t kHeaderSizeOffset = offsetof(Label, header_size);
constexpr size_t kFlagsOffset = offsetof(Label, flags);
constexpr size_t kPvUuidOffset = offsetof(Label, pv_uuid);
constexpr size_t kPoolUuidOffset = offsetof(Label, pool_uuid);
constexpr size_t kExtentSectorsOffset = offsetof(Label, extent_sectors);
constexpr size_t kDataOffsetOffset = offsetof(Label, data_offset);
constexpr size_t kDataSectorsOffset = offsetof(Label, data_sectors);
constexpr size_t kDeviceSectorsOffset = offsetof(Label, device_sectors);
constexpr size_t kCtimeOffset = offsetof(Label, ctime_ns);
constexpr size_t kNameOffset = offsetof(Label, name);
constexpr size_t kGuardOffset = offsetof(Label, mbr_guard);
constexpr size_t kCrcOffset = offsetof(Label, crc32c);

// The layout the docs promise; the header's comments say the same.
static_assert(kVersionOffset == 8 && kHeaderSizeOffset == 12 && kFlagsOffset == 16);
static_assert(kPvUuidOffset == 24 && kPoolUuidOffset == 40);
static_assert(kExtentSectorsOffset == 56 && kDataOffsetOffset == 64 &&
              kDataSectorsOffset == 72 && kDeviceSectorsOffset == 80 && kCtimeOffset == 88);
static_assert(kNameOffset == 96 && kGuardOffset == CVOL_LABEL_MBR_GUARD_OFFSET);
static_assert(kCrcOffset == kPvLabelBytes - 4);
static_assert(sizeof(CVOL_LABEL_MAGIC) - 1 == CVOL_LABEL_MAGIC_LEN);

constexpr uint64_t kLabelBlockSectors = kPvLabelBlockBytes / 512;
constexpr uint64_t kSectorAlign = CVOL_MIN_EXTENT_SECTORS;  // 4 KiB

const uint8_t* Magic() { return reinterpret_cast<const uint8_t*>(CVOL_LABEL_MAGIC); }

// Little-endian loads and stores: the label is the same on every host.
uint32_t Load32(absl::Span<const uint8_t> b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{b[at + i]} << (8 * i);
  return v;
}

uint64_t Load64(absl::Span<const uint8_t> b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}

void Store32(absl::Span<uint8_t> b, size_t at, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

void Store64(absl::Span<uint8_t> b, size_t at, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

Uuid LoadUuid(absl::Span<const uint8_t> b, size_t at) {
  Uuid uuid;
  std::copy_n(b.begin() + at, uuid.bytes.size(), uuid.bytes.begin());
  return uuid;
}

bool Matches(absl::Span<const uint8_t> block, size_t at, absl::string_view magic) {
  return block.size() >= at + magic.size() &&
         std::memcmp(block.data() + at, magic.data(), magic.size()) == 0;
}

std::string HexBytes(absl::Span<const uint8_t> bytes) {
  std::vector<std::string> parts;
  for (uint8_t b : bytes) parts.push_back(absl::StrFormat("%02x", b));
  return absl::StrJoin(parts, " ");
}

absl::Status Damaged(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("damaged cvol label: ", what));
}

// A byte-flipped magic is still our label, damaged, and must not read as
// "no label" (which would let a write go ahead without --force). Six of
// eight bytes matching by chance is 28 x 2^-48, about 2^-43, for random data.
constexpr int kMagicNearMatch = 6;

int MagicBytesMatching(absl::Span<const uint8_t> block) {
  int same = 0;
  for (size_t i = 0; i < CVOL_LABEL_MAGIC_LEN; ++i) {
    same += block[kMagicOffset + i] == Magic()[i];
  }
  return same;
}

// Version 1's fields, once magic, size and checksum are known to be good.
absl::StatusOr<PvLabel> DecodeVersion1(absl::Span<const uint8_t> b) {
  const uint32_t header_size = Load32(b, kHeaderSizeOffset);
  if (header_size != kPvLabelBytes) {
    return Damaged(absl::StrCat("version 1 has header size ", kPvLabelBytes, ", not ",
                                header_size));
  }
  if (b[kGuardOffset] != CVOL_LABEL_MBR_GUARD) {
    return Damaged(absl::StrFormat("byte %d is 0x%02x, expected 0x%02x", kGuardOffset,
                                   b[kGuardOffset], CVOL_LABEL_MBR_GUARD));
  }
  PvLabel label;
  label.version = Load32(b, kVersionOffset);
  label.flags = Load32(b, kFlagsOffset);
  label.pv_uuid = LoadUuid(b, kPvUuidOffset);
  label.pool_uuid = LoadUuid(b, kPoolUuidOffset);
  label.extent_sectors = Load64(b, kExtentSectorsOffset);
  label.data_offset = Load64(b, kDataOffsetOffset);
  label.data_sectors = Load64(b, kDataSectorsOffset);
  label.device_sectors = Load64(b, kDeviceSectorsOffset);
  label.ctime_ns = Load64(b, kCtimeOffset);

  const auto name = b.subspan(kNameOffset, CVOL_LABEL_NAME_LEN);
  const auto nul = std::find(name.begin(), name.end(), 0);
  if (nul == name.end()) return Damaged("the name has no terminating NUL");
  if (std::any_of(nul, name.end(), [](uint8_t c) { return c != 0; })) {
    return Damaged("the name is not NUL-padded");
  }
  label.name.assign(name.begin(), nul);

  if (absl::Status s = CheckPvLabel(label); !s.ok()) {
    return absl::DataLossError(absl::StrCat("inconsistent cvol label: ", s.message()));
  }
  return label;
}

}  // namespace

bool Uuid::is_nil() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

absl::StatusOr<Uuid> ParseUuid(absl::string_view text) {
  const auto bad = [text] {
    return absl::InvalidArgumentError(absl::StrCat(
        "uuid \"", text, "\": expected 8-4-4-4-12 hex digits (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"));
  };
  if (text.size() != 36) return bad();
  Uuid uuid;
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return bad();
      continue;
    }
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return bad();
    }
    uint8_t& byte = uuid.bytes[nibble / 2];
    byte = static_cast<uint8_t>(nibble % 2 == 0 ? v << 4 : byte | v);
    ++nibble;
  }
  return uuid;
}

std::string FormatUuid(const Uuid& uuid) {
  const uint8_t* b = uuid.bytes.data();
  return absl::StrFormat(
      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
      b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

absl::StatusOr<Uuid> RandomUuid() {
  Uuid uuid;
  size_t got = 0;
  while (got < uuid.bytes.size()) {
    const ssize_t n = getrandom(uuid.bytes.data() + got, uuid.bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "getrandom for a uuid");
    }
    got += static_cast<size_t>(n);
  }
  uuid.bytes[6] = static_cast<uint8_t>((uuid.bytes[6] & 0x0F) | 0x40);  // version 4
  uuid.bytes[8] = static_cast<uint8_t>((uuid.bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return uuid;
}

absl::Status SizePvLabel(uint64_t device_sectors, PvLabel& label) {
  label.device_sectors = device_sectors;
  label.data_sectors = 0;
  if (label.extent_sectors != 0 && label.data_offset < device_sectors) {
    label.data_sectors = (device_sectors - label.data_offset) / label.extent_sectors *
                         label.extent_sectors;
  }
  if (label.data_sectors == 0 && label.extent_sectors != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a device of ", device_sectors, " sectors holds no extent of ", label.extent_sectors,
        " sectors after the data offset ", label.data_offset));
  }
  return CheckPvLabel(label);
}

absl::Status CheckPvLabel(const PvLabel& label) {
  const auto invalid = [](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  if (label.version != CVOL_LABEL_VERSION) {
    return invalid("version ", label.version, ": this cvol handles version ",
                   CVOL_LABEL_VERSION);
  }
  if ((label.flags & ~CVOL_LABEL_FLAGS_KNOWN) != 0) {
    return invalid(absl::StrFormat("unknown flags 0x%x", label.flags & ~CVOL_LABEL_FLAGS_KNOWN));
  }
  if (label.pv_uuid.is_nil()) return invalid("the pv uuid is nil (all zero)");
  if (label.extent_sectors == 0 || label.extent_sectors % kSectorAlign != 0 ||
      label.extent_sectors > CVOL_MAX_EXTENT_SECTORS) {
    return invalid("extent_sectors ", label.extent_sectors, " is not a non-zero multiple of ",
                   kSectorAlign, " up to ", CVOL_MAX_EXTENT_SECTORS);
  }
  if (label.data_offset % kSectorAlign != 0) {
    return invalid("data_offset ", label.data_offset, " is not a multiple of ", kSectorAlign,
                   " sectors");
  }
  if (label.data_offset < kLabelBlockSectors) {
    return invalid("data_offset ", label.data_offset, " is inside the label block (the first ",
                   kLabelBlockSectors, " sectors)");
  }
  if (label.data_sectors == 0) return invalid("data_sectors is 0: the pv holds no extent");
  if (label.data_sectors % label.extent_sectors != 0) {
    return invalid("data_sectors ", label.data_sectors, " is not a whole number of extents of ",
                   label.extent_sectors, " sectors");
  }
  if (label.data_sectors > label.device_sectors ||
      label.data_offset > label.device_sectors - label.data_sectors) {
    return invalid("the data area (data_offset ", label.data_offset, " + data_sectors ",
                   label.data_sectors, ") ends past device_sectors ", label.device_sectors);
  }
  if (label.name.size() >= CVOL_LABEL_NAME_LEN) {
    return invalid("the name is ", label.name.size(), " bytes long, at most ",
                   CVOL_LABEL_NAME_LEN - 1);
  }
  for (char c : label.name) {
    if (c < 0x21 || c > 0x7E) {
      return invalid(absl::StrFormat(
          "the name has the byte 0x%02x: printable ASCII without spaces only",
          static_cast<uint8_t>(c)));
    }
  }
  return absl::OkStatus();
}

uint32_t PvLabelChecksum(absl::Span<const uint8_t> label) {
  static constexpr uint8_t kZeroCrc[4] = {};
  const uint32_t head = Crc32c(label.subspan(0, kCrcOffset));
  return Crc32cExtend(head, kZeroCrc);  // the crc field is last
}

PvLabelBlock EncodePvLabel(const PvLabel& label) {
  PvLabelBlock block{};
  absl::Span<uint8_t> b(block);
  std::copy_n(Magic(), CVOL_LABEL_MAGIC_LEN, block.begin() + kMagicOffset);
  Store32(b, kVersionOffset, label.version);
  Store32(b, kHeaderSizeOffset, kPvLabelBytes);
  Store32(b, kFlagsOffset, label.flags);
  std::copy(label.pv_uuid.bytes.begin(), label.pv_uuid.bytes.end(),
            block.begin() + kPvUuidOffset);
  std::copy(label.pool_uuid.bytes.begin(), label.pool_uuid.bytes.end(),
            block.begin() + kPoolUuidOffset);
  Store64(b, kExtentSectorsOffset, label.extent_sectors);
  Store64(b, kDataOffsetOffset, label.data_offset);
  Store64(b, kDataSectorsOffset, label.data_sectors);
  Store64(b, kDeviceSectorsOffset, label.device_sectors);
  Store64(b, kCtimeOffset, label.ctime_ns);
  std::copy_n(label.name.begin(), std::min<size_t>(label.name.size(), CVOL_LABEL_NAME_LEN),
              block.begin() + kNameOffset);
  block[kGuardOffset] = CVOL_LABEL_MBR_GUARD;
  Store32(b, kCrcOffset, PvLabelChecksum(block));
  return block;
}

std::optional<ForeignSignature> FindForeignSignature(absl::Span<const uint8_t> block) {
  if (block.size() < kPvLabelBlockBytes) return std::nullopt;
  if (Matches(block, 0, "XFSB")) {
    return ForeignSignature{"xfs", "an XFS file system (\"XFSB\" at byte 0)"};
  }
  // LVM2 looks for its label in each of the first four sectors.
  for (size_t sector = 0; sector < 4; ++sector) {
    if (Matches(block, sector * 512, "LABELONE")) {
      return ForeignSignature{"LVM2_member",
                              absl::StrCat("an LVM2 physical volume (\"LABELONE\" at byte ",
                                           sector * 512, ")")};
    }
  }
  // The superblock is at byte 1024, its s_magic 56 bytes in.
  if (block[1080] == 0x53 && block[1081] == 0xEF) {
    return ForeignSignature{"ext4", "an ext2/3/4 file system (magic 0xEF53 at byte 1080)"};
  }
  // The last 10 bytes of the first page (4 KiB pages).
  for (absl::string_view magic : {"SWAPSPACE2", "SWAP-SPACE"}) {
    if (Matches(block, kPvLabelBlockBytes - 10, magic)) {
      return ForeignSignature{
          "swap", absl::StrCat("Linux swap space (\"", magic, "\" at byte ",
                               kPvLabelBlockBytes - 10, ")")};
    }
  }
  return std::nullopt;
}

absl::StatusOr<PvLabel> DecodePvLabel(absl::Span<const uint8_t> block) {
  if (block.size() < kPvLabelBlockBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a label block is ", kPvLabelBlockBytes, " bytes, not ", block.size()));
  }
  const int magic_same = MagicBytesMatching(block);
  if (magic_same < kMagicNearMatch) {
    if (std::optional<ForeignSignature> foreign = FindForeignSignature(block)) {
      return absl::AlreadyExistsError(
          absl::StrCat("not a cvol device: it holds ", foreign->description));
    }
    const auto head = block.subspan(0, kPvLabelBlockBytes);
    if (std::all_of(head.begin(), head.end(), [](uint8_t c) { return c == 0; })) {
      return absl::NotFoundError("not a cvol device: its first 4 KiB are zero");
    }
    return absl::NotFoundError(absl::StrCat("not a cvol device: no cvol label (it starts with ",
                                            HexBytes(block.subspan(0, 8)), ")"));
  }
  if (magic_same < static_cast<int>(CVOL_LABEL_MAGIC_LEN)) {
    return Damaged(absl::StrCat(
        "the magic is ", HexBytes(block.subspan(kMagicOffset, CVOL_LABEL_MAGIC_LEN)),
        ", expected ",
        HexBytes(absl::MakeConstSpan(Magic(), CVOL_LABEL_MAGIC_LEN))));
  }

  // Checksum before version: a flipped bit in the version field is damage,
  // not a label from a newer cvol.
  const uint32_t version = Load32(block, kVersionOffset);
  const uint32_t header_size = Load32(block, kHeaderSizeOffset);
  if (header_size < kPvLabelBytes || header_size > CVOL_LABEL_MAX_SIZE ||
      header_size % 4 != 0) {
    return Damaged(absl::StrCat("header size ", header_size, " is not a multiple of 4 from ",
                                kPvLabelBytes, " to ", CVOL_LABEL_MAX_SIZE));
  }
  const auto header = block.subspan(0, header_size);
  const uint32_t stored = Load32(header, header_size - 4);
  const uint32_t computed =
      Crc32cExtend(Crc32c(header.subspan(0, header_size - 4)), {0, 0, 0, 0});
  if (stored != computed) {
    std::string what = absl::StrFormat("checksum 0x%08x does not match its contents (0x%08x)",
                                       stored, computed);
    if (version != CVOL_LABEL_VERSION) absl::StrAppend(&what, "; version field ", version);
    return Damaged(what);
  }
  if (version != CVOL_LABEL_VERSION) {
    return absl::DataLossError(absl::StrCat(
        "cvol label version ", version, " is not supported: this cvol reads version ",
        CVOL_LABEL_VERSION, " (was it written by a newer cvol?)"));
  }
  absl::StatusOr<PvLabel> label = DecodeVersion1(block);
  if (!label.ok()) return label;

  // Our writer zeroes the rest of the block: a signature there was written
  // after the label, by someone who did not know it (mkswap keeps the first
  // 1 KiB, pvcreate writes sector 1). The device is theirs now.
  if (std::optional<ForeignSignature> foreign = FindForeignSignature(block)) {
    return absl::DataLossError(absl::StrCat("stale cvol label: the device also holds ",
                                            foreign->description,
                                            ", written after the label"));
  }
  return label;
}

namespace {

using Fd = UniqueFd;

// O_DIRECT needs an aligned buffer; 4 KiB covers every logical block size.
struct alignas(4096) AlignedBlock {
  PvLabelBlock bytes;
};

// The errno's status code, except where it would read as a label outcome:
// a missing device node (ENOENT) is not "no label".
absl::Status ErrnoAt(int err, const std::string& path, absl::string_view what) {
  absl::Status status = absl::ErrnoToStatus(err, absl::StrCat(path, ": ", what));
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
      return absl::UnavailableError(status.message());
    default:
      return status;
  }
}

// Opens with O_DIRECT where the file allows it, so that a label another
// host wrote is not served from this host's stale page cache; tmpfs and
// some other file systems refuse O_DIRECT, and test files live there.
Fd OpenDevice(const std::string& path, int flags, bool& direct) {
  direct = true;
  int fd = ::open(path.c_str(), flags | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) {
    direct = false;
    fd = ::open(path.c_str(), flags | O_CLOEXEC);
  }
  return Fd(fd);
}

absl::StatusOr<uint64_t> DeviceBytes(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoAt(errno, path, "fstat");
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) return ErrnoAt(errno, path, "BLKGETSIZE64");
    return bytes;
  }
  return absl::FailedPreconditionError(
      absl::StrCat(path, ": neither a block device nor a regular file"));
}

// The first 4 KiB; a shorter file reads as zeroes past its end. One read:
// it is short only at the end of the file (and a second O_DIRECT read at an
// unaligned offset would fail anyway).
absl::Status ReadBlock(int fd, bool direct, const std::string& path, AlignedBlock& block) {
  block.bytes.fill(0);
  ssize_t n;
  do {
    n = ::pread(fd, block.bytes.data(), block.bytes.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return ErrnoAt(errno, path, direct ? "read of the label block (O_DIRECT)"
                                       : "read of the label block");
  }
  return absl::OkStatus();
}

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

// The decoded label, with the device as it is now checked against it.
absl::StatusOr<PvLabel> DecodeOnDevice(const std::string& path, const AlignedBlock& block,
                                       uint64_t device_bytes) {
  absl::StatusOr<PvLabel> label = DecodePvLabel(block.bytes);
  if (!label.ok()) return WithPath(path, label.status());
  const uint64_t sectors = device_bytes / 512;
  const uint64_t end = label->data_offset + label->data_sectors;  // checked: no overflow
  if (end > sectors) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": the cvol label's data area ends at sector ", end, " but the device has ",
        sectors, " sectors (it was ", label->device_sectors, " when labelled: shrunk?)"));
  }
  return label;
}

}  // namespace

absl::StatusOr<PvLabel> ReadPvLabel(const std::string& path) {
  bool direct;
  Fd fd = OpenDevice(path, O_RDONLY, direct);
  if (!fd.ok()) return ErrnoAt(errno, path, "open");
  ASSIGN_OR_RETURN(uint64_t bytes, DeviceBytes(fd.get(), path));
  auto block = std::make_unique<AlignedBlock>();
  if (absl::Status s = ReadBlock(fd.get(), direct, path, *block); !s.ok()) return s;
  return DecodeOnDevice(path, *block, bytes);
}

absl::Status WritePvLabel(const std::string& path, const PvLabel& label,
                          const PvLabelWriteOptions& options) {
  if (absl::Status s = CheckPvLabel(label); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": refusing to write an invalid label: ", s.message()));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoAt(errno, path, "stat");
  // O_EXCL without O_CREAT means "not in use" for a block device only.
  const int excl = options.exclusive && S_ISBLK(st.st_mode) ? O_EXCL : 0;
  bool direct;
  Fd fd = OpenDevice(path, O_RDWR | excl, direct);
  if (!fd.ok()) {
    if (errno == EBUSY) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": the device is in use (mounted, or held by device-mapper, md or another "
                "exclusive opener); release it first"));
    }
    return ErrnoAt(errno, path, "open for writing");
  }
  ASSIGN_OR_RETURN(uint64_t bytes, DeviceBytes(fd.get(), path));
  const uint64_t sectors = bytes / 512;
  if (label.data_offset + label.data_sectors > sectors) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": the label's data area ends at sector ", label.data_offset + label.data_sectors,
        " but the device has only ", sectors, " sectors"));
  }

  auto block = std::make_unique<AlignedBlock>();
  if (absl::Status s = ReadBlock(fd.get(), direct, path, *block); !s.ok()) return s;
  absl::StatusOr<PvLabel> current = DecodeOnDevice(path, *block, bytes);
  if (current.ok()) {
    if (current->pv_uuid != label.pv_uuid && !options.force) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": already labelled as cvol pv ", FormatUuid(current->pv_uuid),
          current->name.empty() ? "" : absl::StrCat(" (\"", current->name, "\")"),
          current->pool_uuid.is_nil() ? ", in no pool"
                                      : absl::StrCat(", pool ", FormatUuid(current->pool_uuid)),
          "; use --force to overwrite it"));
    }
  } else if (current.status().code() == absl::StatusCode::kNotFound) {
    // Nothing there: the normal case.
  } else if (current.status().code() == absl::StatusCode::kAlreadyExists ||
             current.status().code() == absl::StatusCode::kDataLoss ||
             current.status().code() == absl::StatusCode::kFailedPrecondition) {
    if (!options.force) {
      return absl::FailedPreconditionError(
          absl::StrCat(current.status().message(), "; use --force to overwrite it"));
    }
  } else {
    return current.status();
  }

  block->bytes = EncodePvLabel(label);
  size_t done = 0;
  while (done < block->bytes.size()) {
    const ssize_t n = ::pwrite(fd.get(), block->bytes.data() + done,
                               block->bytes.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoAt(errno, path, "write of the label block");
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd.get()) != 0) return ErrnoAt(errno, path, "fdatasync of the label");
  if (fd.Close() != 0) return ErrnoAt(errno, path, "close after writing the label");
  return absl::OkStatus();
}

}  // namespace cvol
