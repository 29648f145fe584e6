#include "cvol/event.h"

#include "gtest/gtest.h"

namespace cvol {
namespace {

TEST(EventTest, TypeNames) {
  const std::pair<EventType, const char*> names[] = {
      {EventType::kFreezeDrained, "freeze_drained"}, {EventType::kFreezeTimeout, "freeze_timeout"},
      {EventType::kFreezeBroken, "freeze_broken"},   {EventType::kLeaseExpired, "lease_expired"},
      {EventType::kFenced, "fenced"},                {EventType::kUnfenced, "unfenced"},
      {EventType::kDevError, "dev_error"},           {EventType::kMapChanged, "map_changed"},
      {EventType::kMigrateReady, "migrate_ready"},   {EventType::kMigrateDone, "migrate_done"},
      {EventType::kMigrateFailed, "migrate_failed"}, {EventType::kDstWriteError, "dst_write_error"},
      {EventType::kHeldFailed, "held_failed"},       {EventType::kMigrateStarted, "migrate_started"},
      {EventType::kMigrateAborted, "migrate_aborted"}, {EventType::kFenceDrained, "fence_drained"},
  };
  for (const auto& [type, name] : names) {
    EXPECT_EQ(EventTypeName(type), name);
    EXPECT_EQ(EventTypeFromName(name), type);
  }
  EXPECT_EQ(static_cast<uint32_t>(EventType::kFreezeDrained), 1u);
  EXPECT_EQ(static_cast<uint32_t>(EventType::kHeldFailed), 13u);
  // Appended after held_failed: the values of older types stay.
  EXPECT_EQ(static_cast<uint32_t>(EventType::kMigrateStarted), 14u);
  EXPECT_EQ(static_cast<uint32_t>(EventType::kMigrateAborted), 15u);
  EXPECT_EQ(static_cast<uint32_t>(EventType::kFenceDrained), 16u);
  EXPECT_EQ(EventTypeName(static_cast<EventType>(17)), "unknown_17");
  EXPECT_EQ(EventTypeName(EventType::kUnspec), "unknown_0");
  EXPECT_EQ(EventTypeName(static_cast<EventType>(99)), "unknown_99");
  EXPECT_EQ(EventTypeFromName("gap"), std::nullopt);
}

TEST(EventTest, FormatsDevT) {
  EXPECT_EQ(FormatDevT((253u << 8) | 0u), "253:0");
  EXPECT_EQ(FormatDevT((253u << 8) | 17u), "253:17");
  // Minor 0x12345: low byte in bits 0-7, the rest above the major.
  EXPECT_EQ(FormatDevT(0x45u | (259u << 8) | (0x123u << 20)), "259:74565");
}

TEST(EventTest, JsonWithAllFields) {
  Event e;
  e.seq = 7;
  e.type = EventType::kFreezeDrained;
  e.uuid = "vol1";
  e.dm_name = "cv";
  e.dm_dev = 253u << 8;
  e.time_ns = 1700000000123456789u;
  e.id = 3;
  e.vext = 0;
  e.count = 1;
  e.dev_slot = 2;
  e.value = 12;
  e.lost = 0;
  EXPECT_EQ(EventToJson(e),
            R"({"seq":7,"type":"freeze_drained","uuid":"vol1","dm_name":"cv","dm_dev":"253:0",)"
            R"("time_ns":1700000000123456789,"id":3,"vext":0,"count":1,"dev_slot":2,)"
            R"("value":12,"lost":0})");
}

TEST(EventTest, JsonOmitsAbsentFieldsAndEscapes) {
  Event e;
  e.seq = 1;
  e.type = EventType::kDevError;
  e.uuid = "u";
  e.dm_name = "we\"ird\nname\\";
  e.dev_slot = 0;
  EXPECT_EQ(EventToJson(e),
            R"({"seq":1,"type":"dev_error","uuid":"u","dm_name":"we\"ird\nname\\","dev_slot":0})");
  e.dm_name.reset();
  e.dev_slot.reset();
  e.type = static_cast<EventType>(40);
  EXPECT_EQ(EventToJson(e), R"({"seq":1,"type":"unknown_40","uuid":"u"})");
}

// The migration events carry vext, dev_slot and value (docs/target.md,
// events table); dev_slot 0 and value 0 are real values, not absent ones.
TEST(EventTest, JsonOfMigrationEvents) {
  struct Case {
    EventType type;
    uint32_t dev_slot;
    uint64_t value;
    const char* json;
  };
  const Case cases[] = {
      {EventType::kMigrateStarted, 1, 64,
       R"({"seq":3,"type":"migrate_started","uuid":"vol1","vext":5,"dev_slot":1,"value":64})"},
      {EventType::kMigrateReady, 1, 600,
       R"({"seq":3,"type":"migrate_ready","uuid":"vol1","vext":5,"dev_slot":1,"value":600})"},
      {EventType::kMigrateDone, 0, 0,
       R"({"seq":3,"type":"migrate_done","uuid":"vol1","vext":5,"dev_slot":0,"value":0})"},
      {EventType::kMigrateFailed, 2, 10,
       R"({"seq":3,"type":"migrate_failed","uuid":"vol1","vext":5,"dev_slot":2,"value":10})"},
      {EventType::kMigrateAborted, 4095, 7,
       R"({"seq":3,"type":"migrate_aborted","uuid":"vol1","vext":5,"dev_slot":4095,"value":7})"},
      {EventType::kDstWriteError, 1, 31,
       R"({"seq":3,"type":"dst_write_error","uuid":"vol1","vext":5,"dev_slot":1,"value":31})"},
  };
  for (const Case& c : cases) {
    Event e;
    e.seq = 3;
    e.type = c.type;
    e.uuid = "vol1";
    e.vext = 5;
    e.dev_slot = c.dev_slot;
    e.value = c.value;
    EXPECT_EQ(EventToJson(e), c.json);
  }
}

}  // namespace
}  // namespace cvol
