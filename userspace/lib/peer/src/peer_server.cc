#include "cvol/peer/peer_server.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/ssl/error.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "boost/asio/write.hpp"
#include "cvol/log_limiter.h"
#include "cvol/peer/address.h"
#include "cvol/peer/connection_limits.h"
#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "cvol/status_macros.h"
#include "nlohmann/json.hpp"
#include "cvol/peer/peer_tls.h"
#include "socket_options.h"

namespace cvol::peer {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::string EndpointName(const tcp::endpoint& endpoint) {
  return FormatHostPort(HostPort{endpoint.address().to_string(), endpoint.port()});
}

// The id of a request that did not parse, so that its error reply still
// answers it; 0 when even the id is unreadable.
uint64_t IdOf(const std::string& body) {
  try {
    const nlohmann::json j = nlohmann::json::parse(body);
    if (j.is_object()) {
      const auto it = j.find("id");
      if (it != j.end() && it->is_number_unsigned()) return it->get<uint64_t>();
    }
  } catch (const std::exception&) {
  }
  return 0;
}

}  // namespace

class PeerServer::Impl {
 public:
  class Connection;

  Impl(PeerHandler handler, PeerServerOptions options, std::unique_ptr<asio::ssl::context> tls)
      : handler_(std::move(handler)),
        options_(std::move(options)),
        tls_(std::move(tls)),
        limits_(options_.caps),
        work_(asio::make_work_guard(io_)),
        acceptor_(io_),
        retry_accept_(io_),
        flush_log_(io_),
        workers_(static_cast<size_t>(options_.worker_threads)) {}

  ~Impl() { Stop(); }

  absl::Status Listen(const HostPort& where) {
    error_code ec;
    const asio::ip::address ip = asio::ip::make_address(where.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address ", where.host));
    const tcp::endpoint endpoint(ip, where.port);
    const std::string name = FormatHostPort(where);
    acceptor_.open(endpoint.protocol(), ec);
    // A restarted daemon must get its port back while old connections sit
    // in TIME_WAIT.
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot listen on ", name, ": ", ec.message()));
    host_ = where.host;
    port_ = acceptor_.local_endpoint(ec).port();
    return absl::OkStatus();
  }

  void Run() {
    Accept();
    for (int i = 0; i < options_.io_threads; ++i) io_threads_.emplace_back([this] { io_.run(); });
  }

  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }

  void Log(const std::string& line) {
    if (options_.log) {
      options_.log(line);
    } else {
      std::fprintf(stderr, "cvolpeer: %s\n", line.c_str());
    }
  }

  // For what a remote host can make us repeat at will (refusals, timeouts
  // of unauthenticated connections): at most one line a second per reason.
  void LogLimited(const std::string& reason, std::string line) ABSL_LOCKS_EXCLUDED(log_mu_);

  // Runs on a worker.
  PeerReply Handle(const PeerRequest& request) {
    PeerReply reply;
    try {
      reply = handler_(request);
    } catch (const std::exception& e) {
      reply = PeerReply{0, absl::InternalError(absl::StrCat("handler of '", request.type,
                                                            "' threw: ", e.what())),
                        nullptr};
    } catch (...) {
      reply = PeerReply{
          0, absl::InternalError(absl::StrCat("handler of '", request.type, "' threw")), nullptr};
    }
    reply.id = request.id;
    return reply;
  }

