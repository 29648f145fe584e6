#include "cvol/control/client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/control/protocol.h"
#include "cvol/status_macros.h"

namespace cvol::control {
namespace {

std::string ErrnoText(int err) { return strerror(err); }

// Seconds for messages: "5s", "0.5s".
std::string FormatSeconds(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d), "s"); }

}  // namespace

Client::Client(int fd, std::string socket_path, ClientOptions options)
    : fd_(fd), socket_path_(std::move(socket_path)), options_(options) {}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      socket_path_(std::move(other.socket_path_)),
      options_(other.options_),
      next_id_(other.next_id_),
      buffer_(std::move(other.buffer_)) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    socket_path_ = std::move(other.socket_path_);
    options_ = other.options_;
    next_id_ = other.next_id_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

Client::~Client() { Close(); }

void Client::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

absl::StatusOr<Client> Client::Connect(const std::string& socket_path,
                                       const ClientOptions& options) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path '", socket_path,
                                                   "' must be 1 to ", sizeof(addr.sun_path) - 1,
                                                   " bytes"));
  }
  std::copy(socket_path.begin(), socket_path.end(), addr.sun_path);

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  Client client(fd, socket_path, options);

  // A Unix stream connect blocks only while the listen backlog is full, and
  // honours SO_SNDTIMEO there.
  if (options.connect_timeout != absl::InfiniteDuration()) {
    timeval tv = absl::ToTimeval(std::max(options.connect_timeout, absl::Milliseconds(1)));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    switch (err) {
      case ENOENT:
      case ECONNREFUSED:
        return absl::UnavailableError(
            absl::StrCat("cvold is not running (no socket at ", socket_path,
                         "); start it with: systemctl start cvold"));
      case EACCES:
      case EPERM:
        return absl::PermissionDeniedError(absl::StrCat(
            "cannot connect to cvold at ", socket_path, ": ", ErrnoText(err),
            " (clusterctl must run as root)"));
      case EAGAIN:
      case EINPROGRESS:
      case ETIMEDOUT:
        return absl::DeadlineExceededError(absl::StrCat("cvold at ", socket_path,
                                                        " did not accept within ",
                                                        FormatSeconds(options.connect_timeout)));
      default:
        return absl::UnavailableError(
            absl::StrCat("cannot connect to cvold at ", socket_path, ": ", ErrnoText(err)));
    }
  }
  // Writes are small and the daemon reads them promptly; only reads wait.
  timeval no_timeout{};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &no_timeout, sizeof(no_timeout));
  return client;
}

absl::Status Client::WriteAll(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      Close();
      return absl::UnavailableError(
          absl::StrCat("cannot send to cvold at ", socket_path_, ": ", ErrnoText(err)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Client::ReadLine() {
  const absl::Time deadline = options_.read_timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options_.read_timeout;
  size_t scanned = 0;  // bytes of buffer_ known to hold no '\n'
  for (;;) {
    size_t newline = buffer_.find('\n', scanned);
    if (newline != std::string::npos) {
      if (newline > kMaxLineBytes) break;  // reported below
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    scanned = buffer_.size();
    if (buffer_.size() > kMaxLineBytes) break;

    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        Close();
        return absl::DeadlineExceededError(absl::StrCat(
            "no reply from cvold within ", FormatSeconds(options_.read_timeout)));
      }
      // Round up so that a sub-millisecond remainder still waits.
      timeout_ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60 * 60 * 1000));
    }
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
    }
    if (ready == 0) continue;  // the deadline check above reports it

    char chunk[64 * 1024];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      int err = errno;
      Close();
      return absl::UnavailableError(
          absl::StrCat("lost the connection to cvold: ", ErrnoText(err)));
    }
    if (n == 0) {
      Close();
      return absl::UnavailableError(
          "cvold closed the connection before it finished the request (see its log: "
          "journalctl -u cvold)");
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
  Close();
  return absl::InternalError(
      absl::StrCat("cvold sent a reply line over ", kMaxLineBytes, " bytes"));
}

absl::StatusOr<nlohmann::json> Client::Call(const std::string& command,
                                            const nlohmann::json& args,
                                            const std::function<void(const Reply&)>& on_interim) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError("the connection to cvold is closed");
  }
  Request request;
  request.id = next_id_++;
  request.command = command;
  request.args = args.is_null() ? nlohmann::json::object() : args;
  if (absl::Status s = WriteAll(EncodeRequest(request)); !s.ok()) return s;

  for (;;) {
    ASSIGN_OR_RETURN(std::string line, ReadLine());
    absl::StatusOr<Reply> reply = ParseReply(line);
    if (!reply.ok()) {
      Close();
      return absl::InternalError(
          absl::StrCat("cvold sent a malformed reply: ", reply.status().message()));
    }
    if (reply->kind == Reply::kError &&
        (reply->id == request.id || reply->id == kConnectionErrorId)) {
      return reply->error;
    }
    if (reply->id != request.id) {
      Close();
      return absl::InternalError(absl::StrCat("cvold answered request ", reply->id,
                                              " while request ", request.id, " was waiting"));
    }
    if (reply->kind == Reply::kOk) return std::move(reply->body);
    if (on_interim) on_interim(*reply);
  }
}

}  // namespace cvol::control
