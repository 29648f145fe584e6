// volume_layout: how a volume record (segments, runs over the whole volume)
// becomes one cvol table line per segment, and how one extent is remapped.
#include "volume_layout.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "records.h"
#include "test_util.h"

// `cvol::Run` is spelled out: inside a test, plain `Run` is testing::Test::Run.
namespace cvol::daemon {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

constexpr uint64_t kSectors = 8;  // per extent

// 10 extents in three segments (0-3, 4-6, 7-9); the first two runs straddle
// segment boundaries, and they are not listed in vext order.
VolumeRecord ThreeSegments() {
  VolumeRecord v;
  v.pool = "tank";
  v.name = "vol1";
  v.uuid = "11111111-2222";
  v.extents = 10;
  v.segments = {Segment{0, 4}, Segment{4, 3}, Segment{7, 3}};
  v.runs = {cvol::Run{9, 0, 50, 1}, cvol::Run{0, 0, 100, 6}, cvol::Run{6, 2, 0, 3}};
  return v;
}

TEST(SegmentUuidTest, FirstSegmentIsTheVolumeUuidOthersAreSuffixed) {
  const VolumeRecord v = ThreeSegments();
  EXPECT_EQ(SegmentUuid(v, 0), "11111111-2222");
  EXPECT_EQ(SegmentUuid(v, 1), "11111111-2222.1");
  EXPECT_EQ(SegmentUuid(v, 2), "11111111-2222.2");
  EXPECT_EQ(SegmentUuid(v, 12), "11111111-2222.12");
}

TEST(LocateTest, FirstAndLastExtentOfEachSegment) {
  const VolumeRecord v = ThreeSegments();
  struct Case {
    uint64_t vext;
    size_t segment;
    uint64_t sector;
    uint64_t local;
  };
  for (const Case& c : {Case{0, 0, 0, 0}, Case{3, 0, 0, 3}, Case{4, 1, 32, 0}, Case{6, 1, 32, 2},
                        Case{7, 2, 56, 0}, Case{9, 2, 56, 2}}) {
    absl::StatusOr<ExtentAddress> a = Locate(v, c.vext, kSectors);
    ASSERT_TRUE(a.ok()) << c.vext << ": " << a.status();
    EXPECT_EQ(a->segment, c.segment) << c.vext;
    EXPECT_EQ(a->sector, c.sector) << c.vext;
    EXPECT_EQ(a->local_vext, c.local) << c.vext;
  }
}

TEST(LocateTest, OutOfRangeNamesTheRange) {
  const VolumeRecord v = ThreeSegments();
  for (uint64_t vext : {uint64_t{10}, uint64_t{11}, UINT64_MAX}) {
    absl::StatusOr<ExtentAddress> a = Locate(v, vext, kSectors);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kOutOfRange) << vext;
    EXPECT_THAT(ErrorOf(a), HasSubstr(absl::StrCat("extent ", vext)));
    EXPECT_THAT(ErrorOf(a), HasSubstr("tank/vol1"));
    EXPECT_THAT(ErrorOf(a), HasSubstr("10 extents: 0-9"));
  }
}

TEST(SegmentRunsTest, ClipsAndRebasesRunsThatStraddleSegments) {
  const VolumeRecord v = ThreeSegments();
  EXPECT_EQ(SegmentRuns(v, 0), (std::vector<cvol::Run>{{0, 0, 100, 4}}));
  EXPECT_EQ(SegmentRuns(v, 1), (std::vector<cvol::Run>{{0, 0, 104, 2}, {2, 2, 0, 1}}));
  EXPECT_EQ(SegmentRuns(v, 2), (std::vector<cvol::Run>{{0, 2, 1, 2}, {2, 0, 50, 1}}));
}

