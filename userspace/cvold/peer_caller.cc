#include "peer_caller.h"

#include <thread>

namespace cvol::daemon {

std::vector<PeerAnswer> PeerCaller::AskAll(const std::vector<PeerTarget>& targets,
                                           const std::string& type, int64_t epoch,
                                           const nlohmann::json& body, absl::Duration deadline) {
  std::vector<PeerAnswer> answers(targets.size());
  std::vector<std::thread> calls;
  calls.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    calls.emplace_back([&, i] {
      if (targets[i].address.empty()) {
        answers[i].transport = absl::UnavailableError("the member has no address");
        return;
      }
      answers[i] = Ask(targets[i].address, type, epoch, body, deadline);
    });
  }
  for (std::thread& t : calls) t.join();
  return answers;
}

}  // namespace cvol::daemon
