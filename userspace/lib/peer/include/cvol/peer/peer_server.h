// The receiving side of the peer protocol: accepts TCP connections,
// completes a mutual TLS handshake (a certificate of the cluster CA on each
// end, peer_tls.h), reads authenticated request frames and answers each
// with the handler's reply. A request's `from` must be a host the
// connection's certificate names: the handler can trust it.
//
// I/O runs on the server's own io_context thread(s); handlers run on a small
// worker pool, because they block (a freeze waits for the kernel to drain
// I/O), so one slow request does not hold up other connections. A
// connection carries any number of requests, one at a time.
//
// A frame that fails the checks (magic, version, length, tag) is logged and
// the connection closed without an answer: a peer that cannot prove it
// holds the cluster secret learns nothing. An authenticated request that is
// malformed, or whose sent_unix_ms is further than max_clock_skew from this
// host's clock, or that names a sender the certificate does not, is
// answered with an error and never reaches the handler.
//
// Every phase of a connection but a running handler has a deadline
// (handshake, idle, frame), and the connections are capped in number, in
// all and per source address, so that idle or trickling connections cannot
// take the daemon's descriptors (docs/peer-protocol.md, "Limits").
#ifndef CVOL_PEER_PEER_SERVER_H_
#define CVOL_PEER_PEER_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cvol/peer/connection_limits.h"
#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "cvol/peer/peer_tls.h"

namespace cvol::peer {

// Runs on a worker thread, possibly several at once. The reply's id is set
// by the server. An exception escaping it becomes a kInternal reply.
using PeerHandler = std::function<PeerReply(const PeerRequest&)>;

struct PeerServerOptions {
  std::string secret;                          // the cluster secret; required
  PeerTlsFiles tls;                            // this host's certificate; required
  std::function<void(std::string)> log;        // one line per event; stderr if empty
  absl::Duration max_clock_skew = absl::Seconds(60);
  int io_threads = 1;
  int worker_threads = 4;                      // concurrent handlers
  uint32_t max_body_bytes = kMaxFrameBodyBytes;

  // What keeps the port usable while someone abuses it. Each default and
  // why it is safe: docs/peer-protocol.md, "Limits".
  //
  // From accept to the end of the TLS handshake.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // Waiting for the next request on an established connection; above
  // PeerClientOptions::max_idle_time, so a client never sends on a
  // connection the server is closing.
  absl::Duration idle_timeout = absl::Seconds(120);
  // From a request frame's first byte to its last, and for writing a reply:
  // a peer that trickles a frame, or does not read its reply, cannot hold a
  // connection longer than this.
  absl::Duration frame_timeout = absl::Seconds(10);
  // Connections over a cap are accepted and closed at once (the kernel's
  // backlog never fills), and logged, one line a second per cap at most.
  ConnectionCaps caps;
};

class PeerServer {
 public:
  // Binds address ("host:port", see address.h; port 0 picks a free one) and
  // starts serving. kInvalidArgument for a bad address or options;
  // kUnavailable if the address cannot be bound (in use, not local).
  static absl::StatusOr<std::unique_ptr<PeerServer>> Start(const std::string& address,
                                                          PeerHandler handler,
                                                          PeerServerOptions options);

  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;
  ~PeerServer();  // Stop()s

  // Closes the listener and every connection, then waits for the threads,
  // including handlers still running (their replies are dropped).
  // Idempotent. Not from a handler: it would wait for itself.
  void Stop();

  // The bound port (the one picked when asked for port 0).
  uint16_t port() const;
  // "host:port" with the bound port.
  std::string address() const;

 private:
  class Impl;
  explicit PeerServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace cvol::peer

#endif  // CVOL_PEER_PEER_SERVER_H_
