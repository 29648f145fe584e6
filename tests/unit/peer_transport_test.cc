// PeerServer and PeerClient over real sockets on the loopback: calls,
// handler errors, deadlines, authentication failures (certificates of
// another CA, another host, a sender the certificate does not name), a
// server that is down, concurrency, slow handlers, clock skew and stale
// cached connections.
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "cvol/peer/peer_client.h"
#include "cvol/peer/peer_server.h"
#include "cvol/peer/peer_tls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_pki.h"

namespace cvol::peer {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

constexpr char kSecret[] = "transport-test-secret-0123456789";
constexpr char kServerHost[] = "server-host";
constexpr char kClientHost[] = "test-host";

cvol::testing::TestPki& Pki() { return cvol::testing::TestPki::Shared(); }
const PeerTlsFiles& ServerTls() { return Pki().Host(kServerHost); }
const PeerTlsFiles& ClientTls() { return Pki().Host(kClientHost); }

// Collects what the server logs and which requests its handler saw.
class Recorder {
 public:
  void Log(std::string line) {
    absl::MutexLock lock(&mu_);
    logs_.push_back(std::move(line));
  }
  void Saw(const PeerRequest& request) {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
  }
  std::vector<std::string> logs() {
    absl::MutexLock lock(&mu_);
    return logs_;
  }
  std::vector<PeerRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // Waits up to 5 s: the server may log after the client has given up (a
  // client sees a failed TLS handshake as soon as the alert arrives).
  bool Logged(const std::string& part) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    do {
      for (const std::string& line : logs()) {
        if (line.find(part) != std::string::npos) return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    } while (absl::Now() < deadline);
    return false;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> logs_;
  std::vector<PeerRequest> requests_;
};

PeerServerOptions SecretAndTls() {
  PeerServerOptions options;
  options.secret = kSecret;
  options.tls = ServerTls();
  return options;
}

class PeerTransportTest : public ::testing::Test {
 protected:
  // The handler: "echo" answers its body, "fail" an ABORTED status, "slow"
  // sleeps body["ms"] milliseconds, "block" waits for release_, "throw"
  // throws.
  PeerReply Handle(const PeerRequest& request) {
    recorder_.Saw(request);
    if (request.type == "fail") return PeerReply{0, absl::AbortedError("stale epoch 3 (current 4)"), nullptr};
    if (request.type == "slow") absl::SleepFor(absl::Milliseconds(request.body.value("ms", 0)));
    if (request.type == "block") {
      blocked_.Notify();
      release_.WaitForNotificationWithTimeout(absl::Seconds(10));
    }
    if (request.type == "throw") throw std::runtime_error("boom");
    return PeerReply{0, absl::OkStatus(), request.body};
  }

  std::unique_ptr<PeerServer> StartServer(const std::string& address = "127.0.0.1:0",
                                          PeerServerOptions options = {}) {
    if (options.secret.empty()) options.secret = kSecret;
    if (options.tls.empty()) options.tls = ServerTls();
    options.log = [this](std::string line) { recorder_.Log(std::move(line)); };
    absl::StatusOr<std::unique_ptr<PeerServer>> server = PeerServer::Start(
        address, [this](const PeerRequest& r) { return Handle(r); }, std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  static std::unique_ptr<PeerClient> MakeClientPtr(const std::string& secret = kSecret,
                                                   const PeerTlsFiles& tls = ClientTls(),
                                                   const std::string& self = kClientHost) {
    PeerClientOptions options;
    options.secret = secret;
    options.tls = tls;
    options.self = self;
    return std::make_unique<PeerClient>(std::move(options));
  }

  static PeerRequest Request(const std::string& type, json body = nullptr, uint64_t epoch = 1) {
    PeerRequest r;
    r.type = type;
    r.epoch = epoch;
    r.body = std::move(body);
    return r;
  }

  Recorder recorder_;
  absl::Notification blocked_;
  absl::Notification release_;
};

TEST_F(PeerTransportTest, CallSucceedsAndHandlerSeesTheRequest) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->port(), 0);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  const int64_t before_ms = absl::ToUnixMillis(absl::Now());
  absl::StatusOr<PeerReply> reply =
      client.Call(kServerHost, server->address(), Request("echo", json{{"volume", "v1"}}, 17), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->status.ok()) << reply->status;
  EXPECT_EQ(reply->body, (json{{"volume", "v1"}}));

