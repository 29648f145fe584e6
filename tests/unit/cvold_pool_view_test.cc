// PoolView: a pool's free space rebuilt from the records (pvs, volume maps,
// moves), and the translation between record slots and allocator indexes.
#include "pool_view.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "records.h"
#include "test_util.h"
#include "volume_layout.h"

// `cvol::Run` is spelled out: inside a test, plain `Run` is testing::Test::Run.
namespace cvol::daemon {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

constexpr char kPool[] = "tank";
constexpr uint64_t kExtentSectors = 8192;

// A snapshot built by hand, as ConfigDb::Load would return it.
class SnapshotBuilder {
 public:
  SnapshotBuilder() { AddPool(kPool); }

  SnapshotBuilder& AddPool(const std::string& name) {
    PoolRecord pool;
    pool.name = name;
    pool.uuid = name + "-uuid";
    pool.extent_sectors = kExtentSectors;
    snap_.pools[name] = {pool, 1};
    return *this;
  }

  SnapshotBuilder& AddPv(uint32_t slot, uint64_t extents, const std::string& pool = kPool) {
    PvRecord pv;
    pv.uuid = absl::StrCat(pool, "-pv-slot", slot);
    pv.name = absl::StrCat("sd", slot);
    pv.pool = pool;
    pv.slot = slot;
    pv.extents = extents;
    pv.data_offset = 2048;
    snap_.pvs[pv.uuid] = {pv, 1};
    return *this;
  }

  SnapshotBuilder& AddVolume(const std::string& name, std::vector<cvol::Run> runs,
                             const std::string& pool = kPool) {
    VolumeRecord v;
    v.pool = pool;
    v.name = name;
    v.uuid = name + "-uuid";
    for (const cvol::Run& run : runs) v.extents = std::max(v.extents, run.vext + run.count);
    if (v.extents > 0) v.segments = {Segment{0, v.extents}};
    v.runs = std::move(runs);
    snap_.volumes[{pool, name}] = {v, 1};
    return *this;
  }

  SnapshotBuilder& AddMove(const std::string& volume, uint64_t vext, Location src, Location dst,
                           MoveRecord::Phase phase, const std::string& pool = kPool) {
    MoveRecord m;
    m.pool = pool;
    m.volume = volume;
    m.vext = vext;
    m.src = src;
    m.dst = dst;
    m.phase = phase;
    snap_.moves[absl::StrCat(pool, "/", volume, "/", vext)] = {m, 1};
    return *this;
  }

  const Snapshot& snap() const { return snap_; }
  Snapshot& mutable_snap() { return snap_; }

 private:
  Snapshot snap_;
};

TEST(PoolViewTest, MissingPoolIsNotFound) {
  SnapshotBuilder b;
  b.AddPv(0, 10);
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), "nope");
  EXPECT_EQ(view.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ErrorOf(view), HasSubstr("'nope'"));
  EXPECT_EQ(PoolView::Build(Snapshot{}, kPool).status().code(), absl::StatusCode::kNotFound);
}

TEST(PoolViewTest, PoolWithoutPvsHasNoSpace) {
  SnapshotBuilder b;
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->allocator().pv_count(), 0u);
  EXPECT_EQ(view->allocator().TotalExtents(), 0u);
  EXPECT_EQ(view->allocator().FreeCount(), 0u);
  EXPECT_EQ(view->allocator().extent_sectors(), kExtentSectors);
}

