#include "cvol/event_netlink.h"

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/dm-cvol.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

using MsgPtr = std::unique_ptr<nl_msg, void (*)(nl_msg*)>;

constexpr int kFamily = 0x1d;  // any id: the decoder does not look at it

MsgPtr NewMessage(uint8_t cmd = CVOL_CMD_EVENT) {
  MsgPtr msg(nlmsg_alloc(), nlmsg_free);
  EXPECT_NE(genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, kFamily, 0, 0, cmd,
                        CVOL_GENL_VERSION),
            nullptr);
  return msg;
}

// The three attributes every event has.
MsgPtr MinimalEvent(uint64_t seq = 5, uint32_t type = CVOL_EV_MAP_CHANGED,
                    const char* uuid = "vol-1") {
  MsgPtr msg = NewMessage();
  EXPECT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_SEQ, seq), 0);
  EXPECT_EQ(nla_put_u32(msg.get(), CVOL_ATTR_TYPE, type), 0);
  EXPECT_EQ(nla_put_string(msg.get(), CVOL_ATTR_VOL_UUID, uuid), 0);
  return msg;
}

TEST(EventNetlinkTest, DecodesMinimalEvent) {
  MsgPtr msg = MinimalEvent();
  absl::StatusOr<Event> e = DecodeEventMessage(msg.get());
  ASSERT_TRUE(e.ok()) << e.status();
  Event want;
  want.seq = 5;
  want.type = EventType::kMapChanged;
  want.uuid = "vol-1";
  EXPECT_EQ(*e, want);
}

TEST(EventNetlinkTest, DecodesAllAttributes) {
  MsgPtr msg = NewMessage();
  // In another order than the enum, with the padding the kernel's
  // nla_put_u64_64bit may add.
  ASSERT_EQ(nla_put(msg.get(), CVOL_ATTR_PAD, 0, nullptr), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_LOST, 2), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_VALUE, 12), 0);
  ASSERT_EQ(nla_put_u32(msg.get(), CVOL_ATTR_DEV_SLOT, 3), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_COUNT, 1), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_VEXT, 0), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_ID, 9), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_TIME_NS, 1700000000000000000u), 0);
  ASSERT_EQ(nla_put_u32(msg.get(), CVOL_ATTR_TYPE, CVOL_EV_FREEZE_DRAINED), 0);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_SEQ, 18446744073709551615u), 0);
  ASSERT_EQ(nla_put_u32(msg.get(), CVOL_ATTR_DM_DEV, 253u << 8 | 4), 0);
  ASSERT_EQ(nla_put_string(msg.get(), CVOL_ATTR_DM_NAME, "cv0"), 0);
  ASSERT_EQ(nla_put_string(msg.get(), CVOL_ATTR_VOL_UUID, std::string(CVOL_UUID_MAX, 'u').c_str()),
            0);
  // An attribute of a newer kernel is ignored.
  ASSERT_EQ(nla_put_u32(msg.get(), CVOL_ATTR_MAX + 1, 77), 0);
  absl::StatusOr<Event> e = DecodeEventMessage(msg.get());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->seq, 18446744073709551615u);
  EXPECT_EQ(e->type, EventType::kFreezeDrained);
  EXPECT_EQ(e->uuid, std::string(CVOL_UUID_MAX, 'u'));
  EXPECT_EQ(e->dm_name, "cv0");
  EXPECT_EQ(e->dm_dev, 253u << 8 | 4);
  EXPECT_EQ(e->time_ns, 1700000000000000000u);
  EXPECT_EQ(e->id, 9u);
  EXPECT_EQ(e->vext, 0u);
  EXPECT_EQ(e->count, 1u);
  EXPECT_EQ(e->dev_slot, 3u);
  EXPECT_EQ(e->value, 12u);
  EXPECT_EQ(e->lost, 2u);
  EXPECT_EQ(EventToJson(*e).substr(0, 60),
            R"({"seq":18446744073709551615,"type":"freeze_drained","uuid":")");
}

// What cvol-events prints for a migration event as the kernel sends it:
// the attributes vext, dev_slot and value, nothing invented.
TEST(EventNetlinkTest, DecodesMigrationEvents) {
  for (uint32_t type : {CVOL_EV_MIGRATE_STARTED, CVOL_EV_MIGRATE_ABORTED}) {
    MsgPtr msg = MinimalEvent(8, type, "vol-1");
    ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_VEXT, 5), 0);
    ASSERT_EQ(nla_put_u32(msg.get(), CVOL_ATTR_DEV_SLOT, 0), 0);
    ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_VALUE, 64), 0);
    absl::StatusOr<Event> e = DecodeEventMessage(msg.get());
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(static_cast<uint32_t>(e->type), type);
    EXPECT_EQ(EventToJson(*e),
              absl::StrCat(R"({"seq":8,"type":")",
                           type == CVOL_EV_MIGRATE_STARTED ? "migrate_started" : "migrate_aborted",
                           R"(","uuid":"vol-1","vext":5,"dev_slot":0,"value":64})"));
  }
}