  const std::vector<PeerRequest> seen = recorder_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].type, "echo");
  EXPECT_EQ(seen[0].epoch, 17u);
  EXPECT_EQ(seen[0].from, "test-host");
  EXPECT_EQ(seen[0].id, reply->id);
  EXPECT_GE(seen[0].sent_unix_ms, before_ms);
  EXPECT_LE(seen[0].sent_unix_ms, absl::ToUnixMillis(absl::Now()));
  EXPECT_EQ(seen[0].body, (json{{"volume", "v1"}}));
}

TEST_F(PeerTransportTest, ManyRequestsOnOneConnectionWithIncreasingIds) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  uint64_t last_id = 0;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<PeerReply> reply =
        client.Call(kServerHost, server->address(), Request("echo", i), absl::Seconds(5));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->body, json(i));
    EXPECT_GT(reply->id, last_id);
    last_id = reply->id;
  }
  EXPECT_TRUE(recorder_.logs().empty());
}

TEST_F(PeerTransportTest, HandlerErrorStatusArrivesIntact) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  absl::StatusOr<PeerReply> reply = client.Call(kServerHost, server->address(), Request("fail"), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, absl::AbortedError("stale epoch 3 (current 4)"));
}

TEST_F(PeerTransportTest, HandlerExceptionBecomesInternal) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  absl::StatusOr<PeerReply> reply = client.Call(kServerHost, server->address(), Request("throw"), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(reply->status.message()), HasSubstr("boom"));
}

TEST_F(PeerTransportTest, DeadlineExceededThenTheClientWorksAgain) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  const absl::Time start = absl::Now();
  absl::StatusOr<PeerReply> reply =
      client.Call(kServerHost, server->address(), Request("slow", json{{"ms", 1500}}), absl::Milliseconds(200));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded) << reply.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1400));  // not the handler's 1.5 s

  reply = client.Call(kServerHost, server->address(), Request("echo", "again"), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, json("again"));
}

TEST_F(PeerTransportTest, WrongSecretGetsNoAnswerAndNoHandler) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> intruder_owner = MakeClientPtr("not-the-cluster-secret-at-all");
  PeerClient& intruder = *intruder_owner;
  absl::StatusOr<PeerReply> reply =
      intruder.Call(kServerHost, server->address(), Request("echo"), absl::Seconds(2));
  // Its certificate is good, its frames' tags are not: closed unanswered.
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_THAT(std::string(reply.status().message()), HasSubstr("closed by the peer"));
  EXPECT_TRUE(recorder_.requests().empty());
  EXPECT_TRUE(recorder_.Logged("tag")) << ::testing::PrintToString(recorder_.logs());

  // The server still serves those who hold the secret.
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  EXPECT_TRUE(client.Call(kServerHost, server->address(), Request("echo"), absl::Seconds(5)).ok());
}

TEST_F(PeerTransportTest, ServerDownIsUnavailableQuickly) {
  std::string address;
  {
    std::unique_ptr<PeerServer> server = StartServer();
    ASSERT_NE(server, nullptr);
    address = server->address();
  }
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  const absl::Time start = absl::Now();
  absl::StatusOr<PeerReply> reply = client.Call(kServerHost, address, Request("echo"), absl::Seconds(10));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST_F(PeerTransportTest, StaleCachedConnectionIsReplaced) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string address = server->address();
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  ASSERT_TRUE(client.Call(kServerHost, address, Request("echo"), absl::Seconds(5)).ok());
  server->Stop();
  server = StartServer(address);  // a restarted daemon, same port
  ASSERT_NE(server, nullptr);
  absl::SleepFor(absl::Milliseconds(50));  // the old connection's FIN arrives
  absl::StatusOr<PeerReply> reply = client.Call(kServerHost, address, Request("echo", 2), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, json(2));
}

