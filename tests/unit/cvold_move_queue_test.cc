// The per-volume move queue of the cluster controller
// (MoveController::MayStartMigrations): a move is taken up only while its
// volume has a migration slot left, oldest first, and a move that has been
// taken up keeps its slot whatever its key.
#include <string>

#include "config_db.h"
#include "gtest/gtest.h"
#include "move_controller.h"
#include "records.h"

namespace cvol::daemon {
namespace {

using Step = MoveRecord::Step;

void AddMove(Snapshot& snap, const std::string& key, const std::string& volume, Step step,
             uint64_t started_ns = 1000) {
  MoveRecord m;
  m.pool = "p";
  m.volume = volume;
  m.step = step;
  m.started_ns = started_ns;
  snap.moves[key].record = m;
}

// A move asked for later waits behind the older ones, whatever its key
// (extent): a stream of moves of low extents must not starve a high one.
TEST(MoveQueueTest, OlderWaitingMovesStartFirst) {
  Snapshot snap;
  AddMove(snap, "m/05", "v", Step::kNone, 1000);
  AddMove(snap, "m/09", "v", Step::kNone, 1001);
  AddMove(snap, "m/01", "v", Step::kNone, 2000);
  EXPECT_TRUE(MoveController::MayStartMigrations(snap, "m/05", 2));
  EXPECT_TRUE(MoveController::MayStartMigrations(snap, "m/09", 2));
  EXPECT_FALSE(MoveController::MayStartMigrations(snap, "m/01", 2));
}

TEST(MoveQueueTest, WaitingMovesStartInKeyOrder) {
  Snapshot snap;
  AddMove(snap, "m/00", "v", Step::kNone);
  AddMove(snap, "m/01", "v", Step::kNone);
  AddMove(snap, "m/02", "v", Step::kNone);
  EXPECT_TRUE(MoveController::MayStartMigrations(snap, "m/00", 2));
  EXPECT_TRUE(MoveController::MayStartMigrations(snap, "m/01", 2));
  EXPECT_FALSE(MoveController::MayStartMigrations(snap, "m/02", 2));
}

TEST(MoveQueueTest, ATakenUpMoveHoldsItsSlotWhateverItsKey) {
  Snapshot snap;
  AddMove(snap, "m/00", "v", Step::kNone);
  // A move in its follow step may already run follow migrations on some
  // hosts: a newer move with a lower key must not overtake it.
  AddMove(snap, "m/01", "v", Step::kFollow);
  EXPECT_FALSE(MoveController::MayStartMigrations(snap, "m/00", 1));
  snap.moves["m/01"].record.step = Step::kAbort;
  EXPECT_FALSE(MoveController::MayStartMigrations(snap, "m/00", 1));
  snap.moves.erase("m/01");
  EXPECT_TRUE(MoveController::MayStartMigrations(snap, "m/00", 1));
}

TEST(MoveQueueTest, OtherVolumesDoNotCount) {
  Snapshot snap;
  AddMove(snap, "m/a", "other", Step::kCopy);
  AddMove(snap, "m/b", "v", Step::kNone);
  EXPECT_TRUE(MoveController::MayStartMigrations(snap, "m/b", 1));
  EXPECT_FALSE(MoveController::MayStartMigrations(snap, "m/nosuch", 1));
}

TEST(MoveQueueTest, OnlyATakenUpMoveBlocksReintegration) {
  Snapshot snap;
  AddMove(snap, "m/00", "v", Step::kNone);
  EXPECT_TRUE(MoveController::WaitsToStart(snap.moves["m/00"].record));
  EXPECT_FALSE(snap.HasTakenUpMove("p", "v"));
  snap.moves["m/00"].record.step = Step::kFollow;
  EXPECT_FALSE(MoveController::WaitsToStart(snap.moves["m/00"].record));
  EXPECT_TRUE(snap.HasTakenUpMove("p", "v"));
  EXPECT_FALSE(snap.HasTakenUpMove("p", "other"));
}

}  // namespace
}  // namespace cvol::daemon
