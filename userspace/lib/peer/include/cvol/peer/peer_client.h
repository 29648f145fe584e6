// The sending side of the peer protocol: one request, one reply, within a
// deadline, over mutual TLS (peer_tls.h): the answer comes from the host
// the caller names, proven by its certificate, and this host proves its own
// name, which the server binds to the request's `from`. Connections are
// cached per host and address and reused; any error drops the connection
// it happened on,
// so a late reply can never be mistaken for the answer to a later request.
//
// Errors of Call (the transport's; a handler's verdict is PeerReply::status):
//   kInvalidArgument    the address, or a request without a type
//   kResourceExhausted  a request larger than max_body_bytes
//   kUnavailable        connection refused, unreachable, reset or closed;
//                       the TLS handshake failed (a certificate of another
//                       CA, or of another host than the one named)
//   kDeadlineExceeded   the deadline passed while connecting, sending or
//                       waiting for the reply
//   kUnauthenticated    the reply's tag does not verify
//   kDataLoss           a reply that is not a frame, not a reply, or
//                       answers another request id
//   kUnimplemented      the peer speaks another protocol version
#ifndef CVOL_PEER_PEER_CLIENT_H_
#define CVOL_PEER_PEER_CLIENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "cvol/peer/peer_tls.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace cvol::peer {

struct PeerClientOptions {
  std::string secret;      // the cluster secret; required
  PeerTlsFiles tls;        // this host's certificate; required
  std::string self;        // put into PeerRequest::from when that is empty;
                           // must be a name of this host's certificate
  uint32_t max_body_bytes = kMaxFrameBodyBytes;
  size_t max_idle_per_address = 4;  // cached connections kept per address
  // A cached connection idle longer is closed instead of reused: half the
  // server's idle timeout (PeerServerOptions::idle_timeout, 120 s), so a
  // request is never sent on a connection the server is closing just then.
  absl::Duration max_idle_time = absl::Seconds(60);
};

// Thread-safe. Concurrent calls to the same address each use their own
// connection (an idle cached one or a new one).
class PeerClient {
 public:
  explicit PeerClient(PeerClientOptions options);
  ~PeerClient();

  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  // Sends request to host at address and waits for its reply until
  // deadline (from now). The handshake fails unless the certificate that
  // answers names host. Sets request.id (unique and increasing per client),
  // and sent_unix_ms when it is 0.
  absl::StatusOr<PeerReply> Call(const std::string& host, const std::string& address,
                                 PeerRequest request, absl::Duration deadline);

  // Closes every cached connection.
  void CloseIdle();

 private:
  class Connection;

  // Keyed by "host@address".
  std::unique_ptr<Connection> TakeIdle(const std::string& key);
  void ReturnIdle(const std::string& key, std::unique_ptr<Connection> connection);

  const PeerClientOptions options_;
  std::unique_ptr<boost::asio::ssl::context> tls_;  // null if it could not be made:
  absl::Status tls_error_;                          // why
  std::atomic<uint64_t> next_id_{1};
  absl::Mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cvol::peer

#endif  // CVOL_PEER_PEER_CLIENT_H_
