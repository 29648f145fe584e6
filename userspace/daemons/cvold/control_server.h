// The Unix control socket: accepts clusterctl connections (root only,
// checked with SO_PEERCRED), reads one JSON request per line and answers
// it (docs/control-protocol.md). Runs on the daemon's io_context; requests
// run on a small worker pool, because they make blocking etcd and
// device-mapper calls, and their replies are written back on the io_context.
#ifndef CVOL_CVOLD_CONTROL_SERVER_H_
#define CVOL_CVOLD_CONTROL_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/local/stream_protocol.hpp"
#include "boost/asio/thread_pool.hpp"
#include "event_hub.h"
#include "service.h"

namespace cvol::daemon {

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, Service& service, EventHub& events,
                uid_t allowed_uid = 0);
  ~ControlServer();

  // Binds (replacing a stale socket file), mode 0600, and starts accepting.
  absl::Status Listen(const std::string& path);
  void Close();

 private:
  class Connection;
  void Accept();

  boost::asio::io_context& io_;
  Service& service_;
  EventHub& events_;
  const uid_t allowed_uid_;
  boost::asio::thread_pool workers_{8};
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_CONTROL_SERVER_H_
