#include "cvol/pv_scan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr uint64_t kDeviceSectors = 16 * 2048;  // 16 MiB

Uuid MustParse(absl::string_view text) {
  absl::StatusOr<Uuid> uuid = ParseUuid(text);
  EXPECT_TRUE(uuid.ok()) << uuid.status();
  return uuid.value_or(Uuid{});
}

const Uuid kPvA = MustParse("aaaaaaaa-0000-4000-8000-000000000001");
const Uuid kPvB = MustParse("bbbbbbbb-0000-4000-8000-000000000002");
const Uuid kPvC = MustParse("cccccccc-0000-4000-8000-000000000003");
const Uuid kPvD = MustParse("dddddddd-0000-4000-8000-000000000004");

PvLabelBlock LabelBlock(const Uuid& pv) {
  PvLabel label;
  label.pv_uuid = pv;
  label.extent_sectors = 2048;
  EXPECT_TRUE(SizePvLabel(kDeviceSectors, label).ok());
  return EncodePvLabel(label);
}

// A fake /sys/class/block and /dev under a temporary directory: each
// device is a sysfs directory with attribute files, and a regular file
// standing in for the device node.
class FakeHost {
 public:
  FakeHost() {
    std::string pattern = ::testing::TempDir() + "pv_scan_XXXXXX";
    root_ = mkdtemp(pattern.data()) ? pattern : "";
    EXPECT_FALSE(root_.empty());
    fs::create_directories(sys_dir());
    fs::create_directories(dev_dir());
  }
  ~FakeHost() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string sys_dir() const { return root_ + "/sys/class/block"; }
  std::string dev_dir() const { return root_ + "/dev"; }
  std::string dev(const std::string& node) const { return dev_dir() + "/" + node; }

  PvScanOptions Options() const {
    PvScanOptions options;
    options.sys_block_dir = sys_dir();
    options.dev_dir = dev_dir();
    return options;
  }

  // A block device `name` whose first bytes are `head`; node is where the
  // device node lives under /dev ("" for none).
  void AddDevice(const std::string& name, absl::Span<const uint8_t> head,
                 std::string node = "-") {
    if (node == "-") node = name;
    Attribute(name, "dev", absl::StrCat("8:", minor_++));
    Attribute(name, "size", std::to_string(kDeviceSectors));
    if (node.empty()) return;
    const std::string path = dev(node);
    fs::create_directories(fs::path(path).parent_path());
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, kDeviceSectors * 512), 0);
    ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
    ::close(fd);
  }

  void Attribute(const std::string& name, const std::string& attribute,
                 const std::string& value) {
    const fs::path path = fs::path(sys_dir()) / name / attribute;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << value << "\n";
  }

  void AddDm(const std::string& name, const std::string& dm_name, const std::string& dm_uuid,
             absl::Span<const uint8_t> head, bool suspended = false) {
    AddDevice(name, head);
    Attribute(name, "dm/name", dm_name);
    Attribute(name, "dm/uuid", dm_uuid);
    Attribute(name, "dm/suspended", suspended ? "1" : "0");
  }

  void Hold(const std::string& name, const std::string& holder) {
    fs::create_directories(fs::path(sys_dir()) / name / "holders" / holder);
  }

 private:
  std::string root_;
  int minor_ = 0;
};

std::vector<std::string> ProblemPaths(const PvScanResult& result) {
  std::vector<std::string> paths;
  for (const PvScanProblem& problem : result.problems) paths.push_back(problem.path);
  return paths;
}

std::string SkipReason(const PvScanResult& result, const std::string& path) {
  for (const PvScanSkip& skip : result.skipped) {
    if (skip.path == path) return skip.reason;
  }
  return "not skipped";
}

