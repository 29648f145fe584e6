#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "progress_bar.h"
#include "table.h"

namespace cvol::clusterctl {
namespace {

TEST(ClusterctlProgress, RenderHalfWay) {
  std::string line = RenderProgress(50, 100, 12.5 * 1024 * 1024, absl::Seconds(42), 60);
  EXPECT_EQ(line.size(), 60u);
  EXPECT_EQ(line, "[###############----------------]  50%  12.5 MiB/s  ETA 0:42");
}

TEST(ClusterctlProgress, RenderUnknownRateAndEta) {
  EXPECT_EQ(RenderProgress(0, 100, 0, std::nullopt, 50),
            "[--------------------]   0%  --.- MiB/s  ETA --:--");
}

TEST(ClusterctlProgress, RenderDoneAndEdgeCases) {
  EXPECT_EQ(RenderProgress(100, 100, 1024 * 1024, absl::ZeroDuration(), 40),
            "[############] 100%  1.0 MiB/s  ETA 0:00");
  // done beyond total and total 0 are complete, not >100%.
  EXPECT_EQ(RenderProgress(150, 100, 0, std::nullopt, 40).substr(0, 16), "[##########] 100");
  EXPECT_EQ(RenderProgress(0, 0, 0, std::nullopt, 40).substr(0, 16), "[##########] 100");
  // 99.9% is 99%, never rounded up to a finished look.
  EXPECT_NE(RenderProgress(999, 1000, 0, std::nullopt, 80).find(" 99%"), std::string::npos);
  // Huge values do not overflow.
  EXPECT_NE(RenderProgress(UINT64_MAX / 2, UINT64_MAX, 0, std::nullopt, 80).find(" 49%"),
            std::string::npos);
}

TEST(ClusterctlProgress, RenderEtaFormats) {
  EXPECT_NE(RenderProgress(1, 2, 1, absl::Seconds(59.2), 80).find("ETA 1:00"), std::string::npos);
  EXPECT_NE(RenderProgress(1, 2, 1, absl::Seconds(3600 + 61), 80).find("ETA 1:01:01"),
            std::string::npos);
  EXPECT_NE(RenderProgress(1, 2, 1, absl::Hours(200), 80).find("ETA >99h"), std::string::npos);
  EXPECT_NE(RenderProgress(1, 2, 1, absl::InfiniteDuration(), 80).find("ETA --:--"),
            std::string::npos);
}

TEST(ClusterctlProgress, NarrowWidthDropsTheBar) {
  EXPECT_EQ(RenderProgress(50, 100, 0, std::nullopt, 20), " 50%  --.- MiB/s  ETA --:--");
}

MoveProgress Copying(uint64_t vext, uint64_t copied, uint64_t regions) {
  return MoveProgress{vext, "copying", copied, regions, ""};
}

MoveProgress Queued(uint64_t vext) { return MoveProgress{vext, "queued", 0, 0, ""}; }

MoveProgress InPhase(uint64_t vext, const char* phase, const char* error = "") {
  // A finished phase keeps the last copy counts (cvold's MoveProgress).
  return MoveProgress{vext, phase, 8, 8, error};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ClusterctlProgress, RenderMoveLine) {
  EXPECT_EQ(RenderMoveLine(Copying(4, 3, 8)), "extent 4: copying 3/8");
  EXPECT_EQ(RenderMoveLine(Copying(4, 0, 0)), "extent 4: copying");  // not known yet
  EXPECT_EQ(RenderMoveLine(Copying(4, 9, 8)), "extent 4: copying 8/8");
  EXPECT_EQ(RenderMoveLine(Queued(4)), "extent 4: queued");
  EXPECT_EQ(RenderMoveLine(InPhase(4, "committing")), "extent 4: committing");
  EXPECT_EQ(RenderMoveLine(MoveProgress{4, "recopying", 5, 8, ""}), "extent 4: recopying 5/8");
  EXPECT_EQ(RenderMoveLine(InPhase(4, "done")), "extent 4: done");
  EXPECT_EQ(RenderMoveLine(InPhase(4, "failed", "write error on pv2")),
            "extent 4: failed: write error on pv2");
  EXPECT_EQ(RenderMoveLine(InPhase(4, "rolled_back", "copy errors")),
            "extent 4: rolled back: copy errors");
  EXPECT_EQ(RenderMoveLine(InPhase(4, "failed")), "extent 4: failed");
}

// Off a terminal: a line per change of a move's state, never one repeated,
// no bar, no carriage return.
TEST(ClusterctlProgress, OffATerminalOneLinePerChangeOfState) {
  std::ostringstream out;
  std::unique_ptr<ProgressPrinter> printer = MakeProgressPrinter(out, /*is_tty=*/false, 60, 4096);
  absl::Time t = absl::FromUnixSeconds(1000);
  printer->Update({Copying(4, 0, 0), Queued(5)}, t);
  printer->Update({Copying(4, 3, 8), Queued(5)}, t + absl::Seconds(1));
  printer->Update({Copying(4, 3, 8), Queued(5)}, t + absl::Seconds(2));
  printer->Update({Copying(4, 8, 8), Copying(5, 0, 8)}, t + absl::Seconds(3));
  printer->Update({InPhase(4, "committing"), Copying(5, 0, 8)}, t + absl::Seconds(4));
  printer->Update({InPhase(4, "done"), Copying(5, 8, 8)}, t + absl::Seconds(5));
  printer->Update({InPhase(4, "done"), InPhase(5, "done")}, t + absl::Seconds(6));
  printer->Finish();
  EXPECT_EQ(Lines(out.str()), (std::vector<std::string>{
                                  "extent 4: copying",
                                  "extent 5: queued",
                                  "extent 4: copying 3/8",
                                  "extent 4: copying 8/8",
                                  "extent 5: copying 0/8",
                                  "extent 4: committing",
                                  "extent 4: done",
                                  "extent 5: copying 8/8",
                                  "extent 5: done",
                              }));
  EXPECT_EQ(out.str().back(), '\n');
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
  EXPECT_EQ(out.str().find('#'), std::string::npos);
}

TEST(ClusterctlProgress, OffATerminalNothingChangedNothingPrinted) {
  std::ostringstream out;
  std::unique_ptr<ProgressPrinter> printer = MakeProgressPrinter(out, /*is_tty=*/false, 60, 4096);
  printer->Update({}, absl::FromUnixSeconds(1000));
  printer->Finish();
  EXPECT_EQ(out.str(), "");
}

// On a terminal: one bar over the bytes of all the moves, redrawn in place.
TEST(ClusterctlProgress, OnATerminalOneBarRedrawn) {
  std::ostringstream out;
  std::unique_ptr<ProgressPrinter> printer =
      MakeProgressPrinter(out, /*is_tty=*/true, 60, /*extent_bytes=*/2 << 20);
  absl::Time t0 = absl::FromUnixSeconds(1000);
  printer->Update({Copying(4, 0, 8), Queued(5)}, t0);
  // 2 MiB of 4 MiB in a second: 8/8 of one extent, the other not started.
  printer->Update({InPhase(4, "committing"), Copying(5, 0, 0)}, t0 + absl::Seconds(1));
  printer->Finish();
  std::string s = out.str();
  EXPECT_EQ(s.front(), '\r');
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\r'), 2);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
  EXPECT_NE(s.find("\r[################----------------]  50%  2.0 MiB/s  ETA 0:01"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("extent"), std::string::npos);
}

TEST(ClusterctlProgress, OnATerminalDoneMovesAreComplete) {
  std::ostringstream out;
  std::unique_ptr<ProgressPrinter> printer = MakeProgressPrinter(out, /*is_tty=*/true, 60, 4096);
  // A move that ended before it reported regions counts as whole when done.
  printer->Update({MoveProgress{4, "done", 0, 0, ""}}, absl::FromUnixSeconds(1000));
  EXPECT_NE(out.str().find(" 100%"), std::string::npos) << out.str();
}

TEST(ClusterctlTable, AlignsColumns) {
  Table table({{"NAME"}, {"SIZE", Table::Align::kRight}, {"DEVICE"}});
  table.AddRow({"pool1/vol1", "10.00 GiB", "/dev/mapper/pool1-vol1"});
  table.AddRow({"p/v", "512 B", ""});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME             SIZE  DEVICE\n"
            "pool1/vol1  10.00 GiB  /dev/mapper/pool1-vol1\n"
            "p/v             512 B\n");
}

TEST(ClusterctlTable, FieldList) {
  FieldList fields;
  fields.Add("Name", "p");
  fields.Add("Extent size", "4.00 MiB");
  std::ostringstream out;
  fields.Print(out);
  EXPECT_EQ(out.str(), "Name:        p\nExtent size: 4.00 MiB\n");
}

}  // namespace
}  // namespace cvol::clusterctl