TEST(EventNetlinkTest, RejectsMissingRequiredAttributes) {
  MsgPtr no_seq = NewMessage();
  ASSERT_EQ(nla_put_u32(no_seq.get(), CVOL_ATTR_TYPE, 1), 0);
  ASSERT_EQ(nla_put_string(no_seq.get(), CVOL_ATTR_VOL_UUID, "v"), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(no_seq.get())), HasSubstr("no CVOL_ATTR_SEQ"));

  MsgPtr no_type = NewMessage();
  ASSERT_EQ(nla_put_u64(no_type.get(), CVOL_ATTR_SEQ, 1), 0);
  ASSERT_EQ(nla_put_string(no_type.get(), CVOL_ATTR_VOL_UUID, "v"), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(no_type.get())), HasSubstr("no CVOL_ATTR_TYPE"));

  MsgPtr no_uuid = NewMessage();
  ASSERT_EQ(nla_put_u64(no_uuid.get(), CVOL_ATTR_SEQ, 1), 0);
  ASSERT_EQ(nla_put_u32(no_uuid.get(), CVOL_ATTR_TYPE, 1), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(no_uuid.get())), HasSubstr("no CVOL_ATTR_VOL_UUID"));

  EXPECT_THAT(ErrorOf(DecodeEventMessage(MinimalEvent(1, 1, "").get())),
              HasSubstr("empty CVOL_ATTR_VOL_UUID"));
  EXPECT_THAT(ErrorOf(DecodeEventMessage(NewMessage().get())), HasSubstr("no CVOL_ATTR_SEQ"));
}

TEST(EventNetlinkTest, RejectsMalformedAttributes) {
  // A u64 attribute with 4 bytes.
  MsgPtr short_seq = NewMessage();
  const uint32_t four = 4;
  ASSERT_EQ(nla_put(short_seq.get(), CVOL_ATTR_SEQ, sizeof(four), &four), 0);
  ASSERT_EQ(nla_put_u32(short_seq.get(), CVOL_ATTR_TYPE, 1), 0);
  ASSERT_EQ(nla_put_string(short_seq.get(), CVOL_ATTR_VOL_UUID, "v"), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(short_seq.get())), HasSubstr("bad attributes"));

  // A u32 attribute with 2 bytes.
  MsgPtr short_slot = MinimalEvent();
  const uint16_t two = 2;
  ASSERT_EQ(nla_put(short_slot.get(), CVOL_ATTR_DEV_SLOT, sizeof(two), &two), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(short_slot.get())), HasSubstr("bad attributes"));

  // A string without its NUL.
  MsgPtr no_nul = NewMessage();
  ASSERT_EQ(nla_put_u64(no_nul.get(), CVOL_ATTR_SEQ, 1), 0);
  ASSERT_EQ(nla_put_u32(no_nul.get(), CVOL_ATTR_TYPE, 1), 0);
  ASSERT_EQ(nla_put(no_nul.get(), CVOL_ATTR_VOL_UUID, 3, "abc"), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(no_nul.get())), HasSubstr("bad attributes"));

  // A uuid longer than CVOL_UUID_MAX.
  EXPECT_THAT(ErrorOf(DecodeEventMessage(
                  MinimalEvent(1, 1, std::string(CVOL_UUID_MAX + 1, 'u').c_str()).get())),
              HasSubstr("bad attributes"));
  // A dm name longer than DM_NAME_LEN.
  MsgPtr long_name = MinimalEvent();
  ASSERT_EQ(nla_put_string(long_name.get(), CVOL_ATTR_DM_NAME, std::string(128, 'n').c_str()), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(long_name.get())), HasSubstr("bad attributes"));
}

TEST(EventNetlinkTest, RejectsOtherCommands) {
  MsgPtr msg = NewMessage(CVOL_CMD_UNSPEC);
  ASSERT_EQ(nla_put_u64(msg.get(), CVOL_ATTR_SEQ, 1), 0);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(msg.get())), HasSubstr("is not CVOL_CMD_EVENT"));
}

TEST(EventNetlinkTest, RejectsTruncatedHeader) {
  MsgPtr msg(nlmsg_alloc_simple(kFamily, 0), nlmsg_free);
  EXPECT_THAT(ErrorOf(DecodeEventMessage(msg.get())), HasSubstr("truncated"));
}

}  // namespace
}  // namespace cvol
