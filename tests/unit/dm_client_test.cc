#include "cvol/dm_client.h"

#include "gtest/gtest.h"

namespace cvol {
namespace {

// The ioctls themselves need root and a kernel: the VM scenario
// dmclient_roundtrip covers them.
TEST(DmClientTest, SyncsWithUdevOnlyWhenItRunsAndIsNotDisabled) {
  EXPECT_TRUE(ShouldSyncWithUdev(nullptr, true));
  EXPECT_FALSE(ShouldSyncWithUdev(nullptr, false));
  EXPECT_FALSE(ShouldSyncWithUdev("1", true));
  EXPECT_FALSE(ShouldSyncWithUdev("1", false));
  EXPECT_TRUE(ShouldSyncWithUdev("0", true));
  EXPECT_TRUE(ShouldSyncWithUdev("", true));
}

}  // namespace
}  // namespace cvol