  // OK if the request was sent within max_clock_skew of now. A captured
  // frame can be replayed only that long; the epoch and idempotent requests
  // cover the window (docs/peer-protocol.md).
  absl::Status CheckSkew(const PeerRequest& request) const {
    const absl::Time now = absl::Now();
    const absl::Time sent = absl::FromUnixMillis(request.sent_unix_ms);
    if (absl::AbsDuration(now - sent) <= options_.max_clock_skew) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "request sent at ", absl::FormatTime(sent), " is ", absl::FormatDuration(now - sent),
        " away from this host's clock (", absl::FormatTime(now), "; limit ",
        absl::FormatDuration(options_.max_clock_skew),
        "): refused as a possible replay; check the hosts' time synchronization"));
  }

  const PeerServerOptions& options() const { return options_; }
  asio::ssl::context& tls() { return *tls_; }
  asio::thread_pool& workers() { return workers_; }

  void Forget(Connection* connection) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    connections_.erase(connection);
  }

 private:
  void Accept();
  // Admits a new connection, or closes it at once if it is over a cap.
  void Admit(tcp::socket socket);
  void FlushLog() ABSL_LOCKS_EXCLUDED(log_mu_);
  void ArmFlushLog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_mu_);

  const PeerHandler handler_;
  const PeerServerOptions options_;
  const std::unique_ptr<asio::ssl::context> tls_;
  // Before io_: connections destroyed with io_'s pending handlers give
  // their slots back to it.
  ConnectionLimits limits_;
  asio::io_context io_;  // declared before its users: destroyed after them
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_accept_;
  absl::Mutex log_mu_;
  LogLimiter log_limiter_ ABSL_GUARDED_BY(log_mu_);
  // Reports what log_limiter_ held back once a flood stops.
  asio::steady_timer flush_log_ ABSL_GUARDED_BY(log_mu_);
  bool flush_armed_ ABSL_GUARDED_BY(log_mu_) = false;
  asio::thread_pool workers_;
  std::vector<std::thread> io_threads_;
  std::string host_;
  uint16_t port_ = 0;

  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // To close them on Stop. Weak: a connection lives as long as an operation
  // or a handler of its is pending.
  std::map<Connection*, std::weak_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
};

