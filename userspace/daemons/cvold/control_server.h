// The Unix control socket: accepts clusterctl connections (root only,
// checked with SO_PEERCRED), reads one JSON request per line and answers
// it (docs/control-protocol.md). Runs on the daemon's io_context; requests
// run on a small worker pool, because they make blocking etcd and
// device-mapper calls, and their replies are written back on the io_context.
//
// The accept loop ends only with Close(): a failed accept (out of
// descriptors, out of memory, a client gone before it was accepted) is
// retried with a backoff, so clusterctl works again as soon as the cause
// passes, without a restart of the daemon.
#ifndef CVOL_CVOLD_CONTROL_SERVER_H_
#define CVOL_CVOLD_CONTROL_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/local/stream_protocol.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "cvol/log_limiter.h"
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
  void RetryAccept(const boost::system::error_code& error);

  // The first retry of a failed accept comes after kFirstRetry, each
  // further one after twice the time, at most kLastRetry: quick when a
  // burst of connections passes, without spinning on a shortage that lasts.
  static constexpr std::chrono::milliseconds kFirstRetry{10};
  static constexpr std::chrono::milliseconds kLastRetry{1000};

  boost::asio::io_context& io_;
  Service& service_;
  EventHub& events_;
  const uid_t allowed_uid_;
  boost::asio::thread_pool workers_{8};
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  boost::asio::steady_timer retry_accept_;
  std::chrono::milliseconds retry_delay_ = kFirstRetry;
  uint64_t failed_accepts_ = 0;  // since the last accept that worked
  LogLimiter log_limiter_;
};

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_CONTROL_SERVER_H_
