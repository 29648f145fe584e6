#include <sstream>
#include <string>

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

TEST(ClusterctlProgress, PrinterOnAPipeWritesALinePerPercent) {
  std::ostringstream out;
  ProgressPrinter printer(out, /*is_tty=*/false, 60);
  absl::Time t0 = absl::FromUnixSeconds(1000);
  printer.Update(0, 1000, t0);
  printer.Update(1, 1000, t0 + absl::Seconds(1));  // still 0%: no line
  printer.Update(500, 1000, t0 + absl::Seconds(2));
  printer.Update(1000, 1000, t0 + absl::Seconds(4));
  printer.Finish();
  std::istringstream lines(out.str());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_EQ(line.size(), 60u) << line;
  }
  EXPECT_EQ(count, 3);
  EXPECT_NE(out.str().find(" 50%"), std::string::npos);
  EXPECT_NE(out.str().find("100%"), std::string::npos);
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(ClusterctlProgress, PrinterOnATerminalRedraws) {
  std::ostringstream out;
  ProgressPrinter printer(out, /*is_tty=*/true, 60);
  absl::Time t0 = absl::FromUnixSeconds(1000);
  printer.Update(0, 4 << 20, t0);
  printer.Update(2 << 20, 4 << 20, t0 + absl::Seconds(1));
  printer.Finish();
  std::string s = out.str();
  EXPECT_EQ(s.front(), '\r');
  EXPECT_EQ(s.back(), '\n');
  EXPECT_NE(s.find("\r[################----------------]  50%  2.0 MiB/s  ETA 0:01"),
            std::string::npos)
      << s;
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