TEST(PvScanTest, MapsPvUuidsToPaths) {
  FakeHost host;
  host.AddDevice("sda", LabelBlock(kPvA));
  host.AddDevice("sdb", {});
  host.AddDevice("nvme0n1p2", LabelBlock(kPvB));
  host.AddDevice("cciss!c0d0", LabelBlock(kPvC), "cciss/c0d0");

  absl::StatusOr<PvScanResult> result = ScanPvs(host.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->problems, IsEmpty());
  ASSERT_EQ(result->pvs.size(), 3u);
  EXPECT_EQ(result->pvs.at(kPvA).path, host.dev("sda"));
  EXPECT_EQ(result->pvs.at(kPvA).label.pv_uuid, kPvA);
  EXPECT_EQ(result->pvs.at(kPvA).label.data_sectors, 15u * 2048);
  EXPECT_EQ(result->pvs.at(kPvB).path, host.dev("nvme0n1p2"));
  EXPECT_EQ(result->pvs.at(kPvC).path, host.dev("cciss/c0d0"));
  EXPECT_EQ(SkipReason(*result, host.dev("sdb")), "not a cvol device: its first 4 KiB are zero");
}

TEST(PvScanTest, ReportsDuplicatesOnEveryPathAndUsesNone) {
  FakeHost host;
  host.AddDevice("sda", LabelBlock(kPvA));
  host.AddDevice("sdc", LabelBlock(kPvB));
  host.AddDevice("sdd", LabelBlock(kPvB));

  absl::StatusOr<PvScanResult> result = ScanPvs(host.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->pvs, ElementsAre(Pair(kPvA, Field(&ScannedPv::path, host.dev("sda")))));
  EXPECT_THAT(ProblemPaths(*result), ElementsAre(host.dev("sdc"), host.dev("sdd")));
  for (const PvScanProblem& problem : result->problems) {
    EXPECT_EQ(problem.status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(problem.status.message(),
              absl::StrCat(problem.path, ": pv bbbbbbbb-0000-4000-8000-000000000002 is on 2 "
                                         "devices (",
                           host.dev("sdc"), ", ", host.dev("sdd"),
                           "): a cloned disk, or paths of a multipath device without its "
                           "map; none of them is used"));
  }
}

TEST(PvScanTest, ReportsDamagedLabelsAndUnreadableDevicesButNotForeignOnes) {
  FakeHost host;
  PvLabelBlock damaged = LabelBlock(kPvA);
  damaged[100] ^= 0x10;
  host.AddDevice("sda", damaged);
  PvLabelBlock ext4{};
  ext4[1080] = 0x53;
  ext4[1081] = 0xEF;
  host.AddDevice("sdb", ext4);
  PvLabelBlock stale = LabelBlock(kPvC);
  std::memcpy(stale.data() + 4086, "SWAPSPACE2", 10);
  host.AddDevice("sdc", stale);
  host.AddDevice("sdd", LabelBlock(kPvD), /*node=*/"");  // no device node

  absl::StatusOr<PvScanResult> result = ScanPvs(host.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->pvs, IsEmpty());
  ASSERT_THAT(ProblemPaths(*result),
              ElementsAre(host.dev("sda"), host.dev("sdc"), host.dev("sdd")));
  EXPECT_EQ(result->problems[0].status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(result->problems[0].status.message(),
              HasSubstr(host.dev("sda") + ": damaged cvol label: checksum"));
  EXPECT_EQ(result->problems[1].status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(result->problems[1].status.message(),
              HasSubstr("stale cvol label: the device also holds Linux swap space"));
  EXPECT_EQ(result->problems[2].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SkipReason(*result, host.dev("sdb")),
            "not a cvol device: it holds an ext2/3/4 file system (magic 0xEF53 at byte 1080)");
}

TEST(PvScanTest, SkipsDevicesThatAreNotCandidates) {
  FakeHost host;
  const PvLabelBlock a = LabelBlock(kPvA);
  host.AddDevice("ram0", a);
  host.AddDevice("zram0", a);
  host.AddDevice("loop0", a);  // no backing file: not set up
  host.AddDevice("loop1", LabelBlock(kPvB));
  host.Attribute("loop1", "loop/backing_file", "/images/b.img");
  host.AddDevice("sr0", a);
  host.Attribute("sr0", "size", "0");
  host.AddDm("dm-0", "vol1", "CVOL-vol1", a);              // a cvol volume by uuid
  host.AddDm("dm-1", "cvoltest-vol2", "", a);              // by name prefix
  host.AddDm("dm-2", "vol3", "", a);                       // by the hook
  host.AddDm("dm-3", "frozen", "LVM-xyz", a, /*suspended=*/true);
  host.AddDm("dm-4", "mpatha", "mpath-3600a0b8", LabelBlock(kPvC));
  host.AddDevice("sdg", LabelBlock(kPvC));
  host.AddDevice("sdh", LabelBlock(kPvC));
  host.Hold("sdg", "dm-4");
  host.Hold("sdh", "dm-4");
  host.AddDm("dm-5", "vg-lv", "LVM-abc", LabelBlock(kPvD));  // an ordinary dm device
  host.AddDevice("sdi", LabelBlock(kPvD));
  host.Hold("sdi", "dm-5");  // held, but not by multipath: still read
  fs::create_directories(fs::path(host.sys_dir()) / "not-a-device");

  PvScanOptions options = host.Options();
  options.skip_dm_name_prefixes = {"cvoltest-"};
  std::vector<std::string> asked;
  options.is_cvol_volume = [&asked](const std::string& dm_name) {
    asked.push_back(dm_name);
    return dm_name == "vol3";
  };
  absl::StatusOr<PvScanResult> result = ScanPvs(options);
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_EQ(SkipReason(*result, host.dev("ram0")), "a RAM disk");
  EXPECT_EQ(SkipReason(*result, host.dev("zram0")), "a RAM disk");
  EXPECT_EQ(SkipReason(*result, host.dev("loop0")), "a loop device without a backing file");
  EXPECT_EQ(SkipReason(*result, host.dev("sr0")), "empty (size 0: no medium?)");
  EXPECT_EQ(SkipReason(*result, host.dev("dm-0")), "dm device vol1 is a cvol volume");
  EXPECT_EQ(SkipReason(*result, host.dev("dm-1")), "dm device cvoltest-vol2 is a cvol volume");
  EXPECT_EQ(SkipReason(*result, host.dev("dm-2")), "dm device vol3 is a cvol volume");
  EXPECT_EQ(SkipReason(*result, host.dev("dm-3")),
            "dm device frozen is suspended (a read would wait)");
  EXPECT_EQ(SkipReason(*result, host.dev("sdg")), "a path of the multipath device dm-4");
  EXPECT_EQ(SkipReason(*result, host.dev("sdh")), "a path of the multipath device dm-4");
  EXPECT_EQ(SkipReason(*result, host.dev("not-a-device")), "not skipped");
  // The hook is asked only about dm devices the options did not settle.
  EXPECT_THAT(asked, ElementsAre("vol3", "mpatha", "vg-lv"));

  // The multipath device is the pv, not its paths; a pv under LVM is a
  // duplicate of the LV that shows it (the scan cannot tell which is right).
  EXPECT_THAT(result->pvs,
              UnorderedElementsAre(Pair(kPvB, Field(&ScannedPv::path, host.dev("loop1"))),
                                   Pair(kPvC, Field(&ScannedPv::path, host.dev("dm-4")))));
  EXPECT_THAT(ProblemPaths(*result), ElementsAre(host.dev("dm-5"), host.dev("sdi")));
}

TEST(PvScanTest, DefaultOptionsSkipCvolUuidsOnly) {
  const PvScanOptions options;
  EXPECT_EQ(options.sys_block_dir, "/sys/class/block");
  EXPECT_EQ(options.dev_dir, "/dev");
  EXPECT_THAT(options.skip_dm_uuid_prefixes, ElementsAre("CVOL-"));
  EXPECT_THAT(options.skip_dm_name_prefixes, IsEmpty());
}

TEST(PvScanTest, FailsOnlyWithoutSysfs) {
  FakeHost host;
  PvScanOptions options = host.Options();
  options.sys_block_dir += "/missing";
  EXPECT_THAT(::cvol::testing::ErrorOf(ScanPvs(options)),
              HasSubstr("cannot list block devices in " + options.sys_block_dir));

  absl::StatusOr<PvScanResult> empty = ScanPvs(host.Options());
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(empty->pvs, IsEmpty());
  EXPECT_THAT(empty->problems, IsEmpty());
  EXPECT_THAT(empty->skipped, IsEmpty());
}

}  // namespace
}  // namespace cvol