TEST(PoolViewTest, FreeCountIsPvExtentsMinusVolumesMinusOneReservedExtentPerMove) {
  SnapshotBuilder b;
  b.AddPv(0, 10).AddPv(2, 20);
  // vol1 holds slot 0 extents 0-3 and slot 2 extents 5-7.
  b.AddVolume("vol1", {{0, 0, 0, 4}, {4, 2, 5, 3}});
  // Copying vext 1 from (0,1) to (2,19): the map still says (0,1), the move
  // reserves (2,19).
  b.AddMove("vol1", 1, Location{0, 1}, Location{2, 19}, MoveRecord::Phase::kCopying);
  // Committing vext 5 from (0,8) to (2,6): the map says (2,6) already, the
  // move reserves (0,8) until the kernel has switched.
  b.AddMove("vol1", 5, Location{0, 8}, Location{2, 6}, MoveRecord::Phase::kCommitting);
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  ASSERT_TRUE(view.ok()) << view.status();
  const pool::Pool& alloc = view->allocator();
  EXPECT_EQ(alloc.TotalExtents(), 30u);
  EXPECT_EQ(alloc.FreeCount(), 30u - 7u - 2u);
  EXPECT_EQ(view->UsedExtentsOnSlot(0), 4u + 1u);
  EXPECT_EQ(view->UsedExtentsOnSlot(2), 3u + 1u);
  EXPECT_EQ(view->UsedExtentsOnSlot(1), 0u);  // no pv there
  EXPECT_EQ(alloc.pv_space(0).FreeCount(), 5u);
  EXPECT_EQ(alloc.pv_space(1).FreeCount(), 16u);
  // The reserved extents themselves.
  EXPECT_FALSE(alloc.pv_space(1).IsFree(19));  // copying: dst
  EXPECT_FALSE(alloc.pv_space(0).IsFree(8));   // committing: src
  EXPECT_TRUE(alloc.pv_space(0).IsFree(9));
  EXPECT_TRUE(alloc.pv_space(1).IsFree(18));
}

TEST(PoolViewTest, OtherPoolsDoNotCount) {
  SnapshotBuilder b;
  b.AddPool("other").AddPv(0, 10).AddPv(0, 50, "other");
  b.AddVolume("big", {{0, 0, 0, 50}}, "other");
  b.AddMove("big", 3, Location{0, 3}, Location{0, 9}, MoveRecord::Phase::kCopying, "other");
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->allocator().pv_count(), 1u);
  EXPECT_EQ(view->allocator().FreeCount(), 10u);
}

TEST(PoolViewTest, SlotsWithHolesTranslate) {
  SnapshotBuilder b;
  b.AddPv(2, 20).AddPv(0, 10);  // added out of order
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_EQ(view->pvs().size(), 2u);
  EXPECT_EQ(view->pvs()[0]->slot, 0u);
  EXPECT_EQ(view->pvs()[1]->slot, 2u);
  EXPECT_EQ(view->allocator().pv_uuid(1), view->pvs()[1]->uuid);
  EXPECT_EQ(view->allocator().pv_space(1).extent_count(), 20u);

  EXPECT_EQ(*view->IndexOfSlot(0), 0u);
  EXPECT_EQ(*view->IndexOfSlot(2), 1u);
  for (uint32_t missing : {1u, 3u, 4096u}) {
    absl::StatusOr<uint32_t> index = view->IndexOfSlot(missing);
    EXPECT_EQ(index.status().code(), absl::StatusCode::kNotFound) << missing;
    EXPECT_THAT(ErrorOf(index), HasSubstr(absl::StrCat("slot ", missing))) << missing;
  }

  const std::vector<cvol::Run> by_index = {{0, 1, 5, 2}, {2, 0, 0, 3}, {5, 1, 9, 1}};
  const std::vector<cvol::Run> by_slot = {{0, 2, 5, 2}, {2, 0, 0, 3}, {5, 2, 9, 1}};
  EXPECT_EQ(view->ToSlots(by_index), by_slot);
  absl::StatusOr<std::vector<cvol::Run>> indexed = view->ToIndexes(by_slot);
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_EQ(*indexed, by_index);
  EXPECT_EQ(view->ToIndexes({{0, 7, 0, 1}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(view->ToSlot(Location{1, 7}), (Location{2, 7}));
  EXPECT_EQ(view->ToSlot(Location{0, 7}), (Location{0, 7}));

  // What the allocator hands out, translated, is where the records say it is.
  absl::StatusOr<std::vector<cvol::Run>> runs =
      view->allocator().Allocate(15, 0, pool::Placement::kContiguous);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].dev, 1u);  // only the 20-extent pv fits 15
  EXPECT_EQ(view->ToSlots(*runs)[0].dev, 2u);
}

TEST(PoolViewTest, VolumeRunsOnTheHoleSlotsAreHeldOnTheRightPv) {
  SnapshotBuilder b;
  b.AddPv(0, 10).AddPv(2, 10);
  b.AddVolume("vol1", {{0, 2, 0, 10}});
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->allocator().pv_space(0).FreeCount(), 10u);
  EXPECT_EQ(view->allocator().pv_space(1).FreeCount(), 0u);
  EXPECT_EQ(view->UsedExtentsOnSlot(2), 10u);
}

