// The host side of the controller protocol, before it touches the kernel:
// a request under any epoch but the current one is refused (a deposed
// controller), a current one gets through to strict argument checking, and
// a daemon that is not clustered refuses peer requests altogether.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "cluster_agent.h"
#include "cvol/cluster/membership.h"
#include "cvol/dm_client.h"
#include "cvol/store/mem_kv_store.h"
#include "event_hub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service.h"

namespace cvol::daemon {
namespace {

using ::testing::HasSubstr;

constexpr char kPrefix[] = "/cvol/";

class PeerHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<cluster::Membership>> h1 =
        cluster::Membership::Join(kv_, kPrefix, {"h1", {"10.0.0.1:7450"}}, 10);
    ASSERT_TRUE(h1.ok()) << h1.status();
    primary_ = std::move(*h1);
    absl::StatusOr<std::unique_ptr<cluster::Membership>> h2 =
        cluster::Membership::Join(kv_, kPrefix, {"h2", {"10.0.0.2:7450"}}, 10);
    ASSERT_TRUE(h2.ok()) << h2.status();
    self_ = std::move(*h2);
    agent_ = std::make_unique<ClusterAgent>(
        kv_, kv_, ClusterAgentOptions{kPrefix, "h2", {"10.0.0.2:7450"}, 10}, ClusterAgent::Hooks{});
    service_ = std::make_unique<Service>(ServiceOptions{}, kv_, kPrefix, dm_, events_);
  }

  store::MemKvStore kv_;
  DmClient dm_;
  EventHub events_;
  std::unique_ptr<cluster::Membership> primary_, self_;
  std::unique_ptr<ClusterAgent> agent_;
  std::unique_ptr<Service> service_;
};

TEST_F(PeerHandlersTest, NotClusteredRefusesEverything) {
  absl::StatusOr<nlohmann::json> r =
      service_->HandlePeer("ping", 0, "h1", nlohmann::json::object());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PeerHandlersTest, StaleEpochIsRefused) {
  service_->AttachCluster(agent_.get(), nullptr);
  const int64_t epoch = primary_->campaign_revision();
  for (const char* type : {"freeze", "apply", "release", "abort", "migrate_start", "recopy",
                           "volume_move", "move_progress"}) {
    absl::StatusOr<nlohmann::json> r =
        service_->HandlePeer(type, epoch - 1, "h1", nlohmann::json{{"change", "c"}});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << type;
    EXPECT_THAT(r.status().message(), HasSubstr("stale epoch")) << type;
  }
}

TEST_F(PeerHandlersTest, TheSuccessorsEpochRefusesThePredecessor) {
  service_->AttachCluster(agent_.get(), nullptr);
  const int64_t old_epoch = primary_->campaign_revision();
  ASSERT_TRUE(primary_->Leave().ok());  // h2 becomes the Primary
  absl::StatusOr<nlohmann::json> r =
      service_->HandlePeer("freeze", old_epoch, "h1", nlohmann::json{{"change", "c"}});
  EXPECT_THAT(r.status().message(), HasSubstr("stale epoch"));
  r = service_->HandlePeer("release", self_->campaign_revision(), "h2",
                           nlohmann::json{{"change", "c"}});
  ASSERT_TRUE(r.ok()) << r.status();  // nothing held under that change: a no-op
  EXPECT_EQ((*r)["released"], false);
}

TEST_F(PeerHandlersTest, CurrentEpochReachesArgumentChecks) {
  service_->AttachCluster(agent_.get(), nullptr);
  const int64_t epoch = primary_->campaign_revision();
  absl::StatusOr<nlohmann::json> r =
      service_->HandlePeer("freeze", epoch, "h1", nlohmann::json{{"change", "c"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = service_->HandlePeer("freeze", epoch, "h1",
                           nlohmann::json{{"change", "c"}, {"volume", "p/v"}, {"vext", 0},
                                          {"timeout_ms", 1000}, {"extra", 1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = service_->HandlePeer("no_such_request", epoch, "h1", nlohmann::json::object());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = service_->HandlePeer("ping", 0, "h1", nlohmann::json::object());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["host"], "h2");
}

// The epoch is right, the sender is not the Primary: the peer link
// authenticated it as another member (its certificate), which must not
// act in the Primary's name.
TEST_F(PeerHandlersTest, ControllerStepsFromAnotherMemberAreRefused) {
  service_->AttachCluster(agent_.get(), nullptr);
  const int64_t epoch = primary_->campaign_revision();
  for (const char* sender : {"h2", "h3", ""}) {
    for (const char* type : {"freeze", "apply", "release", "abort", "migrate_start",
                             "migrate_status", "recopy"}) {
      absl::StatusOr<nlohmann::json> r =
          service_->HandlePeer(type, epoch, sender, nlohmann::json{{"change", "c"}});
      EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << type << sender;
      EXPECT_THAT(r.status().message(), HasSubstr("the Primary of epoch")) << type;
    }
  }
  // Requests any member may send to the Primary pass the identity check
  // (and reach their own checks).
  absl::StatusOr<nlohmann::json> r = service_->HandlePeer(
      "move_progress", epoch, "h3", nlohmann::json{{"keys", "/cvol/moves/p/v/1"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

// A command forwarded by another host: only the Primary starts moves, and
// progress is reported only for moves this host runs.
TEST_F(PeerHandlersTest, ForwardedMovesNeedThePrimary) {
  service_->AttachCluster(agent_.get(), nullptr);
  const int64_t epoch = primary_->campaign_revision();
  absl::StatusOr<nlohmann::json> r = service_->HandlePeer(
      "volume_move", epoch, "h1", nlohmann::json{{"volume", "p/v"}, {"vext", 0}, {"count", 1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("not the Primary"));
  r = service_->HandlePeer("volume_move", epoch, "h1",
                           nlohmann::json{{"volume", "p/v"}, {"vext", 0}, {"count", 0}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = service_->HandlePeer("move_progress", epoch, "h1",
                           nlohmann::json{{"keys", nlohmann::json::array({"/cvol/moves/p/v/1"})}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  r = service_->HandlePeer("move_progress", epoch, "h1", nlohmann::json{{"keys", "/cvol/moves/p/v/1"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

}  // namespace
}  // namespace cvol::daemon