// One accepted connection. Requests are served one at a time: the next
// frame is read after the previous reply is written, which bounds what one
// peer can make this host queue.
//
// Its socket's executor is a strand: the deadline timer and the socket's
// operations complete on it one at a time, whatever io_threads is.
class PeerServer::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& server, tcp::socket socket, std::unique_ptr<ConnectionLimits::Slot> slot,
             std::string remote)
      : server_(server),
        stream_(std::move(socket), server.tls()),
        deadline_(stream_.get_executor()),
        slot_(std::move(slot)),
        remote_(std::move(remote)),
        decoder_(server.options().secret, server.options().max_body_bytes) {}

  // The handshake proves which host the peer is (its certificate); a peer
  // that fails it is closed on without a word, like a bad frame.
  void Start() {
    // The handshake deadline, cancelled when the handshake ends (the next
    // phase's deadline replaces it): a peer that connects and never
    // finishes the handshake would otherwise hold a descriptor forever.
    Enter(Phase::kHandshake);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](const error_code& ec) {
                              self->EndHandshake();
                              if (ec) {
                                if (ec != asio::error::operation_aborted) {
                                  self->server_.LogLimited(
                                      "TLS handshake failed",
                                      absl::StrCat("peer ", self->remote_, ": TLS handshake: ",
                                                   ec.message(), "; closing the connection"));
                                }
                                self->Finish();
                                return;
                              }
                              self->hosts_ = PeerCertificateHosts(self->stream_.native_handle());
                              if (self->hosts_.empty()) {
                                self->server_.Log(absl::StrCat(
                                    "peer ", self->remote_,
                                    ": its certificate names no host (DNS subjectAltName); "
                                    "closing the connection"));
                                self->Finish();
                                return;
                              }
                              self->ReadNext();
                            });
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  void Close() {
    error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

 private:
  // What the connection waits for, and so which deadline applies.
  enum class Phase {
    kHandshake,  // the TLS handshake: handshake_timeout
    kIdle,       // the first byte of the next request: idle_timeout
    kReceiving,  // the rest of a request frame: frame_timeout from its first byte
    kHandling,   // the handler: none (a freeze may wait long for the kernel)
    kSending,    // the reply being written: frame_timeout
  };

  absl::Duration DeadlineOf(Phase phase) const {
    const PeerServerOptions& options = server_.options();
    switch (phase) {
      case Phase::kHandshake:
        return options.handshake_timeout;
      case Phase::kIdle:
        return options.idle_timeout;
      case Phase::kReceiving:
      case Phase::kSending:
        return options.frame_timeout;
      case Phase::kHandling:
        break;
    }
    return absl::InfiniteDuration();
  }

  // Moves to `next` and arms its deadline. Staying in kReceiving keeps the
  // deadline armed when the frame's first byte came: re-arming it on every
  // read would let a peer that trickles a byte at a time hold the
  // connection forever.
  void Enter(Phase next) {
    if (next == phase_ && next == Phase::kReceiving) return;
    phase_ = next;
    ++deadline_generation_;
    const absl::Duration limit = DeadlineOf(next);
    if (limit == absl::InfiniteDuration()) {
      deadline_.cancel();
      return;
    }
    deadline_.expires_after(absl::ToChronoNanoseconds(limit));
    // The generation tells a stale expiry (one that was already queued when
    // the deadline was re-armed) from the current one.
    deadline_.async_wait(
        [self = shared_from_this(), generation = deadline_generation_](const error_code& ec) {
          if (!ec && generation == self->deadline_generation_) self->Expire();
        });
  }

  // Closing the socket aborts the pending operation, whose completion then
  // Finish()es the connection.
  void Expire() {
    const std::string limit = absl::FormatDuration(DeadlineOf(phase_));
    switch (phase_) {
      case Phase::kHandshake:
        server_.LogLimited("handshake timeout",
                           absl::StrCat("peer ", remote_, ": no TLS handshake within ", limit,
                                        "; closing the connection"));
        break;
      case Phase::kIdle:
        // A client's cached connection it stopped using: normal, not logged.
        break;
      case Phase::kReceiving:
        server_.LogLimited("frame timeout",
                           absl::StrCat("peer ", remote_, ": a request frame took longer than ",
                                        limit, " to arrive; closing the connection"));
        break;
      case Phase::kSending:
        server_.LogLimited("frame timeout",
                           absl::StrCat("peer ", remote_, ": the reply was not taken within ",
                                        limit, "; closing the connection"));
        break;
      case Phase::kHandling:
        return;  // no deadline
    }
    Close();
  }

  void EndHandshake() {
    if (slot_ != nullptr) slot_->HandshakeEnded();
  }

  void Finish() {
    // The pending wait holds this connection: cancel it, so that the
    // connection and its memory go now, not when the deadline would pass.
    ++deadline_generation_;
    deadline_.cancel();
    Close();
    slot_.reset();  // the place goes back with the descriptor
    server_.Forget(this);
  }

  void ReadNext() {
    absl::StatusOr<std::optional<std::string>> frame = decoder_.Next();
    if (!frame.ok()) {
      // Not answered: an unauthenticated peer learns nothing, not even
      // which check failed.
      server_.Log(absl::StrCat("peer ", remote_, ": ", frame.status().ToString(),
                               "; closing the connection"));
      Finish();
      return;
    }
    if (frame->has_value()) {
      Dispatch(std::move(**frame));
      return;
    }
    Enter(decoder_.buffered() == 0 ? Phase::kIdle : Phase::kReceiving);
    stream_.async_read_some(asio::buffer(input_),
                            [self = shared_from_this()](const error_code& ec, size_t n) {
                              if (ec) {
                                // A client closes without close_notify
                                // (stream_truncated): as normal as eof.
                                if (ec != asio::error::eof &&
                                    ec != asio::ssl::error::stream_truncated &&
                                    ec != asio::error::operation_aborted) {
                                  self->server_.LogLimited(
                                      "read error", absl::StrCat("peer ", self->remote_,
                                                                 ": read: ", ec.message()));
                                }
                                self->Finish();
                                return;
                              }
                              self->decoder_.Feed(std::string_view(self->input_.data(), n));
                              self->ReadNext();
                            });
  }

  // On the I/O thread, with an authenticated frame's body.
  void Dispatch(const std::string& body) {
    absl::StatusOr<PeerRequest> request = ParseRequest(body);
    if (!request.ok()) {
      Send(PeerReply{IdOf(body), request.status(), nullptr});
      return;
    }
    // The identity comes from the connection, never from the body: a
    // member cannot speak in another's name (e.g. the Primary's).
    if (std::find(hosts_.begin(), hosts_.end(), request->from) == hosts_.end()) {
      absl::Status denied = absl::PermissionDeniedError(absl::StrCat(
          "request '", request->type, "' names '", request->from,
          "' as its sender, but the connection's certificate is that of ",
          DescribeHosts(hosts_)));
      server_.Log(absl::StrCat("peer ", remote_, ": ", denied.message()));
      Send(PeerReply{request->id, std::move(denied), nullptr});
      return;
    }
    if (absl::Status skew = server_.CheckSkew(*request); !skew.ok()) {
      server_.Log(absl::StrCat("peer ", remote_, ": request '", request->type, "' #", request->id,
                               " from ", request->from, ": ", skew.message()));
      Send(PeerReply{request->id, std::move(skew), nullptr});
      return;
    }
    Enter(Phase::kHandling);
    asio::post(server_.workers(), [self = shared_from_this(), request = *std::move(request)] {
      PeerReply reply = self->server_.Handle(request);
      asio::post(self->stream_.get_executor(),
                 [self, reply = std::move(reply)] { self->Send(reply); });
    });
  }

  void Send(const PeerReply& reply) {
    const PeerServerOptions& options = server_.options();
    absl::StatusOr<std::string> frame =
        EncodeFrame(options.secret, EncodeReply(reply), options.max_body_bytes);
    if (!frame.ok()) {
      // Too large to send: the caller learns that instead of the body.
      const PeerReply error{reply.id,
                            absl::ResourceExhaustedError(absl::StrCat(
                                "reply not sent: ", frame.status().message())),
                            nullptr};
      frame = EncodeFrame(options.secret, EncodeReply(error), options.max_body_bytes);
    }
    if (!frame.ok()) {
      server_.Log(absl::StrCat("peer ", remote_, ": cannot encode a reply: ",
                               frame.status().ToString()));
      Finish();
      return;
    }
    output_ = *std::move(frame);
    Enter(Phase::kSending);
    asio::async_write(stream_, asio::buffer(output_),
                      [self = shared_from_this()](const error_code& ec, size_t) {
                        if (ec) {
                          if (ec != asio::error::operation_aborted) {
                            self->server_.Log(absl::StrCat("peer ", self->remote_,
                                                           ": write: ", ec.message()));
                          }
                          self->Finish();
                          return;
                        }
                        self->ReadNext();
                      });
  }

  Impl& server_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer deadline_;  // the current phase's
  uint64_t deadline_generation_ = 0;
  Phase phase_ = Phase::kHandshake;
  std::unique_ptr<ConnectionLimits::Slot> slot_;  // null once finished
  const std::string remote_;
  std::vector<std::string> hosts_;  // from the certificate; set by the handshake
  FrameDecoder decoder_;
  std::array<char, 64 * 1024> input_;
  std::string output_;
};

