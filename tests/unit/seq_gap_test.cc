#include "cvol/seq_gap.h"

#include "gtest/gtest.h"

namespace cvol {
namespace {

TEST(SeqGapDetectorTest, FirstInOrderGapRestart) {
  SeqGapDetector d;
  SeqObservation o = d.Observe("a", 5);
  EXPECT_EQ(o.kind, SeqObservation::kFirst);
  EXPECT_EQ(o.got, 5u);
  o = d.Observe("a", 6);
  EXPECT_EQ(o.kind, SeqObservation::kInOrder);
  EXPECT_EQ(o.expected, 6u);
  o = d.Observe("a", 9);
  EXPECT_EQ(o.kind, SeqObservation::kGap);
  EXPECT_EQ(o.expected, 7u);
  EXPECT_EQ(o.got, 9u);
  EXPECT_EQ(d.Observe("a", 10).kind, SeqObservation::kInOrder);
  // The volume was recreated: its numbers start again.
  o = d.Observe("a", 1);
  EXPECT_EQ(o.kind, SeqObservation::kRestart);
  EXPECT_EQ(o.expected, 11u);
  EXPECT_EQ(d.Observe("a", 2).kind, SeqObservation::kInOrder);
  // A duplicate is not a gap either.
  EXPECT_EQ(d.Observe("a", 2).kind, SeqObservation::kRestart);
}

TEST(SeqGapDetectorTest, VolumesAreIndependent) {
  SeqGapDetector d;
  EXPECT_EQ(d.Observe("a", 1).kind, SeqObservation::kFirst);
  EXPECT_EQ(d.Observe("b", 7).kind, SeqObservation::kFirst);
  EXPECT_EQ(d.Observe("a", 2).kind, SeqObservation::kInOrder);
  EXPECT_EQ(d.Observe("b", 8).kind, SeqObservation::kInOrder);
  EXPECT_EQ(d.Observe("b", 10).kind, SeqObservation::kGap);
  EXPECT_EQ(d.Observe("a", 3).kind, SeqObservation::kInOrder);
  d.Reset("a");
  EXPECT_EQ(d.Observe("a", 40).kind, SeqObservation::kFirst);
}

TEST(SeqGapDetectorTest, GapJson) {
  SeqGapDetector d;
  d.Observe("v\"1", 1);
  const SeqObservation o = d.Observe("v\"1", 4);
  EXPECT_EQ(GapToJson("v\"1", o), R"({"type":"gap","uuid":"v\"1","expected":2,"got":4})");
}

}  // namespace
}  // namespace cvol