TEST(PoolViewTest, OverlappingVolumeRunsAreDataLoss) {
  SnapshotBuilder b;
  b.AddPv(0, 10).AddPv(2, 10);
  b.AddVolume("vol1", {{0, 2, 0, 5}});
  b.AddVolume("vol2", {{0, 2, 4, 2}});
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ErrorOf(view), HasSubstr("tank/vol1"));
  EXPECT_THAT(ErrorOf(view), HasSubstr("tank/vol2"));
}

TEST(PoolViewTest, OneVolumeMappingAnExtentTwiceIsDataLoss) {
  SnapshotBuilder b;
  b.AddPv(0, 10);
  b.AddVolume("vol1", {{0, 0, 0, 3}, {3, 0, 2, 1}});
  EXPECT_EQ(PoolView::Build(b.snap(), kPool).status().code(), absl::StatusCode::kDataLoss);
}

TEST(PoolViewTest, MoveReservingAnExtentAVolumeHoldsIsDataLoss) {
  SnapshotBuilder b;
  b.AddPv(0, 10);
  b.AddVolume("vol1", {{0, 0, 0, 4}});
  b.AddVolume("vol2", {{0, 0, 4, 4}});
  // Copying into an extent vol2 holds.
  b.AddMove("vol1", 0, Location{0, 0}, Location{0, 5}, MoveRecord::Phase::kCopying);
  absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
  EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ErrorOf(view), HasSubstr("move of tank/vol1 extent 0"));
}

TEST(PoolViewTest, RunsOnAMissingSlotOrPastThePvAreDataLoss) {
  {
    SnapshotBuilder b;
    b.AddPv(0, 10).AddPv(2, 10);
    b.AddVolume("vol1", {{0, 1, 0, 1}});  // slot 1: no pv
    absl::StatusOr<PoolView> view = PoolView::Build(b.snap(), kPool);
    EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(ErrorOf(view), HasSubstr("tank/vol1"));
    EXPECT_THAT(ErrorOf(view), HasSubstr("slot 1"));
  }
  {
    SnapshotBuilder b;
    b.AddPv(0, 10);
    b.AddVolume("vol1", {{0, 0, 8, 3}});  // extents 8-10 of a 10-extent pv
    EXPECT_EQ(PoolView::Build(b.snap(), kPool).status().code(), absl::StatusCode::kDataLoss);
  }
  {
    SnapshotBuilder b;
    b.AddPv(0, 10);
    b.AddVolume("vol1", {{0, 0, 0, 1}});
    b.AddMove("vol1", 0, Location{0, 0}, Location{3, 0}, MoveRecord::Phase::kCopying);
    EXPECT_EQ(PoolView::Build(b.snap(), kPool).status().code(), absl::StatusCode::kDataLoss);
  }
}

// --- Property: allocations planned on rebuilt views never collide or leak ---

class PoolModel {
 public:
  explicit PoolModel(uint32_t seed) : rng_(seed) {
    // 2-4 pvs on distinct slots in [0, 6): holes are likely.
    const int pv_count = Uniform(2, 4);
    std::vector<uint32_t> slots = {0, 1, 2, 3, 4, 5};
    std::shuffle(slots.begin(), slots.end(), rng_);
    for (int i = 0; i < pv_count; ++i) {
      const uint64_t extents = static_cast<uint64_t>(Uniform(8, 40));
      builder_.AddPv(slots[static_cast<size_t>(i)], extents);
      pv_extents_[slots[static_cast<size_t>(i)]] = extents;
    }
  }

