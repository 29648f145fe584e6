#include "control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <istream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/asio/post.hpp"
#include "boost/asio/read_until.hpp"
#include "boost/asio/streambuf.hpp"
#include "boost/asio/write.hpp"
#include "cvol/control/protocol.h"
#include "log.h"

namespace cvol::daemon {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

class ControlServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ControlServer& server, local::socket socket)
      : server_(server), socket_(std::move(socket)), input_(control::kMaxLineBytes) {}

  ~Connection() {
    if (subscription_) server_.events_.Unsubscribe(subscription_);
  }

  void Start() {
    struct ucred cred {};
    socklen_t len = sizeof(cred);
    if (getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        cred.uid != server_.allowed_uid_) {
      Send(control::EncodeError(
          control::kConnectionErrorId,
          absl::PermissionDeniedError("clusterctl must run as root (the control socket is "
                                      "root only)")));
      // Keep reading (and ignoring) what the client sends until it closes:
      // closing on unread data would reset the connection, and the client
      // would see a broken pipe instead of this answer.
      denied_ = true;
      closing_ = true;
    }
    Read();
  }

 private:
  void Read() {
    auto self = shared_from_this();
    asio::async_read_until(socket_, input_, '\n',
                           [self](boost::system::error_code ec, size_t n) {
                             self->OnLine(ec, n);
                           });
  }

  void OnLine(boost::system::error_code ec, size_t n) {
    if (ec) {
      if (ec == asio::error::not_found) {  // longer than kMaxLineBytes
        closing_ = true;
        Send(control::EncodeError(control::kConnectionErrorId,
                                  absl::InvalidArgumentError("request line too long")));
      }
      return;  // closed by the peer
    }
    std::string line(asio::buffers_begin(input_.data()),
                     asio::buffers_begin(input_.data()) + n);
    input_.consume(n);
    if (denied_) {
      Read();
      return;
    }
    absl::StatusOr<control::Request> request = control::ParseRequest(line);
    if (!request.ok()) {
      Send(control::EncodeError(control::PeekRequestId(line).value_or(0), request.status()));
      Read();
      return;
    }
    if (request->command == "events") {
      // A stream: every event until the client goes away.
      auto weak = std::weak_ptr<Connection>(shared_from_this());
      const uint64_t id = request->id;
      asio::io_context& io = server_.io_;
      subscription_ = server_.events_.Subscribe([weak, id, &io](const nlohmann::json& event) {
        std::string reply = control::EncodeEvent(id, event);
        asio::post(io, [weak, reply = std::move(reply)]() {
          if (auto self = weak.lock()) self->Send(reply);
        });
      });
      Read();  // only to notice the close
      return;
    }
    auto self = shared_from_this();
    asio::post(server_.workers_, [self, request = *std::move(request)]() {
      auto progress = [self, id = request.id](const nlohmann::json& body) {
        std::string reply = control::EncodeProgress(id, body);
        asio::post(self->server_.io_, [self, reply = std::move(reply)] { self->Send(reply); });
      };
      absl::StatusOr<nlohmann::json> result =
          self->server_.service_.Handle(request.command, request.args, progress);
      std::string reply = result.ok() ? control::EncodeOk(request.id, *result)
                                      : control::EncodeError(request.id, result.status());
      asio::post(self->server_.io_, [self, reply = std::move(reply)] {
        self->Send(reply);
        self->Read();
      });
    });
  }

  void Send(std::string line) {
    output_.push_back(std::move(line));
    if (output_.size() == 1) WriteNext();
  }

  void WriteNext() {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(output_.front()),
                      [self](boost::system::error_code ec, size_t) {
                        if (ec) return;
                        self->output_.pop_front();
                        if (!self->output_.empty()) {
                          self->WriteNext();
                        } else if (self->closing_) {
                          boost::system::error_code ignored;
                          self->socket_.shutdown(local::socket::shutdown_send, ignored);
                        }
                      });
  }

  ControlServer& server_;
  local::socket socket_;
  asio::streambuf input_;
  std::deque<std::string> output_;
  uint64_t subscription_ = 0;
  bool closing_ = false;  // shut down the sending side once the queue drains
  bool denied_ = false;   // not root: every request is ignored
};

ControlServer::ControlServer(asio::io_context& io, Service& service, EventHub& events,
                             uid_t allowed_uid)
    : io_(io),
      service_(service),
      events_(events),
      allowed_uid_(allowed_uid),
      acceptor_(io),
      retry_accept_(io) {}

ControlServer::~ControlServer() {
  Close();
  workers_.join();
}

absl::Status ControlServer::Listen(const std::string& path) {
  boost::system::error_code ec;
  ::unlink(path.c_str());  // a socket left by a killed daemon
  const mode_t old = ::umask(0077);
  acceptor_.open(local(), ec);
  if (!ec) acceptor_.bind(local::endpoint(path), ec);
  ::umask(old);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(path, ": ", ec.message()));
  ::chmod(path.c_str(), 0600);
  path_ = path;
  Accept();
  return absl::OkStatus();
}

void ControlServer::Close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_accept_.cancel();
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

void ControlServer::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, local::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // Close()
    if (ec) {
      RetryAccept(ec);
      return;
    }
    if (failed_accepts_ != 0) {
      LogInfo(absl::StrCat("control socket: accepting again after ", failed_accepts_,
                           " failed accepts"));
      failed_accepts_ = 0;
      retry_delay_ = kFirstRetry;
    }
    std::make_shared<Connection>(*this, std::move(socket))->Start();
    Accept();
  });
}

// Every error but Close()'s passes (EMFILE and ENFILE when descriptors
// free up, ENOBUFS and ENOMEM, ECONNABORTED at once): ending the loop here
// left clusterctl without a daemon until a restart (issue 17). Retrying at
// once would spin on the same error.
void ControlServer::RetryAccept(const boost::system::error_code& error) {
  ++failed_accepts_;
  if (std::optional<std::string> line = log_limiter_.Admit(
          "accept",
          absl::StrCat("control socket: accept: ", error.message(), "; retrying in ",
                       retry_delay_.count(), " ms"),
          absl::Now())) {
    LogWarning(*line);
  }
  retry_accept_.expires_after(retry_delay_);
  retry_accept_.async_wait([this](boost::system::error_code ec) {
    if (!ec && acceptor_.is_open()) Accept();
  });
  retry_delay_ = std::min(retry_delay_ * 2, kLastRetry);
}

}  // namespace cvol::daemon
