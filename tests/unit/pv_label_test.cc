#include "cvol/pv_label.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cvol/crc32c.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 2048;  // sectors

Uuid MustParse(absl::string_view text) {
  absl::StatusOr<Uuid> uuid = ParseUuid(text);
  EXPECT_TRUE(uuid.ok()) << uuid.status();
  return uuid.value_or(Uuid{});
}

PvLabel SampleLabel() {
  PvLabel label;
  label.pv_uuid = MustParse("0123abcd-4567-89ef-fedc-ba9876543210");
  label.pool_uuid = MustParse("11111111-2222-3333-4444-555555555555");
  label.extent_sectors = 2048;
  label.data_offset = kPvDefaultDataOffset;
  label.data_sectors = 30 * 2048;
  label.device_sectors = 32 * kMiB + 100;
  label.ctime_ns = 1767225600123456789ull;
  label.name = "shelf1-disk07";
  return label;
}

uint32_t Le32At(const PvLabelBlock& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}

uint64_t Le64At(const PvLabelBlock& b, size_t at) {
  return Le32At(b, at) | static_cast<uint64_t>(Le32At(b, at + 4)) << 32;
}

void PutLe32(PvLabelBlock& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Recomputes the crc after a test changed a field on purpose, so that the
// decoder's field checks are reached.
void Reseal(PvLabelBlock& b) { PutLe32(b, 508, PvLabelChecksum(b)); }

// The label, or a test failure with the error (rather than an abort that
// takes the other tests with it).
PvLabel Decoded(absl::Span<const uint8_t> block) {
  absl::StatusOr<PvLabel> label = DecodePvLabel(block);
  EXPECT_TRUE(label.ok()) << label.status();
  return label.value_or(PvLabel{});
}

PvLabel ReadBack(const std::string& path) {
  absl::StatusOr<PvLabel> label = ReadPvLabel(path);
  EXPECT_TRUE(label.ok()) << label.status();
  return label.value_or(PvLabel{});
}

absl::StatusCode CodeOf(const absl::StatusOr<PvLabel>& label) { return label.status().code(); }

TEST(UuidTest, FormatAndParseRoundTrip) {
  const Uuid uuid = MustParse("0123ABCD-4567-89ef-FEDC-ba9876543210");
  EXPECT_EQ(uuid.bytes[0], 0x01);
  EXPECT_EQ(uuid.bytes[3], 0xCD);
  EXPECT_EQ(uuid.bytes[15], 0x10);
  EXPECT_EQ(FormatUuid(uuid), "0123abcd-4567-89ef-fedc-ba9876543210");
  EXPECT_EQ(MustParse(FormatUuid(uuid)), uuid);
  EXPECT_TRUE(Uuid{}.is_nil());
  EXPECT_FALSE(uuid.is_nil());
  EXPECT_EQ(FormatUuid(Uuid{}), "00000000-0000-0000-0000-000000000000");
}

TEST(UuidTest, ParseErrors) {
  for (const char* bad : {"", "0123abcd-4567-89ef-fedc-ba987654321",
                          "0123abcd-4567-89ef-fedc-ba98765432100",
                          "0123abcd4567-89ef-fedc-ba9876543210-",
                          "0123abcd-4567-89ef-fedc-ba987654321g",
                          "0123abcd 4567 89ef fedc ba9876543210",
                          "0123abcd-4567-89ef-fedc+ba9876543210"}) {
    EXPECT_THAT(ErrorOf(ParseUuid(bad)), HasSubstr("expected 8-4-4-4-12 hex digits")) << bad;
  }
}

TEST(UuidTest, RandomIsVersion4AndDiffers) {
  absl::StatusOr<Uuid> a = RandomUuid();
  absl::StatusOr<Uuid> b = RandomUuid();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->bytes[6] >> 4, 4);
  EXPECT_EQ(a->bytes[8] & 0xC0, 0x80);
  EXPECT_EQ(FormatUuid(*a)[14], '4');
}

