// PeerCaller::AskAll over a ThreadPool: the calls of a round run at once,
// the answers come back in the targets' order, and a round does not wait
// for another round's slow calls while the pool has a thread for each.
#include "peer_caller.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "thread_pool.h"

namespace cvol::daemon {
namespace {

using Json = nlohmann::json;

// Answers with its address; the address "slow" answers only once released,
// and every call waits until `together` calls are in flight.
class FakePeers final : public PeerCaller {
 public:
  FakePeers(Executor* fan_out, int together) : PeerCaller(fan_out), together_(together) {}

  PeerAnswer Ask(const PeerTarget& to, const std::string&, int64_t, const Json&,
                 absl::Duration) override {
    const std::string& address = to.address;
    if (address == "slow") release_slow_.WaitForNotification();
    absl::MutexLock lock(&mu_);
    ++in_flight_;
    auto all_here = [this] { return in_flight_ >= together_; };
    PeerAnswer answer;
    if (!mu_.AwaitWithTimeout(absl::Condition(&all_here), absl::Seconds(10))) {
      answer.transport = absl::DeadlineExceededError("not asked at once");
    } else {
      answer.verdict = Json{{"from", address}};
    }
    return answer;
  }

  void ReleaseSlow() { release_slow_.Notify(); }

 private:
  const int together_;
  absl::Notification release_slow_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

std::vector<PeerTarget> Targets(const std::vector<std::string>& addresses) {
  std::vector<PeerTarget> targets;
  for (const std::string& a : addresses) targets.push_back(PeerTarget{"h-" + a, a});
  return targets;
}

TEST(PeerCallerTest, AsksEveryTargetAtOnceAndAnswersInOrder) {
  ThreadPool pool(4);
  FakePeers peers(&pool, /*together=*/4);
  std::vector<PeerAnswer> answers =
      peers.AskAll(Targets({"a", "b", "c", "d"}), "ping", 1, Json::object(), absl::Seconds(1));
  ASSERT_EQ(answers.size(), 4u);
  const std::vector<std::string> expected = {"a", "b", "c", "d"};
  for (size_t i = 0; i < answers.size(); ++i) {
    ASSERT_TRUE(answers[i].answered()) << answers[i].transport;
    EXPECT_EQ((*answers[i].verdict)["from"], expected[i]);
  }
}

TEST(PeerCallerTest, AMemberWithoutAnAddressDidNotAnswer) {
  ThreadPool pool(2);
  FakePeers peers(&pool, /*together=*/1);
  std::vector<PeerAnswer> answers =
      peers.AskAll(Targets({"a", ""}), "ping", 1, Json::object(), absl::Seconds(1));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers[0].answered());
  EXPECT_FALSE(answers[1].answered());
  EXPECT_EQ(answers[1].transport.code(), absl::StatusCode::kUnavailable);
}

TEST(PeerCallerTest, NoTargetsNoCalls) {
  ThreadPool pool(1);
  FakePeers peers(&pool, /*together=*/1);
  EXPECT_TRUE(peers.AskAll({}, "ping", 1, Json::object(), absl::Seconds(1)).empty());
}

// One round hangs on a slow member; another round, asked meanwhile, gets
// its answers without waiting for it.
TEST(PeerCallerTest, ARoundDoesNotWaitForAnotherRoundsSlowCall) {
  ThreadPool pool(3);
  FakePeers peers(&pool, /*together=*/1);
  std::vector<PeerAnswer> slow_round;
  std::thread first([&] {
    slow_round = peers.AskAll(Targets({"slow"}), "freeze", 1, Json::object(), absl::Seconds(5));
  });
  std::vector<PeerAnswer> fast_round =
      peers.AskAll(Targets({"a", "b"}), "freeze", 1, Json::object(), absl::Seconds(5));
  ASSERT_EQ(fast_round.size(), 2u);
  EXPECT_TRUE(fast_round[0].answered());
  EXPECT_TRUE(fast_round[1].answered());
  peers.ReleaseSlow();
  first.join();
  ASSERT_EQ(slow_round.size(), 1u);
  EXPECT_TRUE(slow_round[0].answered());
}

}  // namespace
}  // namespace cvol::daemon
