// ConfigDb over the in-memory etcd: snapshots, key layout, and the guards
// that make every ChangeSet safe against a concurrent writer.
#include "config_db.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cvol/store/mem_kv_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

// `cvol::Run` is spelled out: inside a test, plain `Run` is testing::Test::Run.
namespace cvol::daemon {
namespace {

using ::cvol::store::MemKvStore;
using ::cvol::store::Op;
using ::testing::IsEmpty;

constexpr char kPrefix[] = "/cvol/";

PoolRecord Pool(const std::string& name) {
  PoolRecord p;
  p.name = name;
  p.uuid = name + "-uuid";
  p.extent_sectors = 8192;
  return p;
}

PvRecord Pv(const std::string& uuid, const std::string& pool, uint32_t slot) {
  PvRecord pv;
  pv.uuid = uuid;
  pv.name = "dev-" + uuid;
  pv.pool = pool;
  pv.slot = slot;
  pv.extents = 100;
  pv.data_offset = 2048;
  pv.device_sectors = 100 * 8192 + 2048;
  return pv;
}

VolumeRecord Volume(const std::string& pool, const std::string& name, uint64_t pext) {
  VolumeRecord v;
  v.pool = pool;
  v.name = name;
  v.uuid = name + "-uuid";
  v.extents = 4;
  v.segments = {Segment{0, 4}};
  v.runs = {cvol::Run{0, 0, pext, 4}};
  return v;
}

MoveRecord Move(const std::string& pool, const std::string& volume, uint64_t vext) {
  MoveRecord m;
  m.pool = pool;
  m.volume = volume;
  m.volume_uuid = volume + "-uuid";
  m.vext = vext;
  m.src = Location{0, vext};
  m.dst = Location{0, 90};
  return m;
}

class ConfigDbTest : public ::testing::Test {
 protected:
  // Everything in the store, to show that a refused commit wrote nothing.
  std::vector<store::KeyValue> Contents() {
    absl::StatusOr<store::RangeResult> r = kv_.Range("");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->kvs : std::vector<store::KeyValue>{};
  }

  Snapshot MustLoad() {
    absl::StatusOr<Snapshot> snap = db_.Load();
    EXPECT_TRUE(snap.ok()) << snap.status();
    return snap.ok() ? *std::move(snap) : Snapshot{};
  }

  void MustCommit(const ChangeSet& change) {
    absl::Status s = db_.Commit(change);
    ASSERT_TRUE(s.ok()) << s;
  }

  // A pool "tank" with two pvs, one volume and one move.
  void Populate() {
    ChangeSet change(db_);
    change.CreatePool(Pool("tank"));
    change.CreatePv(Pv("pv-a", "tank", 0));
    change.CreatePv(Pv("pv-b", "tank", 1));
    change.CreateVolume(Volume("tank", "vol1", 0));
    change.CreateMove(Move("tank", "vol1", 2));
    MustCommit(change);
  }

