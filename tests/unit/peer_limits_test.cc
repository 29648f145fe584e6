// The peer server under abuse (docs/peer-protocol.md, "Limits"): the
// handshake, idle and frame deadlines, the connection caps and their
// rate-limited log, and a flood of 2000 idle connections from one address
// during which a legitimate peer's calls still succeed and the server's
// descriptors stay bounded.
//
// Flood connections come from 127.0.0.2..127.0.0.9 (Linux's loopback
// answers all of 127/8), legitimate ones from 127.0.0.1, so that the
// per-address caps tell them apart as they would two hosts.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/peer/connection_limits.h"
#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "cvol/peer/peer_client.h"
#include "cvol/peer/peer_server.h"
#include "cvol/peer/peer_tls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_pki.h"

namespace cvol::peer {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kSecret[] = "limits-test-secret-0123456789abc";
constexpr char kServerHost[] = "server-host";
constexpr char kClientHost[] = "legit";

cvol::testing::TestPki& Pki() { return cvol::testing::TestPki::Shared(); }
const PeerTlsFiles& ServerTls() { return Pki().Host(kServerHost); }
const PeerTlsFiles& ClientTls() { return Pki().Host(kClientHost); }

// Polls `done` every 5 ms until it holds or `limit` passes.
template <typename Condition>
bool WaitFor(Condition done, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// A TCP connection from `source` (an address of 127/8) to 127.0.0.1:port;
// -1 if it could not be made. Blocking.
int ConnectFrom(const char* source, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True once the server has closed fd (end of file or reset); false if it
// is still open after `limit`. Whatever arrives before is discarded.
bool WaitClosed(int fd, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  for (;;) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms < 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
    char buf[512];
    if (recv(fd, buf, sizeof(buf), 0) <= 0) return true;
  }
}

// A TLS connection with a client certificate of the cluster, for sending
// hand-made bytes after the handshake.
class TlsConnection {
 public:
  TlsConnection(const char* source, uint16_t port) : fd_(ConnectFrom(source, port)) {
    absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> context =
        MakePeerTlsContext(ClientTls(), TlsRole::kClient);
    if (fd_ < 0 || !context.ok()) return;
    context_ = *std::move(context);
    ssl_ = SSL_new(context_->native_handle());
    handshaken_ = ssl_ != nullptr && SSL_set_fd(ssl_, fd_) == 1 && SSL_connect(ssl_) == 1;
  }
  ~TlsConnection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
  }
  bool handshaken() const { return handshaken_; }
  int fd() const { return fd_; }
  // One TLS record per call.
  bool Send(std::string_view bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }

 private:
  int fd_;
  std::unique_ptr<boost::asio::ssl::context> context_;
  SSL* ssl_ = nullptr;
  bool handshaken_ = false;
};

// Descriptors this process has open.
int OpenDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n - 3;  // ".", ".." and the directory's own
}