  // One random change, planned on a view rebuilt from the records.
  void Step() {
    absl::StatusOr<PoolView> view = PoolView::Build(snap(), kPool);
    ASSERT_TRUE(view.ok()) << view.status();
    switch (Uniform(0, 5)) {
      case 0:
      case 1:
        Create(*view);
        break;
      case 2:
        Grow(*view);
        break;
      case 3:
        Remove();
        break;
      case 4:
        StartMove(*view);
        break;
      case 5:
        AdvanceMove();
        break;
    }
  }

  // The records alone say who holds what; the rebuilt view must agree.
  void Check() {
    std::map<Location, std::string, LocationLess> held;
    auto hold = [&](Location l, const std::string& who) {
      auto it = pv_extents_.find(l.dev);
      ASSERT_NE(it, pv_extents_.end()) << who << " on slot " << l.dev;
      ASSERT_LT(l.pext, it->second) << who;
      auto [pos, inserted] = held.emplace(l, who);
      ASSERT_TRUE(inserted) << "extent " << l << " held by " << pos->second << " and " << who;
    };
    for (const VolumeRecord* v : snap().VolumesOf(kPool)) {
      ASSERT_TRUE(CheckVolume(*v).ok()) << v->name << ": " << CheckVolume(*v);
      uint64_t mapped = 0;
      for (const cvol::Run& run : v->runs) {
        for (uint64_t k = 0; k < run.count; ++k) {
          hold(Location{run.dev, run.pext + k}, v->name);
          if (::testing::Test::HasFatalFailure()) return;
        }
        mapped += run.count;
      }
      EXPECT_EQ(mapped, v->extents) << v->name << " is fully mapped";
    }
    for (const MoveRecord* m : snap().MovesOf(kPool)) {
      hold(m->reserved(), absl::StrCat("move ", m->volume, "/", m->vext));
      if (::testing::Test::HasFatalFailure()) return;
    }

    absl::StatusOr<PoolView> view = PoolView::Build(snap(), kPool);
    ASSERT_TRUE(view.ok()) << view.status();
    uint64_t total = 0;
    for (const auto& [slot, extents] : pv_extents_) total += extents;
    EXPECT_EQ(view->allocator().TotalExtents(), total);
    EXPECT_EQ(held.size() + view->allocator().FreeCount(), total) << "leak";
    for (const auto& [slot, extents] : pv_extents_) {
      uint64_t on_slot = 0;
      for (const auto& [l, who] : held) on_slot += l.dev == slot ? 1 : 0;
      EXPECT_EQ(view->UsedExtentsOnSlot(slot), on_slot) << "slot " << slot;
      const pool::FreeSpace& space = view->allocator().pv_space(*view->IndexOfSlot(slot));
      for (uint64_t pext = 0; pext < extents; ++pext) {
        EXPECT_EQ(space.IsFree(pext), held.count(Location{slot, pext}) == 0)
            << "slot " << slot << " extent " << pext;
      }
    }
  }

  int volumes_created() const { return volumes_created_; }
  int moves_finished() const { return moves_finished_; }
  int grows() const { return grows_; }

 private:
  struct LocationLess {
    bool operator()(const Location& a, const Location& b) const {
      return std::pair(a.dev, a.pext) < std::pair(b.dev, b.pext);
    }
  };

  Snapshot& snap() { return builder_.mutable_snap(); }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  template <typename Map>
  typename Map::iterator Pick(Map& map) {
    auto it = map.begin();
    std::advance(it, Uniform(0, static_cast<int>(map.size()) - 1));
    return it;
  }

  void Create(PoolView& view) {
    const uint64_t count = static_cast<uint64_t>(Uniform(1, 12));
    const uint64_t free_count = view.allocator().FreeCount();
    absl::StatusOr<std::vector<cvol::Run>> runs = view.allocator().Allocate(count);
    if (count > free_count) {
      EXPECT_EQ(runs.status().code(), absl::StatusCode::kResourceExhausted);
      return;
    }
    ASSERT_TRUE(runs.ok()) << runs.status() << " (" << free_count << " free)";
    const std::string name = absl::StrCat("vol", next_volume_++);
    builder_.AddVolume(name, view.ToSlots(*runs));
    ++volumes_created_;
  }

