#include "cvol/peer/address.h"

#include <arpa/inet.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cvol::peer {
namespace {

bool IsIpv4Literal(const std::string& host) {
  in_addr addr;
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool IsIpv6Literal(const std::string& host) {
  in6_addr addr;
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(const std::string& address) {
  const auto bad = [&address](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("peer address \"", address, "\": ", why));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return bad("expected host:port");
  HostPort result;
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return bad("unterminated [");
    host = host.substr(1, host.size() - 2);
    if (!IsIpv6Literal(host)) return bad("not an IPv6 address in brackets");
  } else if (!IsIpv4Literal(host)) {
    return bad(IsIpv6Literal(host) || host.find(':') != std::string::npos
                   ? "an IPv6 address needs brackets: [addr]:port"
                   : "host must be an IPv4 address or a bracketed IPv6 address");
  }
  uint32_t number = 0;
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  result.host = std::move(host);
  result.port = static_cast<uint16_t>(number);
  return result;
}

std::string FormatHostPort(const HostPort& address) {
  if (address.host.find(':') != std::string::npos) {
    return absl::StrCat("[", address.host, "]:", address.port);
  }
  return absl::StrCat(address.host, ":", address.port);
}

}  // namespace cvol::peer