  MemKvStore kv_;
  ConfigDb db_{kv_, kPrefix};
};

TEST_F(ConfigDbTest, KeyLayout) {
  EXPECT_EQ(db_.PoolKey("tank"), "/cvol/pools/tank");
  EXPECT_EQ(db_.PvKey("pv-a"), "/cvol/pvs/pv-a");
  EXPECT_EQ(db_.VolumeKey("tank", "vol1"), "/cvol/volumes/tank/vol1");
  EXPECT_EQ(db_.MoveKey("tank", "vol1", 7), "/cvol/moves/tank/vol1/00000000000000000007");
  EXPECT_EQ(db_.MoveKey(Move("tank", "vol1", 123)), "/cvol/moves/tank/vol1/00000000000000000123");
  EXPECT_EQ(db_.MoveKey("tank", "vol1", UINT64_MAX), "/cvol/moves/tank/vol1/18446744073709551615");
  ConfigDb other(kv_, "/x/");
  EXPECT_EQ(other.PoolKey("tank"), "/x/pools/tank");
}

// Zero padding makes etcd's byte order (the order a snapshot lists moves
// in) the numeric order of the extents.
TEST_F(ConfigDbTest, MoveKeysSortNumerically) {
  const std::vector<uint64_t> vexts = {10, 9, 100, 0, 1, UINT64_MAX, 11, 2};
  ChangeSet change(db_);
  change.CreatePool(Pool("tank"));
  for (uint64_t vext : vexts) change.CreateMove(Move("tank", "vol1", vext));
  MustCommit(change);
  Snapshot snap = MustLoad();
  std::vector<uint64_t> order;
  for (const auto& [key, move] : snap.moves) {
    EXPECT_EQ(key, db_.MoveKey(move.record));
    order.push_back(move.record.vext);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{0, 1, 2, 9, 10, 11, 100, UINT64_MAX}));
  std::vector<uint64_t> listed;
  for (const MoveRecord* m : snap.MovesOf("tank")) listed.push_back(m->vext);
  EXPECT_EQ(listed, order);
}

TEST_F(ConfigDbTest, LoadOfAnEmptyStore) {
  absl::StatusOr<Snapshot> snap = db_.Load();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->revision, kv_.revision());
  EXPECT_THAT(snap->pools, IsEmpty());
  EXPECT_THAT(snap->pvs, IsEmpty());
  EXPECT_THAT(snap->volumes, IsEmpty());
  EXPECT_THAT(snap->moves, IsEmpty());
  EXPECT_THAT(snap->PvsOf("tank"), IsEmpty());
  EXPECT_THAT(snap->VolumesOf("tank"), IsEmpty());
  EXPECT_THAT(snap->MovesOf("tank"), IsEmpty());
  EXPECT_EQ(snap->FindVolume("tank", "vol1"), nullptr);
}

TEST_F(ConfigDbTest, LoadReadsBackEveryRecordWithItsRevision) {
  Populate();
  const int64_t rev = kv_.revision();
  Snapshot snap = MustLoad();
  EXPECT_EQ(snap.revision, rev);
  ASSERT_EQ(snap.pools.count("tank"), 1u);
  EXPECT_EQ(snap.pools.at("tank").record, Pool("tank"));
  EXPECT_EQ(snap.pools.at("tank").mod_revision, rev);
  ASSERT_EQ(snap.pvs.size(), 2u);
  EXPECT_EQ(snap.pvs.at("pv-b").record, Pv("pv-b", "tank", 1));
  const VolumeRecord* vol = snap.FindVolume("tank", "vol1");
  ASSERT_NE(vol, nullptr);
  EXPECT_EQ(*vol, Volume("tank", "vol1", 0));
  EXPECT_EQ(snap.volumes.at({"tank", "vol1"}).mod_revision, rev);
  ASSERT_EQ(snap.moves.size(), 1u);
  EXPECT_EQ(snap.moves.begin()->first, db_.MoveKey("tank", "vol1", 2));
  EXPECT_EQ(snap.moves.begin()->second.record, Move("tank", "vol1", 2));
}

TEST_F(ConfigDbTest, SnapshotQueriesFilterByPoolAndOrderPvsBySlot) {
  ChangeSet change(db_);
  change.CreatePool(Pool("tank"));
  change.CreatePool(Pool("other"));
  // uuids in the opposite order of the slots.
  change.CreatePv(Pv("pv-z", "tank", 0));
  change.CreatePv(Pv("pv-m", "tank", 2));
  change.CreatePv(Pv("pv-a", "tank", 5));
  change.CreatePv(Pv("pv-o", "other", 1));
  change.CreateVolume(Volume("tank", "v1", 0));
  change.CreateVolume(Volume("other", "v1", 0));
  change.CreateMove(Move("other", "v1", 0));
  MustCommit(change);
  Snapshot snap = MustLoad();
  std::vector<uint32_t> slots;
  for (const PvRecord* pv : snap.PvsOf("tank")) slots.push_back(pv->slot);
  EXPECT_EQ(slots, (std::vector<uint32_t>{0, 2, 5}));
  ASSERT_EQ(snap.VolumesOf("tank").size(), 1u);
  EXPECT_EQ(snap.VolumesOf("tank")[0]->pool, "tank");
  EXPECT_THAT(snap.MovesOf("tank"), IsEmpty());
  ASSERT_EQ(snap.MovesOf("other").size(), 1u);
  EXPECT_EQ(snap.FindVolume("other", "v1")->pool, "other");
  EXPECT_EQ(snap.FindVolume("tank", "v2"), nullptr);
}

