#include "cvol/peer/peer_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/error.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/write.hpp"
#include "cvol/peer/address.h"
#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "cvol/status_macros.h"
#include "cvol/peer/peer_tls.h"
#include "socket_options.h"

namespace cvol::peer {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Socket errors all mean the same to the caller: this host cannot be
// reached right now.
absl::Status SocketError(const error_code& ec, const char* doing) {
  // A TLS peer that closes without close_notify: stream_truncated.
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    return absl::UnavailableError(absl::StrCat(
        doing, ": connection closed by the peer (a peer closes without answering a frame it "
               "cannot authenticate: check that both hosts hold the same cluster secret and "
               "certificates of the same CA)"));
  }
  return absl::UnavailableError(absl::StrCat(doing, ": ", ec.message()));
}

absl::Status Annotate(const absl::Status& s, const std::string& context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

// One TLS connection with its own io_context, driven by the calling thread
// only while a Call uses it: run_for bounds every step by the deadline
// without a timer thread.
class PeerClient::Connection {
 public:
  Connection(const PeerClientOptions& options, asio::ssl::context& tls)
      : stream_(io_, tls), decoder_(options.secret, options.max_body_bytes) {}

  // Connects and completes the handshake, which proves that the other end
  // is host (and to it, who this end is).
  absl::Status Connect(const std::string& host, const tcp::endpoint& endpoint,
                       absl::Time deadline) {
    SSL* ssl = stream_.native_handle();
    // SSL_set1_host makes the certificate check fail unless a DNS
    // subjectAltName matches host, without wildcards or the subject's CN;
    // after the handshake the names are compared exactly, as the server
    // does (PeerCertificateHosts: case, OU=cvol-<host>).
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (SSL_set1_host(ssl, host.c_str()) != 1 ||
        SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad peer host name '", host, "'"));
    }
    absl::Status s = Await(deadline, "connecting", [&](auto done) {
      socket().async_connect(endpoint, [done](const error_code& ec) { done(ec, 0); });
    });
    if (!s.ok()) return s;
    TunePeerSocket(socket().native_handle());
    s = Await(deadline, "the TLS handshake", [&](auto done) {
      stream_.async_handshake(asio::ssl::stream_base::client,
                              [done](const error_code& ec) { done(ec, 0); });
    });
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat(
          s.message(), " (the peer's certificate must be of the cluster CA and name host '",
          host, "'; ", VerifyError(), ")"));
    }
    const std::vector<std::string> hosts = PeerCertificateHosts(ssl);
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
      error_code ignored;
      socket().close(ignored);
      return absl::UnavailableError(absl::StrCat(
          "the TLS handshake: the certificate that answered is not host '", host,
          "' as a cvol host certificate (OU=cvol-", host, "); it names ",
          DescribeHosts(hosts)));
    }
    return s;
  }

  // Sends one frame and returns the body of the frame that answers it.
  absl::StatusOr<std::string> Exchange(const std::string& frame, absl::Time deadline) {
    absl::Status s = Await(deadline, "sending the request", [&](auto done) {
      asio::async_write(stream_, asio::buffer(frame), done);
    });
    if (!s.ok()) return s;
    for (;;) {
      ASSIGN_OR_RETURN(std::optional<std::string> reply, decoder_.Next());
      if (reply.has_value()) return *std::move(reply);
      size_t n = 0;
      s = Await(deadline, "waiting for the reply", [&](auto done) {
        stream_.async_read_some(asio::buffer(input_), [done, &n](const error_code& ec, size_t k) {
          n = k;
          done(ec, k);
        });
      });
      if (!s.ok()) return s;
      decoder_.Feed(std::string_view(input_.data(), n));
    }
  }

  // Called when the connection goes into the cache.
  // A monotonic clock: a wall-clock step back must not make a connection
  // the server is about to close for idleness look fresh.
  void MarkIdle() { idle_since_ = std::chrono::steady_clock::now(); }

  // False if the peer has closed its end (or sent something unasked) since
  // the last call: such a cached connection would fail the next request
  // although a new one would succeed, e.g. after the peer restarted. False
  // too if it has been idle longer than max_idle_time: the server may be
  // closing it right now, and a request sent in that instant would be lost.
  bool Reusable(absl::Duration max_idle_time) {
    if (absl::FromChrono(std::chrono::steady_clock::now() - idle_since_) > max_idle_time) {
      return false;
    }
    if (decoder_.buffered() != 0 || !socket().is_open()) return false;
    if (SSL_pending(stream_.native_handle()) != 0) return false;
    pollfd p{};
    p.fd = socket().native_handle();
    p.events = POLLIN | POLLRDHUP;
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  // Starts one asynchronous operation with start(done) and runs this
  // connection's io_context until it completes or the deadline passes; in
  // the latter case the socket is closed (the connection is then useless).
  template <typename Start>
  absl::Status Await(absl::Time deadline, const char* doing, Start start) {
    std::optional<error_code> result;
    start([&result](const error_code& ec, size_t) { result = ec; });
    io_.restart();
    const absl::Duration left = deadline - absl::Now();
    if (left > absl::ZeroDuration()) {
      io_.run_for(absl::ToChronoNanoseconds(left));
    } else {
      io_.poll();
    }
    if (!result.has_value()) {
      error_code ignored;
      socket().close(ignored);
      // Lets the aborted operation complete, so nothing refers to result.
      io_.restart();
      io_.run();
      return absl::DeadlineExceededError(absl::StrCat("deadline passed while ", doing));
    }
    if (*result) return SocketError(*result, doing);
    return absl::OkStatus();
  }

  tcp::socket::lowest_layer_type& socket() { return stream_.lowest_layer(); }

  std::string VerifyError() {
    const long result = SSL_get_verify_result(stream_.native_handle());
    return result == X509_V_OK ? "the peer refused this host's certificate"
                               : X509_verify_cert_error_string(result);
  }

  asio::io_context io_{1};
  asio::ssl::stream<tcp::socket> stream_;
  FrameDecoder decoder_;
  std::array<char, 64 * 1024> input_;
  std::chrono::steady_clock::time_point idle_since_;
};

