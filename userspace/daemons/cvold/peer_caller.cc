#include "peer_caller.h"

#include "absl/synchronization/blocking_counter.h"

namespace cvol::daemon {

std::vector<PeerAnswer> PeerCaller::AskAll(const std::vector<PeerTarget>& targets,
                                           const std::string& type, int64_t epoch,
                                           const nlohmann::json& body, absl::Duration deadline) {
  std::vector<PeerAnswer> answers(targets.size());
  auto ask = [&](size_t i) {
    if (targets[i].address.empty()) {
      answers[i].transport = absl::UnavailableError("the member has no address");
      return;
    }
    answers[i] = Ask(targets[i], type, epoch, body, deadline);
  };
  if (fan_out_ == nullptr || targets.empty()) {
    for (size_t i = 0; i < targets.size(); ++i) ask(i);
    return answers;
  }
  absl::BlockingCounter pending(static_cast<int>(targets.size()));
  for (size_t i = 0; i < targets.size(); ++i) {
    fan_out_->Schedule([&ask, &pending, i] {
      ask(i);
      pending.DecrementCount();
    });
  }
  pending.Wait();
  return answers;
}

}  // namespace cvol::daemon