TEST(SegmentRunsTest, ARunOverEverySegment) {
  VolumeRecord v = ThreeSegments();
  v.runs = {cvol::Run{0, 1, 1000, 10}};
  EXPECT_EQ(SegmentRuns(v, 0), (std::vector<cvol::Run>{{0, 1, 1000, 4}}));
  EXPECT_EQ(SegmentRuns(v, 1), (std::vector<cvol::Run>{{0, 1, 1004, 3}}));
  EXPECT_EQ(SegmentRuns(v, 2), (std::vector<cvol::Run>{{0, 1, 1007, 3}}));
}

TEST(SegmentRunsTest, UnmappedSegmentHasNoRuns) {
  VolumeRecord v = ThreeSegments();
  v.runs = {cvol::Run{0, 0, 0, 4}, cvol::Run{8, 0, 4, 2}};
  EXPECT_TRUE(SegmentRuns(v, 1).empty());
  EXPECT_EQ(SegmentRuns(v, 2), (std::vector<cvol::Run>{{1, 0, 4, 2}}));
}

// Segment runs laid end to end are the volume's map again.
TEST(SegmentRunsTest, SegmentsTogetherMapEveryExtentAsTheVolumeDoes) {
  const VolumeRecord v = ThreeSegments();
  for (size_t i = 0; i < v.segments.size(); ++i) {
    for (const cvol::Run& run : SegmentRuns(v, i)) {
      for (uint64_t k = 0; k < run.count; ++k) {
        const uint64_t vext = v.segments[i].first_vext + run.vext + k;
        EXPECT_EQ(LocationOf(v, vext), (Location{run.dev, run.pext + k})) << vext;
      }
    }
  }
}

struct Pvs {
  std::vector<PvRecord> records;
  std::vector<const PvRecord*> pointers;
};

// slot 0: pv-a (has a path); slot 1: no pv; slot 2: pv-c (has a path);
// slot 3: pv-d (no path on this host). Listed out of slot order.
Pvs FourSlots() {
  Pvs pvs;
  pvs.records = {PvRecord{"pv-d", "sdd", "tank", 3, 100, 4096, 0},
                 PvRecord{"pv-a", "sda", "tank", 0, 100, 2048, 0},
                 PvRecord{"pv-c", "sdc", "tank", 2, 100, 1024, 0}};
  for (const PvRecord& pv : pvs.records) pvs.pointers.push_back(&pv);
  return pvs;
}

TEST(BuildTableLinesTest, OneLinePerSegmentEverySlotUpToTheHighest) {
  const VolumeRecord v = ThreeSegments();
  const Pvs pvs = FourSlots();
  const PvPaths paths = {{"pv-a", "/dev/sda"}, {"pv-c", "8:32"}, {"pv-elsewhere", "/dev/sdz"}};
  const std::vector<TableLine> lines = BuildTableLines(v, kSectors, pvs.pointers, paths);
  ASSERT_EQ(lines.size(), 3u);
  // The highest slot is listed although its pv has no path here.
  const std::vector<DeviceSlot> devices = {DeviceSlot{"/dev/sda", 2048}, DeviceSlot{},
                                           DeviceSlot{"8:32", 1024}, DeviceSlot{}};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].vol_uuid, SegmentUuid(v, i));
    EXPECT_EQ(lines[i].extent_sectors, kSectors);
    EXPECT_EQ(lines[i].devices, devices) << i;
    ASSERT_TRUE(lines[i].map_runs.has_value()) << i;
    EXPECT_EQ(*lines[i].map_runs, SegmentRuns(v, i)) << i;
    EXPECT_TRUE(lines[i].Validate().ok()) << i << ": " << lines[i].Validate();
  }
  EXPECT_EQ(lines[1].Format(),
            "11111111-2222.1 8 4 /dev/sda 2048 - 0 8:32 1024 - 0 4 map_runs 2 0:0:104:2 "
            "2:2:0:1");
}

