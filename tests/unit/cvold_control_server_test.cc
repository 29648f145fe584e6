// The control socket survives running out of descriptors (issue 17):
// while accept fails with EMFILE the loop retries with a backoff, and a
// request that waited meanwhile is answered as soon as descriptors free up.
//
// The descriptor limit is lowered in a child process (a gtest death test
// in "threadsafe" style re-runs this binary for it), so the other tests
// keep theirs.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "control_server.h"
#include "cvol/control/protocol.h"
#include "cvol/dm_client.h"
#include "cvol/status_macros.h"
#include "cvol/store/mem_kv_store.h"
#include "event_hub.h"
#include "gtest/gtest.h"
#include "log.h"
#include "service.h"

namespace cvol::daemon {
namespace {

// A control-socket client made of system calls only, so that it works
// while this process has no descriptor to spare: the socket is made first,
// connected and used later.
class RawClient {
 public:
  RawClient() : fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {}
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }

  // Connects and sends a "status" request. The connection waits in the
  // listen backlog until the server accepts it.
  absl::Status Send(const std::string& path) {
    if (fd_ < 0) return absl::InternalError("no socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::InternalError(absl::StrCat("connect: ", std::strerror(errno)));
    }
    control::Request request;
    request.id = 7;
    request.command = "status";
    const std::string line = control::EncodeRequest(request) + "\n";
    if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return absl::InternalError(absl::StrCat("write: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  // The reply to the request, within `limit`.
  absl::StatusOr<control::Reply> Reply(absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    std::string input;
    while (input.find('\n') == std::string::npos) {
      const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left_ms <= 0) return absl::DeadlineExceededError("no reply");
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return absl::UnavailableError("closed without a reply");
      input.append(buf, static_cast<size_t>(n));
    }
    return control::ParseReply(input.substr(0, input.find('\n')));
  }

 private:
  int fd_;
};

// The daemon's log lines, for the test to wait on.
class LogCapture {
 public:
  LogCapture() {
    SetLogSink([this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { SetLogSink(nullptr); }

  size_t Count(const std::string& part) {
    absl::MutexLock lock(&mu_);
    size_t n = 0;
    for (const std::string& line : lines_) n += absl::StrContains(line, part) ? 1 : 0;
    return n;
  }

  bool WaitFor(const std::string& part, size_t count, absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    while (Count(part) < count) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

absl::Status ExpectStatusReply(RawClient& client, absl::Duration limit) {
  ASSIGN_OR_RETURN(control::Reply reply, client.Reply(limit));
  if (reply.kind != control::Reply::kOk || reply.id != 7) {
    return absl::InternalError("not the status reply");
  }
  return absl::OkStatus();
}

// A daemon's control side over the in-memory store, served on its own
// thread as cvold serves it.
class ControlSide {
 public:
  explicit ControlSide(const std::string& path)
      : service_(ServiceOptions{}, kv_, "/cvol/", dm_, events_),
        server_(io_, service_, events_, getuid()),
        path_(path) {}
  ~ControlSide() {
    server_.Close();
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Start() {
    RETURN_IF_ERROR(server_.Listen(path_));
    thread_ = std::thread([this] { io_.run(); });
    return absl::OkStatus();
  }

 private:
  store::MemKvStore kv_;
  DmClient dm_;
  EventHub events_;
  Service service_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      boost::asio::make_work_guard(io_)};
  ControlServer server_;
  const std::string path_;
  std::thread thread_;
};

std::string SocketPath() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/cvold-control-", getpid(), ".sock");
}

// The scenario, in the child. An error says which step failed.
absl::Status AnswersAgainOnceDescriptorsFreeUp() {
  LogCapture log;
  ControlSide daemon(SocketPath());
  RETURN_IF_ERROR(daemon.Start());
  RawClient before;
  RETURN_IF_ERROR(before.Send(SocketPath()));
  if (absl::Status s = ExpectStatusReply(before, absl::Seconds(5)); !s.ok()) {
    return absl::InternalError(absl::StrCat("before: ", s.message()));
  }

  // A limit low enough to fill, then every descriptor number below it used.
  RawClient waiting;  // made while a descriptor is still free
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = 128;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::InternalError("setrlimit");
  std::vector<int> filler;
  filler.reserve(128);
  for (;;) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != EMFILE) return absl::InternalError(absl::StrCat("open: ", strerror(errno)));
      break;
    }
    filler.push_back(fd);
  }

  RETURN_IF_ERROR(waiting.Send(SocketPath()));
  // Accept fails, is logged, and keeps being retried: the second line
  // comes a second later, with the count of the retries in between.
  if (!log.WaitFor("control socket: accept: Too many open files", 2, absl::Seconds(3))) {
    return absl::InternalError("accept did not fail with EMFILE twice");
  }
  if (log.Count("more like it held back") == 0) {
    return absl::InternalError("the retries in between were not counted");
  }
  if (waiting.Reply(absl::Milliseconds(1)).ok()) {
    return absl::InternalError("answered without a descriptor?");
  }

  for (int fd : filler) close(fd);
  // The next retry (at most a second away) accepts the waiting request.
  if (absl::Status s = ExpectStatusReply(waiting, absl::Seconds(3)); !s.ok()) {
    return absl::InternalError(absl::StrCat("after: ", s.message()));
  }
  if (!log.WaitFor("control socket: accepting again after", 1, absl::Seconds(1))) {
    return absl::InternalError("recovery not logged");
  }
  RawClient later;
  RETURN_IF_ERROR(later.Send(SocketPath()));
  if (absl::Status s = ExpectStatusReply(later, absl::Seconds(5)); !s.ok()) {
    return absl::InternalError(absl::StrCat("later: ", s.message()));
  }
  return absl::OkStatus();
}

TEST(ControlServerTest, AnswersAgainOnceDescriptorsFreeUpAfterEmfile) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const absl::Status s = AnswersAgainOnceDescriptorsFreeUp();
        if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
        std::_Exit(s.ok() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// The ordinary case, and Close() as the one way the accept loop ends: the
// daemon's thread stops, and the socket file is gone.
TEST(ControlServerTest, AnswersUntilClosed) {
  {
    ControlSide daemon(SocketPath());
    ASSERT_TRUE(daemon.Start().ok());
    RawClient client;
    ASSERT_TRUE(client.Send(SocketPath()).ok());
    EXPECT_TRUE(ExpectStatusReply(client, absl::Seconds(5)).ok());
  }
  RawClient after;
  EXPECT_FALSE(after.Send(SocketPath()).ok());
}

}  // namespace
}  // namespace cvol::daemon
