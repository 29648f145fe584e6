#include "cvol/control/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "control_fake_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_util.h"

namespace cvol::control {
namespace {

using ::cvol::control::testing::FakeServer;
using ::cvol::testing::ErrorOf;
using ::nlohmann::json;
using ::testing::HasSubstr;

TEST(ControlClient, NoSocketIsUnavailableWithAHint) {
  absl::StatusOr<Client> client = Client::Connect("/nonexistent/cvold.sock");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorOf(client),
            "cvold is not running (no socket at /nonexistent/cvold.sock); start it with: "
            "systemctl start cvold");
}

TEST(ControlClient, StaleSocketIsUnavailable) {
  // A socket file nobody listens on: bind without listen.
  char dir[] = "/tmp/cvol-ctl-stale.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string stale = std::string(dir) + "/s.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  stale.copy(addr.sun_path, stale.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  absl::StatusOr<Client> client = Client::Connect(stale);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(ErrorOf(client), HasSubstr("cvold is not running"));
  ::close(fd);
  ::unlink(stale.c_str());
  ::rmdir(dir);
}

TEST(ControlClient, PathTooLong) {
  EXPECT_EQ(Client::Connect(std::string(200, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Client::Connect("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ControlClient, CallReturnsResultAndNumbersRequests) {
  FakeServer server;
  server.RespondOk("pool.list", {{"pools", json::array()}});
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->Call("pool.list", json::object()).value(), json({{"pools", json::array()}}));
  EXPECT_EQ(client->Call("pool.list", json()).value()["pools"], json::array());
  std::vector<Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].id, 1u);
  EXPECT_EQ(requests[1].id, 2u);
  EXPECT_EQ(requests[1].args, json::object());
  EXPECT_EQ(server.connections(), 1);
}

TEST(ControlClient, ErrorReplyIsTheStatus) {
  FakeServer server;
  server.RespondError("pool.show", absl::NotFoundError("pool 'x' does not exist"));
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok());
  absl::StatusOr<json> result = client->Call("pool.show", {{"pool", "x"}});
  EXPECT_EQ(result.status(), absl::NotFoundError("pool 'x' does not exist"));
  // The connection is still good after an error reply.
  EXPECT_EQ(client->Call("nope", {}).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ControlClient, InterimRepliesGoToTheCallback) {
  FakeServer server;
  server.Respond("volume.move", [](const Request& r) {
    return std::vector<std::string>{EncodeProgress(r.id, {{"n", 1}}),
                                    EncodeEvent(r.id, {{"n", 2}}),
                                    EncodeProgress(r.id, {{"n", 3}}), EncodeOk(r.id, {{"n", 4}})};
  });
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok());
  std::vector<int> seen;
  absl::StatusOr<json> result = client->Call("volume.move", {}, [&](const Reply& reply) {
    seen.push_back(reply.body["n"].get<int>() * (reply.kind == Reply::kEvent ? -1 : 1));
  });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)["n"], 4);
  EXPECT_EQ(seen, (std::vector<int>{1, -2, 3}));
  // Without a callback they are skipped.
  EXPECT_TRUE(client->Call("volume.move", {}).ok());
}

TEST(ControlClient, ConnectionErrorWithIdZeroEndsTheCall) {
  FakeServer server;
  server.SetGreeting(EncodeError(0, absl::PermissionDeniedError("cvold answers root only")));
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->Call("status", {}).status(),
            absl::PermissionDeniedError("cvold answers root only"));
}

TEST(ControlClient, ServerClosingIsUnavailable) {
  FakeServer server;
  server.Respond("status", [](const Request& r) {
    return std::vector<std::string>{EncodeProgress(r.id, {}), FakeServer::kClose};
  });
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok());
  absl::StatusOr<json> result = client->Call("status", {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(ErrorOf(result), HasSubstr("cvold closed the connection"));
  EXPECT_EQ(client->Call("status", {}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ControlClient, MalformedOrMismatchedReplyIsInternal) {
  FakeServer server;
  server.Respond("junk", [](const Request&) { return std::vector<std::string>{"hello\n"}; });
  server.Respond("other", [](const Request& r) {
    return std::vector<std::string>{EncodeOk(r.id + 100, {})};
  });
  {
    absl::StatusOr<Client> client = Client::Connect(server.socket_path());
    ASSERT_TRUE(client.ok());
    absl::StatusOr<json> result = client->Call("junk", {});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(ErrorOf(result), HasSubstr("malformed reply"));
  }
  {
    absl::StatusOr<Client> client = Client::Connect(server.socket_path());
    ASSERT_TRUE(client.ok());
    absl::StatusOr<json> result = client->Call("other", {});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(ErrorOf(result), HasSubstr("answered request 101 while request 1"));
  }
}

TEST(ControlClient, ReplyOverTheLimitIsInternal) {
  FakeServer server;
  server.Respond("big", [](const Request&) {
    return std::vector<std::string>{std::string(kMaxLineBytes + 10, 'x') + "\n"};
  });
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok());
  absl::StatusOr<json> result = client->Call("big", {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(ErrorOf(result), HasSubstr("over 1048576 bytes"));
}

TEST(ControlClient, LargeReplyAtTheLimitArrives) {
  FakeServer server;
  std::string big(kMaxLineBytes - 100, 'y');
  server.RespondOk("big", {{"s", big}});
  absl::StatusOr<Client> client = Client::Connect(server.socket_path());
  ASSERT_TRUE(client.ok());
  absl::StatusOr<json> result = client->Call("big", {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)["s"].get<std::string>().size(), big.size());
}

TEST(ControlClient, ReadTimeoutIsDeadlineExceeded) {
  FakeServer server;
  server.Respond("slow", [](const Request&) { return std::vector<std::string>{}; });
  ClientOptions options;
  options.read_timeout = absl::Milliseconds(100);
  absl::StatusOr<Client> client = Client::Connect(server.socket_path(), options);
  ASSERT_TRUE(client.ok());
  absl::Time start = absl::Now();
  absl::StatusOr<json> result = client->Call("slow", {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(ErrorOf(result), HasSubstr("no reply from cvold within 0.1s"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
}

TEST(ControlClient, MovedClientKeepsWorking) {
  FakeServer server;
  server.RespondOk("status", {{"ok", true}});
  absl::StatusOr<Client> connected = Client::Connect(server.socket_path());
  ASSERT_TRUE(connected.ok());
  Client client = std::move(*connected);
  Client other = std::move(client);
  EXPECT_TRUE(other.Call("status", {}).ok());
  EXPECT_EQ(other.socket_path(), server.socket_path());
}

}  // namespace
}  // namespace cvol::control