TEST(BuildTableLinesTest, UnmappedSegmentStillListsMapRunsZero) {
  VolumeRecord v = ThreeSegments();
  v.runs = {cvol::Run{0, 0, 0, 4}};
  const Pvs pvs = FourSlots();
  const std::vector<TableLine> lines = BuildTableLines(v, kSectors, pvs.pointers, {});
  ASSERT_EQ(lines.size(), 3u);
  ASSERT_TRUE(lines[2].map_runs.has_value());
  EXPECT_TRUE(lines[2].map_runs->empty());
  EXPECT_THAT(lines[2].Format(), HasSubstr("map_runs 0"));
  // No paths at all: every slot is empty.
  for (const DeviceSlot& slot : lines[0].devices) EXPECT_TRUE(slot.is_empty());
  EXPECT_EQ(lines[0].devices.size(), 4u);
}

// `volume show`'s Generation is the kernel's map_gen: 0 for a new volume
// (its table carries no map_gen, so the kernel starts at 0), and one more
// after each move, whose commit adds one to the record and one in the
// kernel (migrate_commit, or map_set on a member without the migration).
TEST(KernelMapGenTest, EqualsTheKernelsMapGenFromCreationOnThroughMoves) {
  VolumeRecord v;  // as volume create writes it
  v.pool = "tank";
  v.name = "vol1";
  v.uuid = "11111111-2222";
  v.extents = 4;
  v.segments = {Segment{0, 4}};
  v.runs = {cvol::Run{0, 0, 0, 4}};
  const Pvs pvs = FourSlots();
  const std::vector<TableLine> lines = BuildTableLines(v, kSectors, pvs.pointers, {});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_FALSE(lines[0].map_gen.has_value());  // the kernel starts at map_gen 0
  uint64_t kernel_map_gen = 0;
  EXPECT_EQ(KernelMapGen(v), kernel_map_gen);
  for (uint64_t vext : {uint64_t{1}, uint64_t{3}, uint64_t{1}}) {
    // A move's commit: etcd first (the map and generation + 1), then the kernel.
    v.runs = Remap(v.runs, vext, Location{2, 10 + vext});
    ++v.generation;
    ++kernel_map_gen;
    EXPECT_EQ(KernelMapGen(v), kernel_map_gen) << "after moving extent " << vext;
  }
  v.generation = 0;  // a record edited by hand does not wrap around
  EXPECT_EQ(KernelMapGen(v), 0u);
}

TEST(ToDmLinesTest, StartAndLengthInSectors) {
  const VolumeRecord v = ThreeSegments();
  const Pvs pvs = FourSlots();
  const PvPaths paths = {{"pv-a", "/dev/sda"}, {"pv-c", "8:32"}};
  const std::vector<TableLine> lines = BuildTableLines(v, kSectors, pvs.pointers, paths);
  const std::vector<DmLine> dm = ToDmLines(v, kSectors, lines);
  ASSERT_EQ(dm.size(), 3u);
  EXPECT_EQ(dm[0].start, 0u);
  EXPECT_EQ(dm[0].length, 32u);
  EXPECT_EQ(dm[1].start, 32u);
  EXPECT_EQ(dm[1].length, 24u);
  EXPECT_EQ(dm[2].start, 56u);
  EXPECT_EQ(dm[2].length, 24u);
  for (size_t i = 0; i < dm.size(); ++i) {
    EXPECT_EQ(dm[i].target_type, "cvol");
    EXPECT_EQ(dm[i].params, lines[i].Format());
  }
  // The table covers the volume exactly.
  EXPECT_EQ(dm[2].start + dm[2].length, v.extents * kSectors);
}

TEST(LocationOfTest, MappedAndUnmappedExtents) {
  VolumeRecord v = ThreeSegments();
  EXPECT_EQ(LocationOf(v, 0), (Location{0, 100}));
  EXPECT_EQ(LocationOf(v, 5), (Location{0, 105}));
  EXPECT_EQ(LocationOf(v, 6), (Location{2, 0}));
  EXPECT_EQ(LocationOf(v, 8), (Location{2, 2}));
  EXPECT_EQ(LocationOf(v, 9), (Location{0, 50}));
  EXPECT_EQ(LocationOf(v, 10), (Location{}));
  v.runs = {cvol::Run{2, 1, 7, 1}};
  EXPECT_EQ(LocationOf(v, 1), (Location{}));
  EXPECT_EQ(LocationOf(v, 2), (Location{1, 7}));
  EXPECT_EQ(LocationOf(v, 3), (Location{}));
}