PeerClient::PeerClient(PeerClientOptions options) : options_(std::move(options)) {
  // Missing files are refused by Call.
  absl::StatusOr<std::unique_ptr<asio::ssl::context>> tls =
      MakePeerTlsContext(options_.tls, TlsRole::kClient);
  if (tls.ok()) {
    tls_ = *std::move(tls);
  } else {
    tls_error_ = tls.status();
  }
}

PeerClient::~PeerClient() = default;

void PeerClient::CloseIdle() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

std::unique_ptr<PeerClient::Connection> PeerClient::TakeIdle(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  std::unique_ptr<Connection> connection = std::move(it->second.back());
  it->second.pop_back();
  return connection;
}

void PeerClient::ReturnIdle(const std::string& key, std::unique_ptr<Connection> connection) {
  absl::MutexLock lock(&mu_);
  std::vector<std::unique_ptr<Connection>>& idle = idle_[key];
  if (idle.size() < options_.max_idle_per_address) {
    connection->MarkIdle();
    idle.push_back(std::move(connection));
  }
}

absl::StatusOr<PeerReply> PeerClient::Call(const std::string& host, const std::string& address,
                                           PeerRequest request, absl::Duration deadline) {
  const absl::Time deadline_at = absl::Now() + deadline;
  request.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  if (request.sent_unix_ms == 0) request.sent_unix_ms = absl::ToUnixMillis(absl::Now());
  if (request.from.empty()) request.from = options_.self;
  const std::string context =
      absl::StrCat("peer ", host, " at ", address, ", request '", request.type, "' #", request.id);
  const std::string key = absl::StrCat(host, "@", address);

  if (options_.secret.empty()) return absl::InvalidArgumentError("peer client: no secret");
  if (tls_ == nullptr) return Annotate(tls_error_, context);
  if (request.type.empty()) return absl::InvalidArgumentError(context + ": empty type");
  if (host.empty()) return absl::InvalidArgumentError(context + ": no host name");
  ASSIGN_OR_RETURN(HostPort where, ParseHostPort(address));
  error_code ec;
  const asio::ip::address ip = asio::ip::make_address(where.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(context, ": bad address"));
  const tcp::endpoint endpoint(ip, where.port);

  absl::StatusOr<std::string> frame =
      EncodeFrame(options_.secret, EncodeRequest(request), options_.max_body_bytes);
  if (!frame.ok()) return Annotate(frame.status(), context);

  std::unique_ptr<Connection> connection = TakeIdle(key);
  while (connection != nullptr && !connection->Reusable(options_.max_idle_time)) {
    connection = TakeIdle(key);
  }
  if (connection == nullptr) {
    connection = std::make_unique<Connection>(options_, *tls_);
    if (absl::Status s = connection->Connect(host, endpoint, deadline_at); !s.ok()) {
      return Annotate(s, context);
    }
  }
  // On any error below the connection is destroyed, never cached: its
  // stream may hold a late reply or be out of step.
  absl::StatusOr<std::string> body = connection->Exchange(*frame, deadline_at);
  if (!body.ok()) return Annotate(body.status(), context);
  absl::StatusOr<PeerReply> reply = ParseReply(*body);
  if (!reply.ok()) {
    return absl::DataLossError(
        absl::StrCat(context, ": the answer is not a peer reply: ", reply.status().message()));
  }
  // An error with id 0 answers a request whose id the server could not
  // read (as in the control protocol): still the answer to this one.
  const bool unnumbered_error = reply->id == 0 && !reply->status.ok();
  if (reply->id != request.id && !unnumbered_error) {
    return absl::DataLossError(
        absl::StrCat(context, ": the reply answers request #", reply->id));
  }
  ReturnIdle(key, std::move(connection));
  return reply;
}

}  // namespace cvol::peer
