// The peer transport's own cost, on the loopback: one request and its reply
// over mutual TLS on a cached connection, and with a new connection (TCP +
// TLS 1.3 handshake with certificates) each time. Prints medians and p99 in
// microseconds. The numbers behind keeping this transport rather than gRPC
// (docs/peer-protocol.md, "Why not gRPC").
// Usage: cvol_peer_bench [calls]   (default 2000; a tenth with new connections)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cvol/peer/peer_client.h"
#include "cvol/peer/peer_server.h"
#include "test_pki.h"

namespace {

using cvol::peer::PeerClient;
using cvol::peer::PeerClientOptions;
using cvol::peer::PeerReply;
using cvol::peer::PeerRequest;
using cvol::peer::PeerServer;
using cvol::peer::PeerServerOptions;

constexpr char kSecret[] = "peer-bench-secret-0123456789abcd";

void Report(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  const double p50 = us[us.size() / 2];
  const double p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  std::printf("%-28s n=%-5zu p50 %8.1f us   p99 %8.1f us\n", what, us.size(), p50, p99);
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (calls < 10) {
    std::fprintf(stderr, "usage: %s [calls >= 10]\n", argv[0]);
    return 2;
  }
  cvol::testing::TestPki pki;
  PeerServerOptions server_options;
  server_options.secret = kSecret;
  server_options.tls = pki.Issue("bench-server");
  server_options.log = [](std::string) {};
  auto server = PeerServer::Start(
      "127.0.0.1:0", [](const PeerRequest& r) { return PeerReply{0, {}, r.body}; },
      server_options);
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  PeerClientOptions client_options;
  client_options.secret = kSecret;
  client_options.tls = pki.Issue("bench-client");
  client_options.self = "bench-client";
  PeerClient client(client_options);
  PeerRequest request;
  request.type = "echo";
  request.epoch = 1;
  request.body = {{"change", "/cvol/moves/p/v/7#1700000000000000000"}, {"vext", 7}};

  auto timed = [&]() -> double {
    const absl::Time t0 = absl::Now();
    auto reply = client.Call("bench-server", (*server)->address(), request, absl::Seconds(5));
    if (!reply.ok() || !reply->status.ok()) {
      std::fprintf(stderr, "call failed\n");
      std::exit(1);
    }
    return absl::ToDoubleMicroseconds(absl::Now() - t0);
  };
  timed();  // warm up: the first connection
  std::vector<double> cached, fresh;
  for (int i = 0; i < calls; ++i) {
    cached.push_back(timed());
    if (i % 10 == 0) {
      client.CloseIdle();
      fresh.push_back(timed());
    }
  }
  Report("cached connection", cached);
  Report("new connection (handshake)", fresh);
  return 0;
}