TEST_F(PeerTransportTest, EightConcurrentCallers) {
  PeerServerOptions options;
  options.worker_threads = 4;
  std::unique_ptr<PeerServer> server = StartServer("127.0.0.1:0", options);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  std::atomic<int> good{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const json body = {{"caller", t}, {"i", i}};
        absl::StatusOr<PeerReply> reply =
            client.Call(kServerHost, server->address(), Request("echo", body), absl::Seconds(10));
        if (reply.ok() && reply->status.ok() && reply->body == body) {
          ++good;
        } else {
          ADD_FAILURE() << "caller " << t << " call " << i << ": "
                        << (reply.ok() ? reply->status : reply.status());
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(good.load(), 8 * 25);
  EXPECT_EQ(recorder_.requests().size(), 8u * 25u);
}

TEST_F(PeerTransportTest, SlowHandlerDoesNotBlockAnotherConnection) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  absl::StatusOr<PeerReply> slow_reply;
  std::thread slow([&] {
    slow_reply = client.Call(kServerHost, server->address(), Request("block"), absl::Seconds(10));
  });
  ASSERT_TRUE(blocked_.WaitForNotificationWithTimeout(absl::Seconds(5)));
  // The blocked handler holds its worker for up to 10 s: an answer within
  // the deadline shows it held nothing else.
  absl::StatusOr<PeerReply> fast = client.Call(kServerHost, server->address(), Request("echo", 1), absl::Seconds(3));
  EXPECT_TRUE(fast.ok()) << fast.status();
  release_.Notify();
  slow.join();
  EXPECT_TRUE(slow_reply.ok()) << slow_reply.status();
}

TEST_F(PeerTransportTest, SkewedClockRefusedWithoutRunningTheHandler) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  for (const absl::Duration offset : {absl::Seconds(-120), absl::Seconds(90)}) {
    PeerRequest request = Request("echo");
    request.sent_unix_ms = absl::ToUnixMillis(absl::Now() + offset);
    absl::StatusOr<PeerReply> reply = client.Call(kServerHost, server->address(), request, absl::Seconds(5));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status.code(), absl::StatusCode::kFailedPrecondition) << reply->status;
    EXPECT_THAT(std::string(reply->status.message()), HasSubstr("replay"));
  }
  EXPECT_TRUE(recorder_.requests().empty());

  PeerRequest within = Request("echo");
  within.sent_unix_ms = absl::ToUnixMillis(absl::Now() - absl::Seconds(30));
  absl::StatusOr<PeerReply> reply = client.Call(kServerHost, server->address(), within, absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->status.ok()) << reply->status;
}

TEST_F(PeerTransportTest, Ipv6Loopback) {
  std::unique_ptr<PeerServer> server = StartServer("[::1]:0");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->address(), absl::StrCat("[::1]:", server->port()));
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  absl::StatusOr<PeerReply> reply = client.Call(kServerHost, server->address(), Request("echo", 6), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, json(6));
}