void PeerServer::Impl::Accept() {
  // Each connection gets a strand of its own (see Connection).
  acceptor_.async_accept(asio::make_strand(io_), [this](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // E.g. out of descriptors: retrying at once would spin.
      LogLimited("accept failed", absl::StrCat("accept: ", ec.message()));
      retry_accept_.expires_after(std::chrono::milliseconds(100));
      retry_accept_.async_wait([this](const error_code& timer_ec) {
        if (!timer_ec) Accept();
      });
      return;
    }
    Admit(std::move(socket));
    Accept();
  });
}

void PeerServer::Impl::Admit(tcp::socket socket) {
  error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return;  // already reset by the peer; the socket closes here
  ConnectionLimits::Admission admission = limits_.Admit(remote.address().to_string());
  if (admission.slot == nullptr) {
    // Accepted and closed rather than left in the backlog: a full backlog
    // would refuse legitimate peers too, and cost the same descriptor.
    LogLimited(absl::StrCat("refused (", ConnectionLimits::Name(admission.exceeded), " cap)"),
               absl::StrCat("refused a connection from ", EndpointName(remote), ": ",
                            admission.why));
    socket.close(ec);
    return;
  }
  TunePeerSocket(socket.native_handle());
  auto connection = std::make_shared<Connection>(*this, std::move(socket),
                                                 std::move(admission.slot), EndpointName(remote));
  {
    absl::MutexLock lock(&mu_);
    connections_[connection.get()] = connection;
  }
  // Start runs on the connection's strand, like everything it does later.
  asio::dispatch(connection->executor(), [connection] { connection->Start(); });
}

