// LogLimiter: one line per interval per reason, the held-back lines
// counted and reported with the next line or by Flush.
#include "cvol/log_limiter.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cvol {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(LogLimiterTest, OneLinePerSecondPerReasonWithTheCountOfTheOthers) {
  LogLimiter limiter;
  EXPECT_THAT(limiter.Admit("refused", "from a", kStart), Optional(std::string("from a")));
  for (int i = 1; i <= 9; ++i) {
    EXPECT_EQ(limiter.Admit("refused", "from b", kStart + absl::Milliseconds(100 * i)),
              std::nullopt);
  }
  // Another reason has its own second.
  EXPECT_THAT(limiter.Admit("timeout", "slow", kStart + absl::Milliseconds(500)),
              Optional(std::string("slow")));
  EXPECT_THAT(limiter.Admit("refused", "from c", kStart + absl::Seconds(1)),
              Optional(std::string("from c (9 more like it held back)")));
  EXPECT_EQ(limiter.NextFlush(), absl::InfiniteFuture());  // nothing held back
}

TEST(LogLimiterTest, FlushReportsAFloodThatStopped) {
  LogLimiter limiter(absl::Seconds(1));
  ASSERT_TRUE(limiter.Admit("refused", "first", kStart).has_value());
  ASSERT_FALSE(limiter.Admit("refused", "second", kStart + absl::Milliseconds(10)).has_value());
  ASSERT_FALSE(limiter.Admit("refused", "third", kStart + absl::Milliseconds(20)).has_value());
  EXPECT_EQ(limiter.NextFlush(), kStart + absl::Seconds(1));
  EXPECT_THAT(limiter.Flush(kStart + absl::Milliseconds(500)), IsEmpty());  // too early
  EXPECT_THAT(limiter.Flush(kStart + absl::Seconds(1)),
              ElementsAre("refused: 2 more held back"));
  EXPECT_THAT(limiter.Flush(kStart + absl::Seconds(5)), IsEmpty());  // reported once
  EXPECT_EQ(limiter.NextFlush(), absl::InfiniteFuture());
  // The flushed line counts as the second's line.
  EXPECT_FALSE(limiter.Admit("refused", "fourth", kStart + absl::Milliseconds(1500)).has_value());
  EXPECT_TRUE(limiter.Admit("refused", "fifth", kStart + absl::Seconds(3)).has_value());
}

}  // namespace
}  // namespace cvol
