// Admission of the peer server's connections (docs/peer-protocol.md,
// "Limits"): a cap on all connections, one on the connections of one source
// address, and a lower one on the connections of one source address that
// are still in the TLS handshake, i.e. have not proven they hold the
// cluster secret. Without them anyone who reaches the port can take every
// descriptor of the daemon with idle connections, and the daemon then
// cannot reach etcd and fences its host.
//
// Thread-safe. A source address is the text of the peer's IP address (an
// IPv6 address counts alone, not its /64).
#ifndef CVOL_PEER_CONNECTION_LIMITS_H_
#define CVOL_PEER_CONNECTION_LIMITS_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cvol::peer {

struct ConnectionCaps {
  size_t total = 512;
  size_t per_address = 128;
  size_t handshakes_per_address = 64;
};

class ConnectionLimits {
 public:
  // The cap a refused connection would have exceeded.
  enum class Cap { kTotal, kPerAddress, kHandshakesPerAddress };

  // An admitted connection's place. It starts in the handshake; destroying
  // it gives the place back.
  class Slot {
   public:
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

    // The handshake ended (either way): the place no longer counts
    // against the handshake cap. Idempotent.
    void HandshakeEnded();

   private:
    friend class ConnectionLimits;
    Slot(ConnectionLimits& limits, std::string address)
        : limits_(limits), address_(std::move(address)) {}

    ConnectionLimits& limits_;
    const std::string address_;
    bool handshaking_ = true;
  };

  struct Admission {
    std::unique_ptr<Slot> slot;  // null if refused
    Cap exceeded = Cap::kTotal;  // if refused: which cap
    std::string why;             // if refused: for the log, naming the cap and the address
  };

  explicit ConnectionLimits(ConnectionCaps caps) : caps_(caps) {}

  // A place for a new connection from `address`, or the cap it would
  // exceed. The slots must not outlive this object.
  Admission Admit(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  size_t total() const ABSL_LOCKS_EXCLUDED(mu_);

  // A short name for a cap ("total", "per-address", "handshakes-per-address").
  static const char* Name(Cap cap);

 private:
  struct Counts {
    size_t connections = 0;
    size_t handshakes = 0;
  };

  void EndHandshake(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  void Release(const std::string& address, bool handshaking) ABSL_LOCKS_EXCLUDED(mu_);

  const ConnectionCaps caps_;
  mutable absl::Mutex mu_;
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
  // Only addresses with a connection: the map cannot grow with every
  // address that ever connected.
  std::map<std::string, Counts> by_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cvol::peer

#endif  // CVOL_PEER_CONNECTION_LIMITS_H_