void PeerServer::Impl::LogLimited(const std::string& reason, std::string line) {
  std::optional<std::string> admitted;
  {
    absl::MutexLock lock(&log_mu_);
    admitted = log_limiter_.Admit(reason, std::move(line), absl::Now());
    ArmFlushLog();
  }
  if (admitted.has_value()) Log(*admitted);
}

void PeerServer::Impl::ArmFlushLog() {
  const absl::Time next = log_limiter_.NextFlush();
  if (flush_armed_ || next == absl::InfiniteFuture()) return;
  flush_armed_ = true;
  flush_log_.expires_after(absl::ToChronoNanoseconds(next - absl::Now()));
  flush_log_.async_wait([this](const error_code& ec) {
    if (!ec) FlushLog();
  });
}

void PeerServer::Impl::FlushLog() {
  std::vector<std::string> lines;
  {
    absl::MutexLock lock(&log_mu_);
    flush_armed_ = false;
    lines = log_limiter_.Flush(absl::Now());
    ArmFlushLog();  // for reasons whose interval has not passed yet
  }
  for (const std::string& line : lines) Log(line);
}

void PeerServer::Impl::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  io_.stop();
  for (std::thread& t : io_threads_) t.join();
  io_threads_.clear();
  // No I/O thread runs any more, so the sockets can be closed from here.
  error_code ignored;
  acceptor_.close(ignored);
  retry_accept_.cancel();
  std::map<Connection*, std::weak_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (auto& [raw, weak] : connections) {
    if (std::shared_ptr<Connection> c = weak.lock()) c->Close();
  }
  // Handlers still running finish; the replies they post to the stopped
  // io_context are destroyed with it, unsent.
  workers_.join();
}

absl::StatusOr<std::unique_ptr<PeerServer>> PeerServer::Start(const std::string& address,
                                                              PeerHandler handler,
                                                              PeerServerOptions options) {
  if (options.secret.empty()) return absl::InvalidArgumentError("peer server: no secret");
  if (!handler) return absl::InvalidArgumentError("peer server: no handler");
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return absl::InvalidArgumentError("peer server: io_threads and worker_threads must be >= 1");
  }
  for (const absl::Duration d :
       {options.handshake_timeout, options.idle_timeout, options.frame_timeout}) {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("peer server: every timeout must be > 0");
    }
  }
  const ConnectionCaps& caps = options.caps;
  if (caps.total == 0 || caps.per_address == 0 || caps.handshakes_per_address == 0) {
    return absl::InvalidArgumentError("peer server: every connection cap must be >= 1");
  }
  ASSIGN_OR_RETURN(HostPort where, ParseHostPort(address));
  ASSIGN_OR_RETURN(std::unique_ptr<asio::ssl::context> tls,
                   MakePeerTlsContext(options.tls, TlsRole::kServer));
  auto impl = std::make_unique<Impl>(std::move(handler), std::move(options), std::move(tls));
  if (absl::Status s = impl->Listen(where); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<PeerServer>(new PeerServer(std::move(impl)));
}

PeerServer::PeerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PeerServer::~PeerServer() { Stop(); }

void PeerServer::Stop() { impl_->Stop(); }

uint16_t PeerServer::port() const { return impl_->port(); }

std::string PeerServer::address() const {
  return FormatHostPort(HostPort{impl_->host(), impl_->port()});
}

}  // namespace cvol::peer