TEST_F(PeerTransportTest, BadAddressesRefused) {
  EXPECT_EQ(PeerServer::Start("localhost:0", [](const PeerRequest&) { return PeerReply{}; },
                              SecretAndTls())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PeerServer::Start("127.0.0.1:0", [](const PeerRequest&) { return PeerReply{}; },
                              PeerServerOptions{})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  EXPECT_EQ(client.Call(kServerHost, "nowhere", Request("echo"), absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PeerTransportTest, AddressInUseIsUnavailable) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<PeerServer>> second = PeerServer::Start(
      server->address(), [](const PeerRequest&) { return PeerReply{}; }, SecretAndTls());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

// A blocking TCP connection for sending hand-made bytes, in the clear or
// over TLS with a client certificate.
class RawConnection {
 public:
  enum class Tls { kNo, kYes };
  explicit RawConnection(uint16_t port, Tls tls = Tls::kNo) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connected_ && tls == Tls::kYes) {
      absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> context =
          MakePeerTlsContext(ClientTls(), TlsRole::kClient);
      connected_ = context.ok();
      if (!connected_) return;
      context_ = *std::move(context);
      ssl_ = SSL_new(context_->native_handle());
      connected_ = ssl_ != nullptr && SSL_set_fd(ssl_, fd_) == 1 && SSL_connect(ssl_) == 1;
    }
  }
  ~RawConnection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void Send(const std::string& bytes) {
    const ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                                      : write(fd_, bytes.data(), bytes.size());
    ASSERT_EQ(n, static_cast<ssize_t>(bytes.size()));
  }
  // Everything until the peer closes or 5 s pass.
  std::string ReadUntilClosedOrFrame(FrameDecoder* decoder, std::optional<std::string>* frame) {
    std::string all;
    char buf[4096];
    for (;;) {
      const ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof(buf)) : read(fd_, buf, sizeof(buf));
      if (n <= 0) return all;
      all.append(buf, static_cast<size_t>(n));
      if (decoder != nullptr) {
        decoder->Feed(std::string_view(buf, static_cast<size_t>(n)));
        absl::StatusOr<std::optional<std::string>> next = decoder->Next();
        if (next.ok() && next->has_value()) {
          *frame = **next;
          return all;
        }
      }
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::unique_ptr<boost::asio::ssl::context> context_;
  SSL* ssl_ = nullptr;
};

TEST_F(PeerTransportTest, GarbageIsLoggedAndClosedUnanswered) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  // Closed; at most a TLS alert was sent.
  EXPECT_THAT(raw.ReadUntilClosedOrFrame(nullptr, nullptr), Not(HasSubstr("HTTP")));
  EXPECT_TRUE(recorder_.Logged("TLS handshake")) << ::testing::PrintToString(recorder_.logs());
  EXPECT_TRUE(recorder_.requests().empty());
}

// The frame's tag is right, but the connection is not TLS: refused. A
// captured frame cannot be replayed in the clear.
TEST_F(PeerTransportTest, PlainTcpFrameWithTheSecretIsRefused) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->port());
  ASSERT_TRUE(raw.connected());
  PeerRequest request = Request("echo");  // one the server would answer
  request.id = 1;
  request.sent_unix_ms = absl::ToUnixMillis(absl::Now());
  absl::StatusOr<std::string> frame = EncodeFrame(kSecret, EncodeRequest(request));
  ASSERT_TRUE(frame.ok());
  raw.Send(*frame);
  FrameDecoder decoder(kSecret);
  std::optional<std::string> body;
  raw.ReadUntilClosedOrFrame(&decoder, &body);
  EXPECT_FALSE(body.has_value());
  EXPECT_TRUE(recorder_.Logged("TLS handshake")) << ::testing::PrintToString(recorder_.logs());
  EXPECT_TRUE(recorder_.requests().empty());
}

TEST_F(PeerTransportTest, MalformedAuthenticatedRequestIsAnsweredWithAnError) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->port(), RawConnection::Tls::kYes);
  ASSERT_TRUE(raw.connected());
  absl::StatusOr<std::string> frame = EncodeFrame(kSecret, R"({"kind":"request","id":12})");
  ASSERT_TRUE(frame.ok());
  raw.Send(*frame);
  FrameDecoder decoder(kSecret);
  std::optional<std::string> body;
  raw.ReadUntilClosedOrFrame(&decoder, &body);
  ASSERT_TRUE(body.has_value());
  absl::StatusOr<PeerReply> reply = ParseReply(*body);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->id, 12u);
  EXPECT_EQ(reply->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reply->status.message()), HasSubstr("'type'"));
  EXPECT_TRUE(recorder_.requests().empty());
}

TEST_F(PeerTransportTest, StopWhileAHandlerRunsDropsItsReply) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client_owner = MakeClientPtr();
  PeerClient& client = *client_owner;
  absl::StatusOr<PeerReply> reply;
  std::thread caller([&] {
    reply = client.Call(kServerHost, server->address(), Request("slow", json{{"ms", 300}}), absl::Seconds(5));
  });
  absl::SleepFor(absl::Milliseconds(100));
  server->Stop();
  caller.join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  server->Stop();  // idempotent
}

// --- Identity: who a connection is comes from its certificate ------------

