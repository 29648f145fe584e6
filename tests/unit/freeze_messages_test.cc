#include "cvol/freeze_messages.h"

#include "cvol/messages.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

TEST(FreezeMessagesTest, Formats) {
  EXPECT_EQ(FormatFreeze(0, 1), "freeze 0 1");
  EXPECT_EQ(FormatFreeze(10, 20, 500), "freeze 10 20 500");
  EXPECT_EQ(FormatFreeze(18446744073709551615u, 1, 0), "freeze 18446744073709551615 1 0");
  EXPECT_EQ(FormatFreezeWait(3, 1000), "freeze_wait 3 1000");
  // The target refuses more than CVOL_MAX_FREEZE_WAIT_MS: longer waits ask again.
  EXPECT_EQ(FormatFreezeWait(3, 60000), "freeze_wait 3 10000");
  EXPECT_EQ(FormatThaw(3), "thaw 3");
}

TEST(FreezeMessagesTest, ParsesFreezeResponse) {
  EXPECT_EQ(*ParseFreezeResponse("1"), 1u);
  EXPECT_EQ(*ParseFreezeResponse("42\n"), 42u);
  EXPECT_EQ(*ParseFreezeResponse("18446744073709551615"), 18446744073709551615u);
}

TEST(FreezeMessagesTest, RejectsBadFreezeResponse) {
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("")), HasSubstr("missing freeze response id"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("  \n")), HasSubstr("missing"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("x")), HasSubstr("not a decimal number"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("0x10")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("-1")), HasSubstr("negative"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("18446744073709551616")), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("1 2")), HasSubstr("only the freeze id"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("1x")), HasSubstr("not a decimal number"));
  EXPECT_THAT(ErrorOf(ParseFreezeResponse("drained")), HasSubstr("not a decimal number"));
}

TEST(FreezeMessagesTest, ParsesFreezeWaitResponse) {
  EXPECT_TRUE(ParseFreezeWaitResponse("drained").ok());
  EXPECT_TRUE(ParseFreezeWaitResponse("drained\n").ok());
  EXPECT_THAT(ErrorOf(ParseFreezeWaitResponse("")), HasSubstr("missing freeze_wait response"));
  EXPECT_THAT(ErrorOf(ParseFreezeWaitResponse("draining")), HasSubstr("expected \"drained\""));
  EXPECT_THAT(ErrorOf(ParseFreezeWaitResponse("drained 1")), HasSubstr("expected \"drained\""));
  EXPECT_THAT(ErrorOf(ParseFreezeWaitResponse("DRAINED")), HasSubstr("expected"));
}

TEST(FreezeMessagesTest, ThawAnswersNothing) {
  EXPECT_TRUE(ParseEmptyResponse("thaw", "").ok());
  EXPECT_TRUE(ParseEmptyResponse("thaw", "\n").ok());
  EXPECT_THAT(ErrorOf(ParseEmptyResponse("thaw", "1")),
              HasSubstr("thaw response \"1\": expected no response"));
}

}  // namespace
}  // namespace cvol