TEST(PvLabelLayoutTest, StructMatchesTheDocumentedOffsets) {
  EXPECT_EQ(sizeof(struct cvol_pv_label), 512u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, version), 8u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, header_size), 12u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, flags), 16u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, pv_uuid), 24u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, pool_uuid), 40u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, extent_sectors), 56u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, data_offset), 64u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, data_sectors), 72u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, device_sectors), 80u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, ctime_ns), 88u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, name), 96u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, mbr_guard), 446u);
  EXPECT_EQ(offsetof(struct cvol_pv_label, crc32c), 508u);
}

TEST(PvLabelLayoutTest, EncodePutsLittleEndianFieldsWhereTheStructSays) {
  const PvLabel label = SampleLabel();
  const PvLabelBlock b = EncodePvLabel(label);
  EXPECT_EQ(std::memcmp(b.data(), "\x89" "CVOLPV\n", 8), 0);
  EXPECT_EQ(Le32At(b, 8), 1u);
  EXPECT_EQ(Le32At(b, 12), 512u);
  EXPECT_EQ(Le32At(b, 16), 0u);
  EXPECT_EQ(b[24], 0x01);
  EXPECT_EQ(b[39], 0x10);
  EXPECT_EQ(b[40], 0x11);
  EXPECT_EQ(Le64At(b, 56), 2048u);
  EXPECT_EQ(Le64At(b, 64), 2048u);
  EXPECT_EQ(Le64At(b, 72), 30u * 2048);
  EXPECT_EQ(Le64At(b, 80), 32u * kMiB + 100);
  EXPECT_EQ(Le64At(b, 88), 1767225600123456789ull);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data() + 96)), "shelf1-disk07");
  EXPECT_EQ(b[446], 0xC5);
  EXPECT_EQ(Le32At(b, 508), PvLabelChecksum(b));
  // The crc field counts as zero: the checksum of the block with it zeroed.
  PvLabelBlock zeroed = b;
  PutLe32(zeroed, 508, 0);
  EXPECT_EQ(Le32At(b, 508), Crc32c(absl::MakeConstSpan(zeroed.data(), 512)));
  // Everything else is zero, up to 4 KiB: the writer wipes what was there.
  for (size_t i = 96 + label.name.size(); i < b.size(); ++i) {
    if (i == 446 || (i >= 508 && i < 512)) continue;
    ASSERT_EQ(b[i], 0) << "byte " << i;
  }
}

TEST(PvLabelTest, RoundTrips) {
  PvLabel label = SampleLabel();
  EXPECT_EQ(Decoded(EncodePvLabel(label)), label);
  EXPECT_EQ(label.extents(), 30u);

  label.pool_uuid = Uuid{};
  label.name = "";
  EXPECT_EQ(Decoded(EncodePvLabel(label)), label);

  label.name = std::string(63, 'n');
  label.extent_sectors = 8;
  label.data_offset = 8;
  label.data_sectors = label.device_sectors = 1ull << 40;
  label.data_sectors -= 8;
  EXPECT_EQ(Decoded(EncodePvLabel(label)), label);
}

