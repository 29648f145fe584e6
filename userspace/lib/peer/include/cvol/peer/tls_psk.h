// TLS 1.3 for peer connections, keyed by the cluster secret (an external
// pre-shared key, RFC 8446 §2.2): both ends prove they hold the secret in
// the handshake, and everything after it is encrypted. No certificates: a
// cluster already shares a secret, and a key derived from it needs no CA.
// The frames inside keep their HMAC tags (docs/peer-protocol.md).
#ifndef CVOL_PEER_TLS_PSK_H_
#define CVOL_PEER_TLS_PSK_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "boost/asio/ssl/context.hpp"

namespace cvol::peer {

enum class TlsRole { kClient, kServer };

// A context whose connections negotiate TLS 1.3 with TLS_AES_128_GCM_SHA256
// and the PSK HKDF-SHA256(secret, "cvol peer tls psk v1"), with (EC)DHE for
// forward secrecy. kInvalidArgument for an empty secret; kInternal if
// OpenSSL refuses a setting.
absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> MakeTlsPskContext(
    std::string_view secret, TlsRole role);

}  // namespace cvol::peer

#endif  // CVOL_PEER_TLS_PSK_H_
