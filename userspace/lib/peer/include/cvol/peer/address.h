// Peer addresses: "host:port" where host is an IPv4 literal ("10.0.0.1:7000")
// or a bracketed IPv6 literal ("[::1]:7000"). Names are not resolved: a
// resolver call cannot be bounded by a request's deadline, and cluster
// members publish their addresses as literals.
#ifndef CVOL_PEER_ADDRESS_H_
#define CVOL_PEER_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace cvol::peer {

struct HostPort {
  std::string host;  // the literal without brackets: "10.0.0.1", "::1"
  uint16_t port = 0;
};

// kInvalidArgument, naming the address, for anything else (a missing or
// out-of-range port, an unbracketed IPv6 literal, a host name).
absl::StatusOr<HostPort> ParseHostPort(const std::string& address);

// The inverse: brackets an IPv6 host.
std::string FormatHostPort(const HostPort& address);

}  // namespace cvol::peer

#endif  // CVOL_PEER_ADDRESS_H_
