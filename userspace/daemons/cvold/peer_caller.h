// The controller's way to reach the other daemons (the peer protocol,
// docs/peer-protocol.md); an interface so that unit tests and the
// simulation can stand in for the network.
#ifndef CVOL_CVOLD_PEER_CALLER_H_
#define CVOL_CVOLD_PEER_CALLER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executor.h"
#include "nlohmann/json.hpp"

namespace cvol::daemon {

// A peer's answer, keeping apart the two ways a call fails: no answer in
// time (the transport: the host may be dead, cut off or stopped -- only
// this may take it out of a change) and an answer that says no (the
// handler's verdict: the host is alive; retry or decide otherwise).
struct PeerAnswer {
  absl::Status transport;                  // not OK: no answer
  absl::StatusOr<nlohmann::json> verdict;  // meaningful when answered

  bool answered() const { return transport.ok(); }
  // The two folded into one, for callers that do not care which.
  absl::StatusOr<nlohmann::json> Flatten() const {
    if (!transport.ok()) return transport;
    return verdict;
  }
};

// The host answers at address, and the transport checks that it is that
// host (its certificate) before anything is sent.
struct PeerTarget {
  std::string host;
  std::string address;
};

class PeerCaller {
 public:
  // AskAll runs its calls on fan_out, one task per target (nullptr: one
  // after another on the caller's thread). A call holds its thread for up
  // to the deadline, so a round costs one round trip only while fan_out has
  // a free thread for each of its calls; fan_out must outlive every round.
  explicit PeerCaller(Executor* fan_out = nullptr) : fan_out_(fan_out) {}
  virtual ~PeerCaller() = default;
  virtual PeerAnswer Ask(const PeerTarget& to, const std::string& type, int64_t epoch,
                         const nlohmann::json& body, absl::Duration deadline) = 0;
  // Every target at once (a step costs one round trip and the slowest
  // answer, not one per member); answers in the targets' order.
  virtual std::vector<PeerAnswer> AskAll(const std::vector<PeerTarget>& targets,
                                         const std::string& type, int64_t epoch,
                                         const nlohmann::json& body, absl::Duration deadline);

  absl::StatusOr<nlohmann::json> Call(const PeerTarget& to, const std::string& type,
                                      int64_t epoch, const nlohmann::json& body,
                                      absl::Duration deadline) {
    return Ask(to, type, epoch, body, deadline).Flatten();
  }

 private:
  Executor* const fan_out_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_PEER_CALLER_H_