TEST(PvLabelTest, EverySingleBitFlipInTheLabelIsDamage) {
  const PvLabelBlock good = EncodePvLabel(SampleLabel());
  for (size_t bit = 0; bit < kPvLabelBytes * 8; ++bit) {
    PvLabelBlock b = good;
    b[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    const absl::StatusOr<PvLabel> label = DecodePvLabel(b);
    ASSERT_EQ(CodeOf(label), absl::StatusCode::kDataLoss)
        << "byte " << bit / 8 << " bit " << bit % 8 << ": " << ErrorOf(label);
  }
}

TEST(PvLabelTest, EveryByteReplacedIsDamage) {
  const PvLabelBlock good = EncodePvLabel(SampleLabel());
  for (size_t i = 0; i < kPvLabelBytes; ++i) {
    PvLabelBlock b = good;
    b[i] = static_cast<uint8_t>(~b[i]);
    EXPECT_EQ(CodeOf(DecodePvLabel(b)), absl::StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST(PvLabelTest, DamageMessagesSayWhat) {
  const PvLabelBlock good = EncodePvLabel(SampleLabel());

  PvLabelBlock b = good;
  b[7] = 'x';
  EXPECT_EQ(ErrorOf(DecodePvLabel(b)),
            "damaged cvol label: the magic is 89 43 56 4f 4c 50 56 78, expected "
            "89 43 56 4f 4c 50 56 0a");

  b = good;
  b[200] = 1;
  EXPECT_THAT(ErrorOf(DecodePvLabel(b)),
              AllOf(HasSubstr("damaged cvol label: checksum 0x"),
                    HasSubstr("does not match its contents")));

  b = good;
  PutLe32(b, 12, 100);
  EXPECT_EQ(ErrorOf(DecodePvLabel(b)),
            "damaged cvol label: header size 100 is not a multiple of 4 from 512 to 4096");

  // A version 1 label checksummed over 1 KiB is still wrong for version 1.
  b = good;
  PutLe32(b, 12, 1024);
  PutLe32(b, 508, 0);
  PutLe32(b, 1020, Crc32cExtend(Crc32c(absl::MakeConstSpan(b.data(), 1020)), {0, 0, 0, 0}));
  EXPECT_EQ(ErrorOf(DecodePvLabel(b)),
            "damaged cvol label: version 1 has header size 512, not 1024");

  b = good;
  b[446] = 0;
  Reseal(b);
  EXPECT_EQ(ErrorOf(DecodePvLabel(b)), "damaged cvol label: byte 446 is 0x00, expected 0xc5");

  b = good;
  std::memset(b.data() + 96, 'a', 64);
  Reseal(b);
  EXPECT_EQ(ErrorOf(DecodePvLabel(b)), "damaged cvol label: the name has no terminating NUL");

  b = good;
  b[96 + 40] = 'z';
  Reseal(b);
  EXPECT_EQ(ErrorOf(DecodePvLabel(b)), "damaged cvol label: the name is not NUL-padded");
}

TEST(PvLabelTest, NewerVersionIsReportedAsSuch) {
  PvLabel label = SampleLabel();
  label.version = 2;
  const absl::StatusOr<PvLabel> decoded = DecodePvLabel(EncodePvLabel(label));
  EXPECT_EQ(CodeOf(decoded), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ErrorOf(decoded),
            "cvol label version 2 is not supported: this cvol reads version 1 (was it "
            "written by a newer cvol?)");

  // The same version field damaged in place is damage, not a newer label.
  PvLabelBlock b = EncodePvLabel(SampleLabel());
  b[8] = 2;
  EXPECT_THAT(ErrorOf(DecodePvLabel(b)),
              AllOf(HasSubstr("checksum"), HasSubstr("version field 2")));
}

struct Inconsistency {
  const char* what;
  void (*change)(PvLabel&);
  const char* message;
};

void PrintTo(const Inconsistency& inconsistency, std::ostream* os) { *os << inconsistency.what; }

class PvLabelInconsistencyTest : public ::testing::TestWithParam<Inconsistency> {};

TEST_P(PvLabelInconsistencyTest, DecodeReportsIt) {
  PvLabel label = SampleLabel();
  GetParam().change(label);
  const absl::StatusOr<PvLabel> decoded = DecodePvLabel(EncodePvLabel(label));
  EXPECT_EQ(CodeOf(decoded), absl::StatusCode::kDataLoss) << GetParam().what;
  EXPECT_EQ(ErrorOf(decoded), absl::StrCat("inconsistent cvol label: ", GetParam().message))
      << GetParam().what;
  // The encoder-side check says the same, as InvalidArgument.
  EXPECT_EQ(CheckPvLabel(label).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf(CheckPvLabel(label)), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PvLabelInconsistencyTest,
    ::testing::Values(
        Inconsistency{"unknown flags", [](PvLabel& l) { l.flags = 0x30; },
                      "unknown flags 0x30"},
        Inconsistency{"nil pv uuid", [](PvLabel& l) { l.pv_uuid = Uuid{}; },
                      "the pv uuid is nil (all zero)"},
        Inconsistency{"zero extent", [](PvLabel& l) { l.extent_sectors = 0; },
                      "extent_sectors 0 is not a non-zero multiple of 8 up to 1073741824"},
        Inconsistency{"odd extent", [](PvLabel& l) { l.extent_sectors = 2044; },
                      "extent_sectors 2044 is not a non-zero multiple of 8 up to 1073741824"},
        Inconsistency{"huge extent",
                      [](PvLabel& l) { l.extent_sectors = (1ull << 30) + 8; },
                      "extent_sectors 1073741832 is not a non-zero multiple of 8 up to "
                      "1073741824"},
        Inconsistency{"unaligned offset", [](PvLabel& l) { l.data_offset = 2047; },
                      "data_offset 2047 is not a multiple of 8 sectors"},
        Inconsistency{"offset in the label block", [](PvLabel& l) { l.data_offset = 0; },
                      "data_offset 0 is inside the label block (the first 8 sectors)"},
        Inconsistency{"no extent", [](PvLabel& l) { l.data_sectors = 0; },
                      "data_sectors is 0: the pv holds no extent"},
        Inconsistency{"partial extent", [](PvLabel& l) { l.data_sectors = 30 * 2048 + 8; },
                      "data_sectors 61448 is not a whole number of extents of 2048 sectors"},
        Inconsistency{"past the device",
                      [](PvLabel& l) { l.device_sectors = 2048 + 30 * 2048 - 1; },
                      "the data area (data_offset 2048 + data_sectors 61440) ends past "
                      "device_sectors 63487"},
        Inconsistency{"offset past the device",
                      [](PvLabel& l) { l.data_offset = ~uint64_t{0} - 7; },
                      "the data area (data_offset 18446744073709551608 + data_sectors 61440) "
                      "ends past device_sectors 65636"},
        Inconsistency{"space in the name", [](PvLabel& l) { l.name = "disk 7"; },
                      "the name has the byte 0x20: printable ASCII without spaces only"},
        Inconsistency{"control byte in the name", [](PvLabel& l) { l.name = "disk\t7"; },
                      "the name has the byte 0x09: printable ASCII without spaces only"}));

TEST(PvLabelTest, LongNameIsRefusedBeforeEncoding) {
  PvLabel label = SampleLabel();
  label.name = std::string(64, 'x');
  EXPECT_EQ(ErrorOf(CheckPvLabel(label)), "the name is 64 bytes long, at most 63");
}

TEST(PvLabelTest, VersionOtherThanOneIsNotWritable) {
  PvLabel label = SampleLabel();
  label.version = 2;
  EXPECT_EQ(ErrorOf(CheckPvLabel(label)), "version 2: this cvol handles version 1");
}

TEST(PvLabelTest, NoLabel) {
  PvLabelBlock b{};
  absl::StatusOr<PvLabel> label = DecodePvLabel(b);
  EXPECT_EQ(CodeOf(label), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorOf(label), "not a cvol device: its first 4 KiB are zero");

  std::memcpy(b.data(), "\xeb\x63\x90hello", 8);
  b[510] = 0x55;
  b[511] = 0xAA;
  label = DecodePvLabel(b);
  EXPECT_EQ(CodeOf(label), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorOf(label), "not a cvol device: no cvol label (it starts with eb 63 90 68 65 6c 6c 6f)");

  // Five of eight magic bytes is somebody else's data, not our damage.
  std::memcpy(b.data(), "\x89" "CVOLxyz", 8);
  EXPECT_EQ(CodeOf(DecodePvLabel(b)), absl::StatusCode::kNotFound);
}

TEST(PvLabelTest, ShortBlockIsAnArgumentError) {
  const std::vector<uint8_t> short_block(512);
  EXPECT_EQ(ErrorOf(DecodePvLabel(short_block)), "a label block is 4096 bytes, not 512");
}

struct Foreign {
  const char* type;
  size_t offset;
  std::string magic;
  const char* description;
};

std::vector<Foreign> ForeignSignatures() {
  return {
      {"LVM2_member", 0, "LABELONE", "an LVM2 physical volume (\"LABELONE\" at byte 0)"},
      {"LVM2_member", 512, "LABELONE", "an LVM2 physical volume (\"LABELONE\" at byte 512)"},
      {"LVM2_member", 1536, "LABELONE", "an LVM2 physical volume (\"LABELONE\" at byte 1536)"},
      {"ext4", 1080, std::string("\x53\xef", 2),
       "an ext2/3/4 file system (magic 0xEF53 at byte 1080)"},
      {"xfs", 0, "XFSB", "an XFS file system (\"XFSB\" at byte 0)"},
      {"swap", 4086, "SWAPSPACE2", "Linux swap space (\"SWAPSPACE2\" at byte 4086)"},
      {"swap", 4086, "SWAP-SPACE", "Linux swap space (\"SWAP-SPACE\" at byte 4086)"},
  };
}

PvLabelBlock WithSignature(PvLabelBlock b, const Foreign& foreign) {
  std::memcpy(b.data() + foreign.offset, foreign.magic.data(), foreign.magic.size());
  return b;
}

TEST(PvLabelTest, ForeignSignaturesAreRecognisedAndNamed) {
  for (const Foreign& foreign : ForeignSignatures()) {
    const PvLabelBlock b = WithSignature(PvLabelBlock{}, foreign);
    const std::optional<ForeignSignature> found = FindForeignSignature(b);
    ASSERT_TRUE(found.has_value()) << foreign.description;
    EXPECT_EQ(found->type, foreign.type);
    EXPECT_EQ(found->description, foreign.description);
    const absl::StatusOr<PvLabel> label = DecodePvLabel(b);
    EXPECT_EQ(CodeOf(label), absl::StatusCode::kAlreadyExists) << foreign.description;
    EXPECT_EQ(ErrorOf(label), absl::StrCat("not a cvol device: it holds ", foreign.description));
  }
  EXPECT_FALSE(FindForeignSignature(PvLabelBlock{}).has_value());
  EXPECT_FALSE(FindForeignSignature(EncodePvLabel(SampleLabel())).has_value());
}

// mkswap keeps the first 1 KiB, pvcreate writes sector 1: a label that
// survives them is stale, and the device is theirs.
TEST(PvLabelTest, ForeignSignatureAfterAGoodLabelMakesItStale) {
  for (const Foreign& foreign : ForeignSignatures()) {
    if (foreign.offset < kPvLabelBytes) continue;  // would overwrite the label itself
    const PvLabelBlock b = WithSignature(EncodePvLabel(SampleLabel()), foreign);
    const absl::StatusOr<PvLabel> label = DecodePvLabel(b);
    EXPECT_EQ(CodeOf(label), absl::StatusCode::kDataLoss) << foreign.description;
    EXPECT_EQ(ErrorOf(label), absl::StrCat("stale cvol label: the device also holds ",
                                           foreign.description, ", written after the label"));
  }
}

TEST(PvLabelTest, OtherBytesAfterTheLabelAreIgnored) {
  PvLabelBlock b = EncodePvLabel(SampleLabel());
  std::memset(b.data() + 2048, 0x77, 1024);  // reserved: a later version may use it
  EXPECT_EQ(Decoded(b), SampleLabel());
}

TEST(PvLabelTest, SizeFitsWholeExtentsAfterTheOffset) {
  PvLabel label = SampleLabel();
  ASSERT_TRUE(SizePvLabel(10 * kMiB + 5, label).ok());
  EXPECT_EQ(label.device_sectors, 10 * kMiB + 5);
  EXPECT_EQ(label.data_sectors, 9u * 2048);
  EXPECT_EQ(label.extents(), 9u);

  EXPECT_EQ(ErrorOf(SizePvLabel(2 * kMiB - 1, label)),
            "a device of 4095 sectors holds no extent of 2048 sectors after the data offset "
            "2048");
  EXPECT_EQ(ErrorOf(SizePvLabel(1000, label)),
            "a device of 1000 sectors holds no extent of 2048 sectors after the data offset "
            "2048");
}

// A scratch directory under the test's temporary directory, removed after.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "pv_label_XXXXXX";
    path_ = mkdtemp(pattern.data()) ? pattern : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A fake device: a sparse file of `sectors` with `head` at its start.
std::string MakeDevice(const TempDir& dir, const std::string& name, uint64_t sectors,
                       absl::Span<const uint8_t> head = {}) {
  const std::string path = dir.path() + "/" + name;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(sectors * 512)), 0);
  EXPECT_EQ(::pwrite(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  ::close(fd);
  return path;
}

PvLabelBlock ReadHead(const std::string& path) {
  PvLabelBlock b{};
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::pread(fd, b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  ::close(fd);
  return b;
}

PvLabel LabelFor(uint64_t device_sectors) {
  PvLabel label = SampleLabel();
  EXPECT_TRUE(SizePvLabel(device_sectors, label).ok());
  return label;
}

TEST(PvLabelDeviceTest, WritesAndReadsBack) {
  TempDir dir;
  const std::string dev = MakeDevice(dir, "blank", 64 * kMiB);
  EXPECT_EQ(ErrorOf(ReadPvLabel(dev)), dev + ": not a cvol device: its first 4 KiB are zero");
  const PvLabel label = LabelFor(64 * kMiB);
  ASSERT_TRUE(WritePvLabel(dev, label).ok());
  EXPECT_EQ(ReadBack(dev), label);
  EXPECT_EQ(ReadHead(dev), EncodePvLabel(label));

  // The same pv's label is rewritten without force (a pool change).
  PvLabel moved = label;
  moved.pool_uuid = Uuid{};
  ASSERT_TRUE(WritePvLabel(dev, moved).ok());
  EXPECT_EQ(ReadBack(dev), moved);
}

TEST(PvLabelDeviceTest, RefusesForeignSignaturesWithoutForce) {
  for (const Foreign& foreign : ForeignSignatures()) {
    TempDir dir;
    PvLabelBlock head{};
    std::memset(head.data(), 0xA5, head.size());  // someone's data
    head = WithSignature(head, foreign);
    const std::string dev = MakeDevice(dir, "foreign", 64 * kMiB, head);
    const absl::Status refused = WritePvLabel(dev, LabelFor(64 * kMiB));
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ErrorOf(refused), absl::StrCat(dev, ": not a cvol device: it holds ",
                                             foreign.description,
                                             "; use --force to overwrite it"));
    EXPECT_EQ(ReadHead(dev), head) << "the device was changed";

    ASSERT_TRUE(WritePvLabel(dev, LabelFor(64 * kMiB), {.force = true}).ok());
    EXPECT_EQ(ReadBack(dev), LabelFor(64 * kMiB));
    // The whole label block was rewritten: the foreign signature is gone.
    EXPECT_FALSE(FindForeignSignature(ReadHead(dev)).has_value()) << foreign.description;
  }
}

TEST(PvLabelDeviceTest, RefusesADamagedLabelWithoutForce) {
  TempDir dir;
  PvLabelBlock head = EncodePvLabel(LabelFor(64 * kMiB));
  head[300] ^= 1;
  const std::string dev = MakeDevice(dir, "damaged", 64 * kMiB, head);
  EXPECT_EQ(CodeOf(ReadPvLabel(dev)), absl::StatusCode::kDataLoss);
  const absl::Status refused = WritePvLabel(dev, LabelFor(64 * kMiB));
  EXPECT_THAT(ErrorOf(refused), AllOf(HasSubstr(dev + ": damaged cvol label: checksum"),
                                      HasSubstr("; use --force to overwrite it")));
  EXPECT_EQ(ReadHead(dev), head);
  ASSERT_TRUE(WritePvLabel(dev, LabelFor(64 * kMiB), {.force = true}).ok());
  EXPECT_EQ(ReadBack(dev), LabelFor(64 * kMiB));
}

TEST(PvLabelDeviceTest, RefusesAnotherPvsLabelWithoutForce) {
  TempDir dir;
  const std::string dev = MakeDevice(dir, "other", 64 * kMiB);
  ASSERT_TRUE(WritePvLabel(dev, LabelFor(64 * kMiB)).ok());
  PvLabel other = LabelFor(64 * kMiB);
  other.pv_uuid = MustParse("99999999-8888-7777-6666-555555555555");
  const absl::Status refused = WritePvLabel(dev, other);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorOf(refused),
            dev + ": already labelled as cvol pv 0123abcd-4567-89ef-fedc-ba9876543210 "
                  "(\"shelf1-disk07\"), pool 11111111-2222-3333-4444-555555555555; use --force "
                  "to overwrite it");
  EXPECT_EQ(ReadBack(dev).pv_uuid, LabelFor(64 * kMiB).pv_uuid);
  ASSERT_TRUE(WritePvLabel(dev, other, {.force = true}).ok());
  EXPECT_EQ(ReadBack(dev), other);
}

TEST(PvLabelDeviceTest, RefusesInvalidLabelsAndLabelsLargerThanTheDevice) {
  TempDir dir;
  const std::string dev = MakeDevice(dir, "small", 16 * kMiB);
  PvLabel invalid = LabelFor(16 * kMiB);
  invalid.extent_sectors = 12;
  EXPECT_EQ(ErrorOf(WritePvLabel(dev, invalid, {.force = true})),
            dev + ": refusing to write an invalid label: extent_sectors 12 is not a non-zero "
                  "multiple of 8 up to 1073741824");
  EXPECT_EQ(ErrorOf(WritePvLabel(dev, LabelFor(64 * kMiB), {.force = true})),
            dev + ": the label's data area ends at sector 131072 but the device has only "
                  "32768 sectors");
  EXPECT_EQ(ReadHead(dev), PvLabelBlock{});
}

TEST(PvLabelDeviceTest, ReadReportsAShrunkDevice) {
  TempDir dir;
  const std::string dev = MakeDevice(dir, "shrunk", 64 * kMiB);
  ASSERT_TRUE(WritePvLabel(dev, LabelFor(64 * kMiB)).ok());
  ASSERT_EQ(::truncate(dev.c_str(), 32 * kMiB * 512), 0);
  const absl::StatusOr<PvLabel> label = ReadPvLabel(dev);
  EXPECT_EQ(CodeOf(label), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorOf(label), dev + ": the cvol label's data area ends at sector 131072 but the "
                                  "device has 65536 sectors (it was 131072 when labelled: "
                                  "shrunk?)");
  EXPECT_THAT(ErrorOf(WritePvLabel(dev, LabelFor(32 * kMiB))),
              HasSubstr("shrunk?); use --force to overwrite it"));
  EXPECT_TRUE(WritePvLabel(dev, LabelFor(32 * kMiB), {.force = true}).ok());
}

TEST(PvLabelDeviceTest, ReadsAFileShorterThanTheBlock) {
  TempDir dir;
  const std::string path = dir.path() + "/tiny";
  const PvLabelBlock xfs = WithSignature(PvLabelBlock{}, ForeignSignatures()[4]);
  ASSERT_EQ(std::string(reinterpret_cast<const char*>(xfs.data()), 4), "XFSB");
  {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, xfs.data(), 1000, 0), 1000);
    ::close(fd);
  }
  const absl::StatusOr<PvLabel> label = ReadPvLabel(path);
  EXPECT_EQ(CodeOf(label), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorOf(label),
            path + ": not a cvol device: it holds an XFS file system (\"XFSB\" at byte 0)");
}

TEST(PvLabelDeviceTest, MissingDeviceIsNotReportedAsNoLabel) {
  TempDir dir;
  const absl::StatusOr<PvLabel> label = ReadPvLabel(dir.path() + "/absent");
  EXPECT_EQ(CodeOf(label), absl::StatusCode::kUnavailable);
  EXPECT_THAT(ErrorOf(label), HasSubstr("/absent: open"));
}

}  // namespace
}  // namespace cvol
