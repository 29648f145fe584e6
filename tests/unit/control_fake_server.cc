#include "control_fake_server.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cvol::control::testing {
namespace {

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away; the test will notice
    done += static_cast<size_t>(n);
  }
}

}  // namespace

FakeServer::FakeServer() {
  char tmpl[] = "/tmp/cvol-ctl-test.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  socket_path_ = dir_ + "/cvold.sock";
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 8) != 0 || ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error("cannot listen on " + socket_path_);
  }
  thread_ = std::thread([this] { Serve(); });
}

FakeServer::~FakeServer() {
  char byte = 0;
  (void)!::write(wake_pipe_[1], &byte, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  ::unlink(socket_path_.c_str());
  ::rmdir(dir_.c_str());
}

void FakeServer::RespondOk(const std::string& command, nlohmann::json result) {
  Respond(command, [result = std::move(result)](const Request& r) {
    return std::vector<std::string>{EncodeOk(r.id, result)};
  });
}

void FakeServer::RespondError(const std::string& command, absl::Status error) {
  Respond(command, [error = std::move(error)](const Request& r) {
    return std::vector<std::string>{EncodeError(r.id, error)};
  });
}

void FakeServer::Respond(const std::string& command, Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_[command] = std::move(handler);
}

void FakeServer::SetGreeting(std::string line) {
  std::lock_guard<std::mutex> lock(mu_);
  greeting_ = std::move(line);
}

std::vector<Request> FakeServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<std::string> FakeServer::bad_lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bad_lines_;
}

int FakeServer::connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

std::vector<std::string> FakeServer::Answer(const Request& request) {
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    auto it = handlers_.find(request.command);
    if (it != handlers_.end()) handler = it->second;
  }
  if (!handler) {
    return {EncodeError(request.id, absl::UnimplementedError(absl::StrCat(
                                        "fake cvold: no reply for ", request.command)))};
  }
  return handler(request);
}

void FakeServer::Serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    bool keep_going = ServeConnection(fd);
    ::close(fd);
    if (!keep_going) return;
  }
}

bool FakeServer::ServeConnection(int fd) {
  std::string greeting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++connections_;
    greeting = greeting_;
  }
  if (!greeting.empty()) WriteAll(fd, greeting);
  std::string buffer;
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return true;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      absl::StatusOr<Request> request = ParseRequest(line);
      std::vector<std::string> replies;
      if (request.ok()) {
        replies = Answer(*request);
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        bad_lines_.push_back(line);
        replies = {EncodeError(PeekRequestId(line).value_or(0), request.status())};
      }
      for (const std::string& reply : replies) {
        if (reply == kClose) return true;
        WriteAll(fd, reply);
      }
    }
  }
}

}  // namespace cvol::control::testing
