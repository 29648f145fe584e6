// An in-process stand-in for cvold on a temporary Unix socket: it records
// every request and answers with canned reply lines. One connection at a
// time, which is how clusterctl and Client use the socket.
#ifndef CVOL_TESTS_UNIT_CONTROL_FAKE_SERVER_H_
#define CVOL_TESTS_UNIT_CONTROL_FAKE_SERVER_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "cvol/control/protocol.h"
#include "nlohmann/json.hpp"

namespace cvol::control::testing {

class FakeServer {
 public:
  // A reply line that makes the server close the connection instead.
  static constexpr char kClose[] = "<close>";

  // Reply lines for one request (each ending in "\n", or kClose).
  using Handler = std::function<std::vector<std::string>(const Request&)>;

  FakeServer();
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  const std::string& socket_path() const { return socket_path_; }

  // Answers `command` with ok and `result`.
  void RespondOk(const std::string& command, nlohmann::json result);
  // Answers `command` with an error reply.
  void RespondError(const std::string& command, absl::Status error);
  // Answers `command` with whatever `handler` returns.
  void Respond(const std::string& command, Handler handler);
  // Sent on every accept, before reading (as cvold's PERMISSION_DENIED).
  void SetGreeting(std::string line);

  // Every request parsed so far, in order.
  std::vector<Request> requests() const;
  // Every line received that was not a valid request.
  std::vector<std::string> bad_lines() const;
  int connections() const;

 private:
  void Serve();
  // Serves one connection until the peer closes or Stop; false on Stop.
  bool ServeConnection(int fd);
  std::vector<std::string> Answer(const Request& request);

  std::string dir_;
  std::string socket_path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;

  mutable std::mutex mu_;
  std::map<std::string, Handler> handlers_;
  std::string greeting_;
  std::vector<Request> requests_;
  std::vector<std::string> bad_lines_;
  int connections_ = 0;
};

}  // namespace cvol::control::testing

#endif  // CVOL_TESTS_UNIT_CONTROL_FAKE_SERVER_H_