class PeerLimitsTest : public ::testing::Test {
 protected:
  // A raw write to a connection the server refused must fail, not kill.
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }

  std::unique_ptr<PeerServer> StartServer(PeerServerOptions options) {
    options.secret = kSecret;
    options.tls = ServerTls();
    options.log = [this](std::string line) {
      absl::MutexLock lock(&mu_);
      logs_.push_back(std::move(line));
    };
    absl::StatusOr<std::unique_ptr<PeerServer>> server = PeerServer::Start(
        "127.0.0.1:0", [](const PeerRequest& r) { return PeerReply{0, absl::OkStatus(), r.body}; },
        std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  std::vector<std::string> LogsWith(const std::string& part) {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> found;
    for (const std::string& line : logs_) {
      if (line.find(part) != std::string::npos) found.push_back(line);
    }
    return found;
  }

  static PeerClient MakeClient() {
    PeerClientOptions options;
    options.secret = kSecret;
    options.tls = ClientTls();
    options.self = kClientHost;
    return PeerClient(std::move(options));
  }

  // One echo call from 127.0.0.1, with the cluster's default peer deadline.
  static absl::Status Echo(PeerClient& client, const PeerServer& server) {
    PeerRequest request;
    request.type = "echo";
    request.body = "hello";
    absl::StatusOr<PeerReply> reply =
        client.Call(kServerHost, server.address(), request, absl::Seconds(5));
    if (!reply.ok()) return reply.status();
    return reply->status;
  }

  static std::string Frame(uint64_t id) {
    PeerRequest request;
    request.type = "echo";
    request.from = kClientHost;
    request.id = id;
    request.sent_unix_ms = absl::ToUnixMillis(absl::Now());
    absl::StatusOr<std::string> frame = EncodeFrame(kSecret, EncodeRequest(request));
    return frame.ok() ? *frame : "";
  }

  absl::Mutex mu_;
  std::vector<std::string> logs_ ABSL_GUARDED_BY(mu_);
};

TEST_F(PeerLimitsTest, SilentConnectionIsClosedAtTheHandshakeDeadline) {
  PeerServerOptions options;
  options.handshake_timeout = absl::Milliseconds(300);
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int fd = ConnectFrom("127.0.0.2", server->port());
  ASSERT_GE(fd, 0);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(WaitClosed(fd, absl::Seconds(3)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  close(fd);
  EXPECT_TRUE(WaitFor([&] { return !LogsWith("no TLS handshake within 300ms").empty(); }));
}

TEST_F(PeerLimitsTest, IdleConnectionIsClosedSilentlyAndTheClientReconnects) {
  PeerServerOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  TlsConnection idle("127.0.0.2", server->port());
  ASSERT_TRUE(idle.handshaken());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(WaitClosed(idle.fd(), absl::Seconds(3)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));

  // A client whose cached connection the server closed meanwhile notices
  // before sending, and dials again.
  PeerClient client = MakeClient();
  ASSERT_TRUE(Echo(client, *server).ok());
  absl::SleepFor(absl::Milliseconds(300));  // the cached connection idles out
  EXPECT_TRUE(Echo(client, *server).ok());
  EXPECT_THAT(LogsWith(""), IsEmpty());  // an idle close is normal: not logged
}

// A peer that trickles a frame a byte at a time keeps the connection busy
// with reads, but not past the frame deadline.
TEST_F(PeerLimitsTest, TrickledFrameIsCutAtTheFrameDeadline) {
  PeerServerOptions options;
  options.frame_timeout = absl::Milliseconds(400);
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  TlsConnection slow("127.0.0.2", server->port());
  ASSERT_TRUE(slow.handshaken());
  const std::string frame = Frame(1);
  const absl::Time start = absl::Now();
  bool closed = false;
  for (size_t i = 0; i < frame.size() - 1 && absl::Now() - start < absl::Seconds(3); ++i) {
    if (!slow.Send(frame.substr(i, 1))) break;
    if (WaitClosed(slow.fd(), absl::Milliseconds(20))) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(350));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(WaitFor([&] { return !LogsWith("took longer than 400ms").empty(); }));
}

// The same frame sent at once is answered: the deadline counts from its
// first byte, so it does not cut a frame that arrives in time.
TEST_F(PeerLimitsTest, FrameInOnePieceIsAnsweredUnderAShortFrameDeadline) {
  PeerServerOptions options;
  options.frame_timeout = absl::Milliseconds(400);
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  PeerClient client = MakeClient();
  for (int i = 0; i < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(250));  // more than half a frame deadline between calls
    EXPECT_TRUE(Echo(client, *server).ok());
  }
}

TEST_F(PeerLimitsTest, HandshakeCapPerAddressRefusesTheNextAndSparesOthers) {
  PeerServerOptions options;
  options.caps.handshakes_per_address = 2;
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int a = ConnectFrom("127.0.0.2", server->port());
  const int b = ConnectFrom("127.0.0.2", server->port());
  const int c = ConnectFrom("127.0.0.2", server->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(c, 0);
  EXPECT_TRUE(WaitClosed(c, absl::Seconds(2)));  // over the cap: closed at once
  EXPECT_FALSE(WaitClosed(a, absl::Milliseconds(100)));
  EXPECT_FALSE(WaitClosed(b, absl::Milliseconds(1)));
  // Another address is not affected.
  PeerClient client = MakeClient();
  EXPECT_TRUE(Echo(client, *server).ok());
  EXPECT_TRUE(WaitFor([&] {
    return !LogsWith("refused a connection from 127.0.0.2:").empty() &&
           !LogsWith("2 connections in the TLS handshake, the cap per address").empty();
  }));
  for (int fd : {a, b, c}) close(fd);
}

TEST_F(PeerLimitsTest, ConnectionCapPerAddressCountsEstablishedConnections) {
  PeerServerOptions options;
  options.caps.per_address = 2;
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  TlsConnection first("127.0.0.2", server->port());
  TlsConnection second("127.0.0.2", server->port());
  ASSERT_TRUE(first.handshaken());
  ASSERT_TRUE(second.handshaken());
  TlsConnection third("127.0.0.2", server->port());
  EXPECT_FALSE(third.handshaken());
  EXPECT_TRUE(WaitFor(
      [&] { return !LogsWith("127.0.0.2 holds 2 connections, the cap per address").empty(); }));
  PeerClient client = MakeClient();
  EXPECT_TRUE(Echo(client, *server).ok());
}

TEST_F(PeerLimitsTest, TotalCapRefusesEveryAddressUntilAPlaceIsFree) {
  PeerServerOptions options;
  options.caps.total = 3;
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::vector<int> held;
  for (const char* source : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    held.push_back(ConnectFrom(source, server->port()));
    ASSERT_GE(held.back(), 0);
  }
  ASSERT_FALSE(WaitClosed(held[0], absl::Milliseconds(100)));  // all three admitted
  PeerClient client = MakeClient();
  EXPECT_EQ(Echo(client, *server).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(WaitFor([&] { return !LogsWith("3 connections open, the cap of all").empty(); }));

  close(held[0]);  // a place frees up once the server sees the close
  EXPECT_TRUE(WaitFor([&] { return Echo(client, *server).ok(); }));
  for (size_t i = 1; i < held.size(); ++i) close(held[i]);
}

// 50 refusals in a burst make one line, and a second line with the count
// of the others once the second has passed, not 50 lines.
TEST_F(PeerLimitsTest, RefusalsAreLoggedOnceASecondWithACount) {
  PeerServerOptions options;
  options.caps.handshakes_per_address = 1;
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int held = ConnectFrom("127.0.0.2", server->port());
  ASSERT_GE(held, 0);
  for (int i = 0; i < 50; ++i) {
    const int fd = ConnectFrom("127.0.0.2", server->port());
    ASSERT_GE(fd, 0);
    const bool refused = WaitClosed(fd, absl::Seconds(2));
    close(fd);
    ASSERT_TRUE(refused) << "connection " << i << " was not refused";
  }
  ASSERT_TRUE(WaitFor([&] { return !LogsWith("more held back").empty(); }, absl::Seconds(3)));
  const std::vector<std::string> lines = LogsWith("handshakes-per-address");
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("49 more held back"));
  EXPECT_EQ(LogsWith("refused").size(), 2u) << ::testing::PrintToString(LogsWith("refused"));
  close(held);
}

// The scenario: a flood of idle TCP connections from one address
// (a child process, as another host would be) while a legitimate peer
// makes calls. The server's descriptors stay near the handshake cap, this
// process can still open files under the 1024 descriptors systemd gives a
// service by default, every call succeeds within the peer deadline, and
// every flood connection is closed.
TEST_F(PeerLimitsTest, FloodOf2000IdleConnectionsLeavesTheServerUsable) {
  constexpr int kFlood = 2000;
  PeerServerOptions options;
  options.handshake_timeout = absl::Seconds(1);  // so the flood's held ones close soon
  std::unique_ptr<PeerServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);

  // Calls without the flood: a new connection (and handshake) each time.
  auto time_calls = [&](int n) {
    std::vector<absl::Duration> took;
    for (int i = 0; i < n; ++i) {
      PeerClient client = MakeClient();
      const absl::Time start = absl::Now();
      const absl::Status s = Echo(client, *server);
      took.push_back(absl::Now() - start);
      EXPECT_TRUE(s.ok()) << "call " << i << ": " << s;
    }
    std::sort(took.begin(), took.end());
    return took;
  };
  const std::vector<absl::Duration> quiet = time_calls(20);

  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit lowered = saved;
  lowered.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 1024);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const int before = OpenDescriptors();

  int report[2];
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
  const uint16_t port = server->port();
  const pid_t flooder = fork();
  ASSERT_GE(flooder, 0);
  if (flooder == 0) {
    // The child: no allocation, only system calls (other threads of the
    // parent may have held malloc's lock at fork).
    close(report[0]);
    rlimit raised{};
    getrlimit(RLIMIT_NOFILE, &raised);
    raised.rlim_cur = raised.rlim_max;
    setrlimit(RLIMIT_NOFILE, &raised);
    static int fds[kFlood];
    static pollfd polls[kFlood];
    int connected = 0;
    for (int i = 0; i < kFlood; ++i) {
      fds[i] = ConnectFrom("127.0.0.2", port);
      if (fds[i] >= 0) ++connected;
    }
    (void)!write(report[1], &connected, sizeof(connected));
    // Waits until the server has closed every one (or 10 s pass).
    int closed = 0;
    for (int round = 0; round < 1000 && closed < connected; ++round) {
      int n = 0;
      for (int i = 0; i < kFlood; ++i) {
        if (fds[i] >= 0) polls[n++] = pollfd{fds[i], POLLIN, 0};
      }
      if (poll(polls, static_cast<nfds_t>(n), 10) <= 0) continue;
      for (int i = 0; i < n; ++i) {
        if (polls[i].revents == 0) continue;
        char buf[64];
        if (recv(polls[i].fd, buf, sizeof(buf), 0) > 0) continue;
        for (int& fd : fds) {
          if (fd == polls[i].fd) fd = -1;
        }
        close(polls[i].fd);
        ++closed;
      }
    }
    (void)!write(report[1], &closed, sizeof(closed));
    _exit(0);
  }
  close(report[1]);

  // Calls while the flood connects and is held, until the child reports
  // that the server has closed all of it (or 10 s pass).
  int most = before;
  std::vector<absl::Duration> flooded;
  int counts[2] = {-1, -1};  // connected, closed
  size_t got = 0;
  const absl::Time flood_start = absl::Now();
  while (got < sizeof(counts) && absl::Now() - flood_start < absl::Seconds(10)) {
    for (const absl::Duration d : time_calls(1)) flooded.push_back(d);
    most = std::max(most, OpenDescriptors());
    const int file = open("/dev/null", O_RDONLY | O_CLOEXEC);  // as an etcd reconnect would
    EXPECT_GE(file, 0) << "descriptors exhausted";
    if (file >= 0) close(file);
    pollfd p{report[0], POLLIN, 0};
    if (poll(&p, 1, 0) == 1) {
      const ssize_t n = read(report[0], reinterpret_cast<char*>(counts) + got, sizeof(counts) - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
  }
  close(report[0]);
  const int connected = counts[0], closed = counts[1];
  int status = 0;
  waitpid(flooder, &status, 0);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_EQ(connected, kFlood);
  EXPECT_EQ(closed, connected);  // refused at once, or at the handshake deadline
  // The flood holds at most handshakes_per_address (64) of the server's
  // descriptors; the calls add a few.
  EXPECT_LE(most - before, 64 + 8);
  ASSERT_FALSE(flooded.empty());
  EXPECT_LT(flooded.back(), absl::Seconds(1));
  std::sort(flooded.begin(), flooded.end());
  std::printf("flood: %d connections, %d closed by the server; server descriptors at most %d "
              "over the %d before\n"
              "new-connection call latency without the flood: median %s, max %s (%zu calls)\n"
              "                             during the flood: median %s, max %s (%zu calls)\n",
              connected, closed, most - before, before,
              absl::FormatDuration(quiet[quiet.size() / 2]).c_str(),
              absl::FormatDuration(quiet.back()).c_str(), quiet.size(),
              absl::FormatDuration(flooded[flooded.size() / 2]).c_str(),
              absl::FormatDuration(flooded.back()).c_str(), flooded.size());
  EXPECT_FALSE(LogsWith("handshakes-per-address").empty());
}

TEST(ConnectionLimitsTest, SlotsCountUntilDestroyed) {
  ConnectionLimits limits(ConnectionCaps{3, 2, 1});
  ConnectionLimits::Admission a = limits.Admit("10.0.0.1");
  ASSERT_NE(a.slot, nullptr);
  // The handshake cap (1) is reached for 10.0.0.1, not for 10.0.0.2.
  EXPECT_EQ(limits.Admit("10.0.0.1").exceeded, ConnectionLimits::Cap::kHandshakesPerAddress);
  a.slot->HandshakeEnded();
  a.slot->HandshakeEnded();  // idempotent
  ConnectionLimits::Admission b = limits.Admit("10.0.0.1");
  ASSERT_NE(b.slot, nullptr);
  b.slot->HandshakeEnded();
  ConnectionLimits::Admission refused = limits.Admit("10.0.0.1");
  EXPECT_EQ(refused.slot, nullptr);
  EXPECT_EQ(refused.exceeded, ConnectionLimits::Cap::kPerAddress);
  EXPECT_THAT(refused.why, HasSubstr("10.0.0.1 holds 2 connections"));
  ConnectionLimits::Admission c = limits.Admit("10.0.0.2");
  ASSERT_NE(c.slot, nullptr);
  EXPECT_EQ(limits.Admit("10.0.0.3").exceeded, ConnectionLimits::Cap::kTotal);
  EXPECT_EQ(limits.total(), 3u);
  c.slot.reset();  // destroyed while still in its handshake
  a.slot.reset();
  EXPECT_EQ(limits.total(), 1u);
  EXPECT_NE(limits.Admit("10.0.0.3").slot, nullptr);  // and at once released again
  EXPECT_NE(limits.Admit("10.0.0.1").slot, nullptr);
}

TEST(PeerServerOptionsTest, ZeroLimitsAreRefused) {
  PeerServerOptions zero_timeout;
  zero_timeout.secret = kSecret;
  zero_timeout.tls = ServerTls();
  zero_timeout.idle_timeout = absl::ZeroDuration();
  auto handler = [](const PeerRequest&) { return PeerReply{}; };
  EXPECT_EQ(PeerServer::Start("127.0.0.1:0", handler, zero_timeout).status().code(),
            absl::StatusCode::kInvalidArgument);
  PeerServerOptions zero_cap;
  zero_cap.secret = kSecret;
  zero_cap.tls = ServerTls();
  zero_cap.caps.handshakes_per_address = 0;
  EXPECT_EQ(PeerServer::Start("127.0.0.1:0", handler, zero_cap).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cvol::peer