// Runs in vext order with neighbours that continue each other merged: the
// same extents mapped the same way compare equal however they are split.
std::vector<cvol::Run> Normalized(std::vector<cvol::Run> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const cvol::Run& x, const cvol::Run& y) { return x.vext < y.vext; });
  std::vector<cvol::Run> out;
  for (const cvol::Run& run : runs) {
    if (!out.empty() && out.back().vext + out.back().count == run.vext &&
        out.back().dev == run.dev && out.back().pext + out.back().count == run.pext) {
      out.back().count += run.count;
    } else {
      out.push_back(run);
    }
  }
  return out;
}

// Remap must keep every other extent where it was, point the one extent at
// its new place, and leave a valid map (no overlap, same coverage).
void ExpectRemapped(const VolumeRecord& before, uint64_t vext, Location to) {
  VolumeRecord after = before;
  after.runs = Remap(before.runs, vext, to);
  EXPECT_TRUE(CheckVolume(after).ok()) << CheckVolume(after);
  uint64_t mapped_before = 0;
  uint64_t mapped_after = 0;
  for (const cvol::Run& run : before.runs) mapped_before += run.count;
  for (const cvol::Run& run : after.runs) {
    EXPECT_GT(run.count, 0u) << run;
    mapped_after += run.count;
  }
  EXPECT_EQ(mapped_after, mapped_before);
  for (uint64_t e = 0; e < before.extents; ++e) {
    EXPECT_EQ(LocationOf(after, e), e == vext ? to : LocationOf(before, e)) << "extent " << e;
  }
}

TEST(RemapTest, StartMiddleAndEndOfARun) {
  const VolumeRecord v = ThreeSegments();  // {0, 0, 100, 6} is one run
  const Location to{3, 77};
  EXPECT_EQ(Normalized(Remap(v.runs, 0, to)),
            (std::vector<cvol::Run>{{0, 3, 77, 1}, {1, 0, 101, 5}, {6, 2, 0, 3}, {9, 0, 50, 1}}));
  EXPECT_EQ(Normalized(Remap(v.runs, 3, to)),
            (std::vector<cvol::Run>{
                {0, 0, 100, 3}, {3, 3, 77, 1}, {4, 0, 104, 2}, {6, 2, 0, 3}, {9, 0, 50, 1}}));
  EXPECT_EQ(Normalized(Remap(v.runs, 5, to)),
            (std::vector<cvol::Run>{{0, 0, 100, 5}, {5, 3, 77, 1}, {6, 2, 0, 3}, {9, 0, 50, 1}}));
  for (uint64_t vext : {0, 3, 5}) {
    SCOPED_TRACE(vext);
    ExpectRemapped(v, vext, to);
  }
}

TEST(RemapTest, AOneExtentRun) {
  const VolumeRecord v = ThreeSegments();  // {9, 0, 50, 1}
  EXPECT_EQ(Normalized(Remap(v.runs, 9, Location{1, 3})),
            (std::vector<cvol::Run>{{0, 0, 100, 6}, {6, 2, 0, 3}, {9, 1, 3, 1}}));
  ExpectRemapped(v, 9, Location{1, 3});
}

TEST(RemapTest, EveryExtentInTurnAndBackAgain) {
  const VolumeRecord v = ThreeSegments();
  for (uint64_t vext = 0; vext < v.extents; ++vext) {
    SCOPED_TRACE(vext);
    ExpectRemapped(v, vext, Location{7, 1000 + vext});
    // Moving it back restores every location.
    VolumeRecord there = v;
    there.runs = Remap(v.runs, vext, Location{7, 1000 + vext});
    ExpectRemapped(there, vext, LocationOf(v, vext));
    EXPECT_EQ(Normalized(Remap(there.runs, vext, LocationOf(v, vext))), Normalized(v.runs));
  }
}

}  // namespace
}  // namespace cvol::daemon