// Host B (a good certificate of the cluster) sends a request in the name of
// host A, e.g. a controller step as the Primary: refused before the handler.
TEST_F(PeerTransportTest, ASenderTheCertificateDoesNotNameIsRefused) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client = MakeClientPtr();
  PeerRequest request = Request("echo");
  request.from = "the-primary";
  absl::StatusOr<PeerReply> reply = client->Call(kServerHost, server->address(), request,
                                                 absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status.code(), absl::StatusCode::kPermissionDenied) << reply->status;
  EXPECT_THAT(std::string(reply->status.message()), HasSubstr("test-host"));
  EXPECT_TRUE(recorder_.requests().empty());
  EXPECT_TRUE(recorder_.Logged("names 'the-primary' as its sender"))
      << ::testing::PrintToString(recorder_.logs());
  // Its own name is fine, on the same cached connection.
  reply = client->Call(kServerHost, server->address(), Request("echo", 7), absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->status.ok()) << reply->status;
  ASSERT_EQ(recorder_.requests().size(), 1u);
  EXPECT_EQ(recorder_.requests()[0].from, kClientHost);
}

TEST_F(PeerTransportTest, ACertificateOfAnotherCaIsRefused) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  cvol::testing::TestPki other("another-ca");
  // The same host name, signed by a CA the cluster does not trust.
  std::unique_ptr<PeerClient> intruder = MakeClientPtr(kSecret, other.Issue(kClientHost));
  absl::StatusOr<PeerReply> reply =
      intruder->Call(kServerHost, server->address(), Request("echo"), absl::Seconds(5));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_TRUE(recorder_.Logged("TLS handshake")) << ::testing::PrintToString(recorder_.logs());
  EXPECT_TRUE(recorder_.requests().empty());
}

// The client names the host it wants; a server with another host's
// certificate (a redirected address) gets nothing.
TEST_F(PeerTransportTest, TheClientRefusesAServerThatIsNotTheHostItNamed) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client = MakeClientPtr();
  absl::StatusOr<PeerReply> reply =
      client->Call("other-host", server->address(), Request("echo"), absl::Seconds(5));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_THAT(std::string(reply.status().message()), HasSubstr("other-host"));
  EXPECT_TRUE(recorder_.requests().empty());
}

// A certificate good only for servers cannot act as a client.
TEST_F(PeerTransportTest, AServerOnlyCertificateCannotCall) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client =
      MakeClientPtr(kSecret, Pki().Issue("server-only", "", "serverAuth"), "server-only");
  absl::StatusOr<PeerReply> reply =
      client->Call(kServerHost, server->address(), Request("echo"), absl::Seconds(5));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_TRUE(recorder_.requests().empty());
}

TEST_F(PeerTransportTest, AClientWithoutACertificateIsRefused) {
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  // TLS 1.3 from a context with the CA but no certificate of its own.
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
  ASSERT_EQ(SSL_CTX_load_verify_locations(context.native_handle(), ServerTls().ca_file.c_str(),
                                          nullptr),
            1);
  RawConnection raw(server->port());
  ASSERT_TRUE(raw.connected());
  EXPECT_TRUE(recorder_.requests().empty());
  SSL* ssl = SSL_new(context.native_handle());
  ASSERT_NE(ssl, nullptr);
  ASSERT_EQ(SSL_set_fd(ssl, raw.fd()), 1);
  // The handshake may complete on the client's side (TLS 1.3 sends the
  // client's certificate last); the first read then gets the alert.
  const bool handshake = SSL_connect(ssl) == 1;
  char byte;
  const bool read = handshake && SSL_read(ssl, &byte, 1) > 0;
  SSL_free(ssl);
  EXPECT_FALSE(read);
  EXPECT_TRUE(recorder_.Logged("TLS handshake")) << ::testing::PrintToString(recorder_.logs());
}

