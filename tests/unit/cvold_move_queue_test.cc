// The per-volume move queue of the cluster controller
// (MoveController::MayStartMigrations): a move is taken up only while its
// volume has a migration slot left, in key order, and a move that has been
// taken up keeps its slot whatever its key.
#include <string>

#include "config_db.h"
#include "gtest/gtest.h"
#include "move_controller.h"
#include "records.h"

namespace cvol::daemon {
namespace {

using Step = MoveRecord::Step;

void AddMove(Snapshot& snap, const std::string& key, const std::string& volume, Step step) {
  MoveRecord m;
  m.pool = "p";
  m.volume = volume;
  m.step = step;
  snap.moves[key].record = m;
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
