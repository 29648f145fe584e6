// A blocking client of cvold's control socket: one request at a time on one
// connection, as clusterctl uses it.
//
//   absl::StatusOr<Client> client = Client::Connect("/run/cvol/cvold.sock");
//   absl::StatusOr<nlohmann::json> pools = client->Call("pool.list", {});
//
// Every failure is a Status: the daemon's error reply as it sent it, and
// UNAVAILABLE when there is no daemon or it goes away (clusterctl exits 5),
// DEADLINE_EXCEEDED when it does not answer in time.
#ifndef CVOL_CONTROL_CLIENT_H_
#define CVOL_CONTROL_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cvol/control/protocol.h"
#include "nlohmann/json.hpp"

namespace cvol::control {

inline constexpr char kDefaultSocketPath[] = "/run/cvol/cvold.sock";

struct ClientOptions {
  // How long to wait for the daemon to accept (a full listen backlog).
  absl::Duration connect_timeout = absl::Seconds(5);
  // How long Call() waits for each reply line (interim replies restart the
  // clock). absl::InfiniteDuration() waits forever, as `events` needs.
  absl::Duration read_timeout = absl::Seconds(60);
};

class Client {
 public:
  // ENOENT or ECONNREFUSED: UNAVAILABLE "cvold is not running (no socket at
  // PATH); start it with: systemctl start cvold". EACCES: PERMISSION_DENIED.
  static absl::StatusOr<Client> Connect(const std::string& socket_path,
                                        const ClientOptions& options = {});

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // Sends one request and reads replies until the final one. Progress and
  // event replies go to `on_interim` (if set) as they arrive. Returns the
  // ok reply's result, or the error reply's status (also for an error with
  // id 0, which is about the connection). A reply the client cannot parse,
  // or for another id, is INTERNAL; the connection is unusable after any
  // error that is not an error reply.
  absl::StatusOr<nlohmann::json> Call(const std::string& command, const nlohmann::json& args,
                                      const std::function<void(const Reply&)>& on_interim = {});

  const std::string& socket_path() const { return socket_path_; }

 private:
  Client(int fd, std::string socket_path, ClientOptions options);

  absl::Status WriteAll(std::string_view data);
  // The next line without its '\n'.
  absl::StatusOr<std::string> ReadLine();
  void Close();

  int fd_ = -1;
  std::string socket_path_;
  ClientOptions options_;
  uint64_t next_id_ = 1;
  std::string buffer_;  // bytes read past the last line returned
};

}  // namespace cvol::control

#endif  // CVOL_CONTROL_CLIENT_H_
