#include "cvol/lease_messages.h"

#include "cvol/events_seq.h"
#include "cvol/messages.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

TEST(LeaseMessagesTest, Formats) {
  EXPECT_EQ(FormatLease(5000), "lease 5000");
  EXPECT_EQ(FormatLease(0), "lease 0");
  EXPECT_EQ(FormatLease(100, FencePolicy::kHold), "lease 100 hold");
  EXPECT_EQ(FormatLease(100, FencePolicy::kError), "lease 100 error");
  EXPECT_EQ(FormatFence(), "fence");
  EXPECT_EQ(FormatUnfence(7), "unfence 7");
}

TEST(LeaseMessagesTest, AnswerNothing) {
  EXPECT_TRUE(ParseEmptyResponse("lease", "").ok());
  EXPECT_THAT(ErrorOf(ParseEmptyResponse("fence", "ok")), HasSubstr("fence response \"ok\""));
}

TEST(EventsSeqTest, FormatsAndParses) {
  EXPECT_EQ(FormatEventsSeq(), "events_seq");
  EXPECT_EQ(*ParseEventsSeqResponse("0 0"), (EventsSeq{0, 0}));
  EXPECT_EQ(*ParseEventsSeqResponse("17 3\n"), (EventsSeq{17, 3}));
  EXPECT_EQ(*ParseEventsSeqResponse("18446744073709551615 1"),
            (EventsSeq{18446744073709551615u, 1}));
}

TEST(EventsSeqTest, RejectsBadResponse) {
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("")), HasSubstr("missing events_seq seq"));
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("5")), HasSubstr("missing events_seq lost"));
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("5 0 1")), HasSubstr("only <seq> <lost>"));
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("x 0")), HasSubstr("seq \"x\""));
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("5 0x1")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("18446744073709551616 0")), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(ParseEventsSeqResponse("5:0")), HasSubstr("not a decimal"));
}

}  // namespace
}  // namespace cvol