// A DNS name is a host identity only in a host certificate (OU=cvol-<host>):
// an etcd member's certificate of the same CA named like a host, or a
// wildcard, answers for nobody, on either end.
TEST_F(PeerTransportTest, OnlyHostCertificatesWithExactNamesAreIdentities) {
  const PeerTlsFiles member = Pki().Issue("member-h1", "DNS:h1", "serverAuth,clientAuth", "/CN=h1");
  const PeerTlsFiles wildcard =
      Pki().Issue("wild", "DNS:*.example,DNS:h2.example", "serverAuth,clientAuth",
                  "/O=cvol/OU=cvol-*.example");
  const PeerTlsFiles upper = Pki().Issue("H3");
  EXPECT_TRUE(CertificateFileHosts(member.cert_file).empty());
  EXPECT_TRUE(CertificateFileHosts(wildcard.cert_file).empty());
  EXPECT_EQ(CertificateFileHosts(upper.cert_file), std::vector<std::string>{"H3"});

  // As a server: a client naming h1 / h2.example / h3 gets no answer.
  for (const auto& [files, name] : {std::pair{member, std::string("h1")},
                                    std::pair{wildcard, std::string("h2.example")},
                                    std::pair{upper, std::string("h3")}}) {
    PeerServerOptions options = SecretAndTls();
    options.tls = files;
    std::unique_ptr<PeerServer> server = StartServer("127.0.0.1:0", options);
    ASSERT_NE(server, nullptr);
    std::unique_ptr<PeerClient> client = MakeClientPtr();
    absl::StatusOr<PeerReply> reply =
        client->Call(name, server->address(), Request("echo"), absl::Seconds(5));
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << name << reply.status();
    EXPECT_TRUE(recorder_.requests().empty()) << name;
  }
  // As a client: the member certificate claiming to be h1 is closed on.
  std::unique_ptr<PeerServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<PeerClient> client = MakeClientPtr(kSecret, member, "h1");
  absl::StatusOr<PeerReply> reply =
      client->Call(kServerHost, server->address(), Request("echo"), absl::Seconds(5));
  EXPECT_TRUE(!reply.ok() || !reply->status.ok());
  EXPECT_TRUE(recorder_.requests().empty());
}

TEST_F(PeerTransportTest, MissingTlsFilesAreRefused) {
  PeerServerOptions options = SecretAndTls();
  options.tls.key_file.clear();
  EXPECT_EQ(PeerServer::Start("127.0.0.1:0", [](const PeerRequest&) { return PeerReply{}; },
                              options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::unique_ptr<PeerClient> client = MakeClientPtr(kSecret, PeerTlsFiles{});
  EXPECT_EQ(client->Call(kServerHost, "127.0.0.1:1", Request("echo"), absl::Seconds(1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PeerTlsTest, CheckOwnCertificate) {
  const PeerTlsFiles mine = Pki().Issue("h7");
  EXPECT_TRUE(CheckOwnCertificate(mine, "h7").ok());
  EXPECT_EQ(CertificateFileHosts(mine.cert_file), std::vector<std::string>{"h7"});
  EXPECT_TRUE(CertificateFileHosts(mine.key_file).empty());
  EXPECT_TRUE(CertificateFileHosts("/nonexistent").empty());
  absl::Status wrong = CheckOwnCertificate(mine, "h8");
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("names h7"));

  cvol::testing::TestPki other("another-ca");
  PeerTlsFiles foreign = other.Issue("h7");
  foreign.ca_file = mine.ca_file;  // our CA, their certificate and key
  absl::Status untrusted = CheckOwnCertificate(foreign, "h7");
  EXPECT_EQ(untrusted.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(untrusted.message()), HasSubstr("does not verify"));

  PeerTlsFiles mismatched = mine;
  mismatched.key_file = foreign.key_file;
  EXPECT_EQ(CheckOwnCertificate(mismatched, "h7").code(), absl::StatusCode::kFailedPrecondition);

  // A key behind a symbolic link is not the file checked: refused.
  PeerTlsFiles linked = mine;
  linked.key_file = mine.key_file + ".link";
  ASSERT_EQ(symlink(mine.key_file.c_str(), linked.key_file.c_str()), 0);
  EXPECT_EQ(CheckOwnCertificate(linked, "h7").code(), absl::StatusCode::kFailedPrecondition);

  const PeerTlsFiles readable = Pki().Issue("h9");
  ASSERT_EQ(chmod(readable.key_file.c_str(), 0644), 0);
  absl::Status exposed = CheckOwnCertificate(readable, "h9");
  EXPECT_EQ(exposed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(exposed.message()), HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace cvol::peer