  void Grow(PoolView& view) {
    if (snap().volumes.empty()) return;
    VolumeRecord& v = Pick(snap().volumes)->second.record;
    const uint64_t extra = static_cast<uint64_t>(Uniform(1, 8));
    const uint64_t free_count = view.allocator().FreeCount();
    absl::StatusOr<std::vector<cvol::Run>> current = view.ToIndexes(v.runs);
    ASSERT_TRUE(current.ok()) << current.status();
    absl::StatusOr<std::vector<cvol::Run>> added = view.allocator().Grow(*current, extra);
    if (extra > free_count) {
      EXPECT_EQ(added.status().code(), absl::StatusCode::kResourceExhausted);
      return;
    }
    ASSERT_TRUE(added.ok()) << added.status();
    for (const cvol::Run& run : view.ToSlots(*added)) {
      EXPECT_GE(run.vext, v.extents) << "grown runs start past the old end";
      v.runs.push_back(run);
    }
    v.segments.push_back(Segment{v.extents, extra});
    v.extents += extra;
    ++v.generation;
    ++grows_;
  }

  void Remove() {
    if (snap().volumes.empty()) return;
    auto it = Pick(snap().volumes);
    const std::string name = it->second.record.name;
    snap().volumes.erase(it);
    std::erase_if(snap().moves, [&](const auto& m) { return m.second.record.volume == name; });
  }

  void StartMove(PoolView& view) {
    if (snap().volumes.empty()) return;
    const VolumeRecord& v = Pick(snap().volumes)->second.record;
    const uint64_t vext = static_cast<uint64_t>(Uniform(0, static_cast<int>(v.extents) - 1));
    const std::string key = absl::StrCat(kPool, "/", v.name, "/", vext);
    if (snap().moves.count(key) != 0) return;
    const Location src = LocationOf(v, vext);
    absl::StatusOr<uint32_t> src_index = view.IndexOfSlot(src.dev);
    ASSERT_TRUE(src_index.ok()) << src_index.status();
    const pool::PvHint hint = Uniform(0, 1) == 0 ? pool::PvHint::kAny : pool::PvHint::kExclude;
    absl::StatusOr<Location> dst = view.allocator().AllocateOne(hint, *src_index);
    if (!dst.ok()) {
      EXPECT_EQ(dst.status().code(), absl::StatusCode::kResourceExhausted);
      return;
    }
    builder_.AddMove(v.name, vext, src, view.ToSlot(*dst), MoveRecord::Phase::kCopying);
  }

  void AdvanceMove() {
    if (snap().moves.empty()) return;
    auto it = Pick(snap().moves);
    MoveRecord& m = it->second.record;
    if (m.phase == MoveRecord::Phase::kCopying) {
      auto v = snap().volumes.find({m.pool, m.volume});
      ASSERT_NE(v, snap().volumes.end());
      ASSERT_EQ(LocationOf(v->second.record, m.vext), m.src);
      v->second.record.runs = Remap(v->second.record.runs, m.vext, m.dst);
      ++v->second.record.generation;
      m.phase = MoveRecord::Phase::kCommitting;
    } else {
      snap().moves.erase(it);
      ++moves_finished_;
    }
  }

  std::mt19937 rng_;
  SnapshotBuilder builder_;
  std::map<uint32_t, uint64_t> pv_extents_;  // by slot
  int next_volume_ = 0;
  int volumes_created_ = 0;
  int moves_finished_ = 0;
  int grows_ = 0;
};

TEST(PoolViewPropertyTest, RandomChangesNeverDoubleAllocateOrLeak) {
  int created = 0;
  int finished = 0;
  int grown = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    PoolModel model(seed);
    for (int step = 0; step < 150; ++step) {
      SCOPED_TRACE(absl::StrCat("step ", step));
      model.Step();
      if (HasFailure()) return;
      model.Check();
      if (HasFailure()) return;
    }
    created += model.volumes_created();
    finished += model.moves_finished();
    grown += model.grows();
  }
  // The sequences did exercise every kind of change.
  EXPECT_GT(created, 100);
  EXPECT_GT(finished, 50);
  EXPECT_GT(grown, 50);
}

}  // namespace
}  // namespace cvol::daemon