TEST_F(ConfigDbTest, RecordsUnderOtherPrefixesAreIgnored) {
  Populate();
  // Another cluster's records, the cluster's own keys under our prefix, and
  // a prefix that merely starts with ours: none are read, even malformed.
  ASSERT_TRUE(kv_.Txn({}, {Op::Put("/other/pools/tank", "garbage"),
                           Op::Put("/cvol2/pools/x", "garbage"),
                           Op::Put("/cvol/members/host1", "garbage"),
                           Op::Put("/cvol/leader", "garbage"),
                           Op::Put("/cvolpools/y", "garbage")})
                  .ok());
  Snapshot snap = MustLoad();
  EXPECT_EQ(snap.pools.size(), 1u);
  EXPECT_EQ(snap.pvs.size(), 2u);
  EXPECT_EQ(snap.volumes.size(), 1u);
  EXPECT_EQ(snap.moves.size(), 1u);

  // The same store under another prefix sees none of ours.
  ConfigDb other(kv_, "/other2/");
  absl::StatusOr<Snapshot> empty = other.Load();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_THAT(empty->pools, IsEmpty());
}

TEST_F(ConfigDbTest, MalformedRecordUnderOurPrefixIsDataLoss) {
  Populate();
  ASSERT_TRUE(kv_.Txn({}, {Op::Put("/cvol/volumes/tank/broken", "{not json")}).ok());
  EXPECT_EQ(db_.Load().status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ConfigDbTest, CreatePoolTwiceAborts) {
  ChangeSet first(db_);
  first.CreatePool(Pool("tank"));
  MustCommit(first);
  const int64_t rev = kv_.revision();
  const auto before = Contents();

  PoolRecord again = Pool("tank");
  again.uuid = "another";
  ChangeSet second(db_);
  second.CreatePool(again);
  EXPECT_EQ(db_.Commit(second).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(kv_.revision(), rev);
  EXPECT_EQ(Contents(), before);
  EXPECT_EQ(MustLoad().pools.at("tank").record.uuid, "tank-uuid");
}

TEST_F(ConfigDbTest, CreateOfAnExistingPvVolumeOrMoveAborts) {
  Populate();
  const int64_t rev = kv_.revision();
  {
    ChangeSet c(db_);
    c.CreatePv(Pv("pv-a", "tank", 7));
    EXPECT_EQ(db_.Commit(c).code(), absl::StatusCode::kAborted);
  }
  {
    ChangeSet c(db_);
    c.CreateVolume(Volume("tank", "vol1", 50));
    EXPECT_EQ(db_.Commit(c).code(), absl::StatusCode::kAborted);
  }
  {
    ChangeSet c(db_);
    c.CreateMove(Move("tank", "vol1", 2));
    EXPECT_EQ(db_.Commit(c).code(), absl::StatusCode::kAborted);
  }
  EXPECT_EQ(kv_.revision(), rev);
}

TEST_F(ConfigDbTest, ChangeAllocationBumpsAllocGen) {
  Populate();
  Snapshot snap = MustLoad();
  const Versioned<PoolRecord> pool = snap.pools.at("tank");
  EXPECT_EQ(pool.record.alloc_gen, 0u);
  ChangeSet change(db_);
  change.ChangeAllocation(pool);
  MustCommit(change);
  Snapshot after = MustLoad();
  EXPECT_EQ(after.pools.at("tank").record.alloc_gen, 1u);
  EXPECT_GT(after.pools.at("tank").mod_revision, pool.mod_revision);
  // Everything else in the pool record is kept.
  PoolRecord expected = pool.record;
  expected.alloc_gen = 1;
  EXPECT_EQ(after.pools.at("tank").record, expected);

  ChangeSet again(db_);
  again.ChangeAllocation(after.pools.at("tank"));
  MustCommit(again);
  EXPECT_EQ(MustLoad().pools.at("tank").record.alloc_gen, 2u);
}

// The guarantee against double allocation: two hosts plan allocations from
// the same view of the free space; only the first commit may succeed, the
// second must re-read (and would then see the first one's extents as used).
TEST_F(ConfigDbTest, NoDoubleAllocation_SecondChangeFromTheSameSnapshotAborts) {
  Populate();
  const Snapshot snap = MustLoad();
  const Versioned<PoolRecord>& pool = snap.pools.at("tank");

  // Both place a new volume on the very same free extents (pext 10..13) of
  // the same pool, under different names: only the pool guard tells them
  // apart.
  ChangeSet host_a(db_);
  host_a.ChangeAllocation(pool);
  host_a.CreateVolume(Volume("tank", "from-a", 10));
  ChangeSet host_b(db_);
  host_b.ChangeAllocation(pool);
  host_b.CreateVolume(Volume("tank", "from-b", 10));

  ASSERT_TRUE(db_.Commit(host_a).ok());
  const int64_t rev = kv_.revision();
  const auto after_a = Contents();
  EXPECT_EQ(db_.Commit(host_b).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(kv_.revision(), rev);
  EXPECT_EQ(Contents(), after_a);

  Snapshot now = MustLoad();
  EXPECT_NE(now.FindVolume("tank", "from-a"), nullptr);
  EXPECT_EQ(now.FindVolume("tank", "from-b"), nullptr);
  EXPECT_EQ(now.pools.at("tank").record.alloc_gen, 1u);

  // Retried from a fresh snapshot it commits.
  ChangeSet retry(db_);
  retry.ChangeAllocation(now.pools.at("tank"));
  retry.CreateVolume(Volume("tank", "from-b", 20));
  EXPECT_TRUE(db_.Commit(retry).ok());
}

// Allocation guards are per pool: changes to two pools do not conflict.
TEST_F(ConfigDbTest, AllocationChangesInDifferentPoolsBothCommit) {
  {
    ChangeSet c(db_);
    c.CreatePool(Pool("tank"));
    c.CreatePool(Pool("other"));
    MustCommit(c);
  }
  const Snapshot snap = MustLoad();
  ChangeSet a(db_);
  a.ChangeAllocation(snap.pools.at("tank"));
  ChangeSet b(db_);
  b.ChangeAllocation(snap.pools.at("other"));
  EXPECT_TRUE(db_.Commit(a).ok());
  EXPECT_TRUE(db_.Commit(b).ok());
}

TEST_F(ConfigDbTest, UpdateVolumeWithAStaleRevisionAbortsAndWritesNothing) {
  Populate();
  const Snapshot stale = MustLoad();
  const Versioned<VolumeRecord>& old = stale.volumes.at({"tank", "vol1"});

  VolumeRecord first = old.record;
  first.generation = 2;
  ChangeSet winner(db_);
  winner.UpdateVolume(old, first);
  MustCommit(winner);
  const int64_t rev = kv_.revision();
  const auto before = Contents();

  VolumeRecord second = old.record;
  second.generation = 3;
  second.runs = {cvol::Run{0, 1, 50, 4}};
  ChangeSet loser(db_);
  loser.CreatePv(Pv("pv-new", "tank", 9));  // would be written too if it went through
  loser.UpdateVolume(old, second);
  EXPECT_EQ(db_.Commit(loser).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(kv_.revision(), rev);
  EXPECT_EQ(Contents(), before);
  Snapshot now = MustLoad();
  EXPECT_EQ(now.FindVolume("tank", "vol1")->generation, 2u);
  EXPECT_EQ(now.pvs.count("pv-new"), 0u);
}

TEST_F(ConfigDbTest, UpdateVolumeWithTheCurrentRevisionWrites) {
  Populate();
  Snapshot snap = MustLoad();
  VolumeRecord updated = snap.volumes.at({"tank", "vol1"}).record;
  updated.runs = {cvol::Run{0, 1, 50, 4}};
  ++updated.generation;
  ChangeSet change(db_);
  change.UpdateVolume(snap.volumes.at({"tank", "vol1"}), updated);
  MustCommit(change);
  EXPECT_EQ(*MustLoad().FindVolume("tank", "vol1"), updated);
}

TEST_F(ConfigDbTest, DeleteVolumeAndPvAreGuarded) {
  Populate();
  const Snapshot snap = MustLoad();
  // Someone updates the volume first: a delete planned on the old record
  // is refused.
  VolumeRecord updated = snap.volumes.at({"tank", "vol1"}).record;
  ++updated.generation;
  ChangeSet update(db_);
  update.UpdateVolume(snap.volumes.at({"tank", "vol1"}), updated);
  MustCommit(update);

  ChangeSet stale_delete(db_);
  stale_delete.DeleteVolume(snap.volumes.at({"tank", "vol1"}));
  EXPECT_EQ(db_.Commit(stale_delete).code(), absl::StatusCode::kAborted);
  EXPECT_NE(MustLoad().FindVolume("tank", "vol1"), nullptr);

  const Snapshot fresh = MustLoad();
  ChangeSet del(db_);
  del.DeleteVolume(fresh.volumes.at({"tank", "vol1"}));
  del.DeletePv(fresh.pvs.at("pv-b"));
  MustCommit(del);
  const Snapshot after = MustLoad();
  EXPECT_EQ(after.FindVolume("tank", "vol1"), nullptr);
  EXPECT_EQ(after.pvs.count("pv-b"), 0u);
  EXPECT_EQ(after.pvs.count("pv-a"), 1u);
}

TEST_F(ConfigDbTest, UpdateMoveChangesThePhase) {
  Populate();
  const Snapshot snap = MustLoad();
  const Versioned<MoveRecord>& move = snap.moves.begin()->second;
  ASSERT_EQ(move.record.phase, MoveRecord::Phase::kCopying);
  MoveRecord committing = move.record;
  committing.phase = MoveRecord::Phase::kCommitting;
  ChangeSet change(db_);
  change.UpdateMove(move, committing);
  MustCommit(change);
  EXPECT_EQ(MustLoad().moves.at(db_.MoveKey(committing)).record.phase,
            MoveRecord::Phase::kCommitting);

  // The old revision no longer guards anything.
  ChangeSet stale(db_);
  stale.UpdateMove(move, committing);
  EXPECT_EQ(db_.Commit(stale).code(), absl::StatusCode::kAborted);
}

TEST_F(ConfigDbTest, DeleteMove) {
  Populate();
  const Snapshot snap = MustLoad();
  ASSERT_EQ(snap.moves.size(), 1u);
  const Versioned<MoveRecord> move = snap.moves.begin()->second;
  ChangeSet change(db_);
  change.DeleteMove(move);
  MustCommit(change);
  const Snapshot after = MustLoad();
  EXPECT_THAT(after.moves, IsEmpty());
  EXPECT_FALSE(kv_.Get(db_.MoveKey(move.record))->has_value());
  // The rest is untouched.
  EXPECT_EQ(after.pvs.size(), 2u);
  EXPECT_NE(after.FindVolume("tank", "vol1"), nullptr);

  // Deleting it again (from the old snapshot) is refused.
  const int64_t rev = kv_.revision();
  ChangeSet again(db_);
  again.DeleteMove(move);
  EXPECT_EQ(db_.Commit(again).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(kv_.revision(), rev);
}

// A move's loop reads its own records, not the prefix: the same records
// and revisions a snapshot would give.
TEST_F(ConfigDbTest, LoadMoveReadsTheMoveItsVolumeAndPool) {
  Populate();
  const Snapshot snap = MustLoad();
  const std::string key = db_.MoveKey("tank", "vol1", 2);
  absl::StatusOr<std::optional<MoveScope>> scope = db_.LoadMove(key);
  ASSERT_TRUE(scope.ok()) << scope.status();
  ASSERT_TRUE(scope->has_value());
  EXPECT_EQ((*scope)->move.record, snap.moves.at(key).record);
  EXPECT_EQ((*scope)->move.mod_revision, snap.moves.at(key).mod_revision);
  EXPECT_EQ((*scope)->volume.record, snap.volumes.at({"tank", "vol1"}).record);
  EXPECT_EQ((*scope)->volume.mod_revision, snap.volumes.at({"tank", "vol1"}).mod_revision);
  EXPECT_EQ((*scope)->pool.record, snap.pools.at("tank").record);
  EXPECT_EQ((*scope)->pool.mod_revision, snap.pools.at("tank").mod_revision);

  absl::StatusOr<std::optional<MoveScope>> none = db_.LoadMove(db_.MoveKey("tank", "vol1", 3));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  absl::StatusOr<std::map<std::string, Versioned<MoveRecord>>> moves =
      db_.LoadMovesOf("tank", "vol1");
  ASSERT_TRUE(moves.ok()) << moves.status();
  EXPECT_EQ(moves->size(), 1u);
  EXPECT_TRUE(moves->contains(key));
  // "vol" is a prefix of "vol1" as a string, not as a volume.
  moves = db_.LoadMovesOf("tank", "vol");
  ASSERT_TRUE(moves.ok()) << moves.status();
  EXPECT_THAT(*moves, IsEmpty());
}

// Records read one by one guard a commit as a snapshot's do: a volume
// changed after the read refuses the commit built on it.
TEST_F(ConfigDbTest, ACommitFromAMoveScopeIsGuardedLikeOneFromASnapshot) {
  Populate();
  const std::string key = db_.MoveKey("tank", "vol1", 2);
  absl::StatusOr<std::optional<MoveScope>> scope = db_.LoadMove(key);
  ASSERT_TRUE(scope.ok() && scope->has_value());
  // Someone else changes the volume (its map) after the read.
  {
    const Snapshot now = MustLoad();
    VolumeRecord grown = now.volumes.at({"tank", "vol1"}).record;
    ++grown.generation;
    ChangeSet other(db_);
    other.UpdateVolume(now.volumes.at({"tank", "vol1"}), grown);
    MustCommit(other);
  }
  const int64_t rev = kv_.revision();
  MoveRecord committing = (*scope)->move.record;
  committing.phase = MoveRecord::Phase::kCommitting;
  VolumeRecord updated = (*scope)->volume.record;
  ++updated.generation;
  ChangeSet change(db_);
  change.ChangeAllocation((*scope)->pool);
  change.UpdateVolume((*scope)->volume, updated);
  change.UpdateMove((*scope)->move, committing);
  EXPECT_EQ(db_.Commit(change).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(kv_.revision(), rev);
}

TEST_F(ConfigDbTest, AMoveWithoutItsVolumeIsDataLoss) {
  Populate();
  const Snapshot snap = MustLoad();
  ChangeSet change(db_);
  change.DeleteVolume(snap.volumes.at({"tank", "vol1"}));
  MustCommit(change);
  EXPECT_EQ(db_.LoadMove(db_.MoveKey("tank", "vol1", 2)).status().code(),
            absl::StatusCode::kDataLoss);
}

// A whole change set is one transaction: all of it or nothing.
TEST_F(ConfigDbTest, OneFailedGuardRefusesTheWholeChangeSet) {
  Populate();
  const int64_t rev = kv_.revision();
  const auto before = Contents();
  ChangeSet change(db_);
  change.CreatePool(Pool("new-pool"));
  change.CreatePv(Pv("pv-c", "new-pool", 0));
  change.CreateVolume(Volume("tank", "vol1", 0));  // exists: this guard fails
  EXPECT_EQ(db_.Commit(change).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(kv_.revision(), rev);
  EXPECT_EQ(Contents(), before);
}

TEST_F(ConfigDbTest, AChangeSetIsOneRevision) {
  const int64_t rev = kv_.revision();
  Populate();
  EXPECT_EQ(kv_.revision(), rev + 1);
}

TEST_F(ConfigDbTest, UnavailableStore) {
  Populate();
  const int64_t rev = kv_.revision();
  const Snapshot snap = MustLoad();
  kv_.SetUnavailable(true);
  EXPECT_EQ(db_.Load().status().code(), absl::StatusCode::kUnavailable);
  ChangeSet change(db_);
  change.ChangeAllocation(snap.pools.at("tank"));
  change.CreateVolume(Volume("tank", "vol2", 10));
  EXPECT_EQ(db_.Commit(change).code(), absl::StatusCode::kUnavailable);
  kv_.SetUnavailable(false);
  EXPECT_EQ(kv_.revision(), rev);
  EXPECT_EQ(MustLoad().FindVolume("tank", "vol2"), nullptr);
  // The same change set commits once the store is back.
  EXPECT_TRUE(db_.Commit(change).ok());
}

}  // namespace
}  // namespace cvol::daemon
