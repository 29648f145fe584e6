// TLS 1.3 with a certificate per host on the peer links: both ends present
// a certificate signed by the cluster CA, and the host name a certificate
// vouches for (its DNS subjectAltName) is that host's identity. A client
// checks that the host it dials is the one that answers; a server learns
// from the handshake which host it talks to, and binds each request's
// sender to it (docs/security.md). A stolen key exposes one host, not the
// cluster, and is revoked by issuing new certificates.
#ifndef CVOL_PEER_PEER_TLS_H_
#define CVOL_PEER_PEER_TLS_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/ssl/context.hpp"

namespace cvol::peer {

enum class TlsRole { kClient, kServer };

// PEM files. The key must be readable by root only (docs/security.md).
struct PeerTlsFiles {
  std::string ca_file;    // the cluster CA: the only issuer trusted
  std::string cert_file;  // this host's certificate (chain)
  std::string key_file;   // its private key

  bool empty() const { return ca_file.empty() && cert_file.empty() && key_file.empty(); }
};

// A context whose connections negotiate TLS 1.3 only, present this host's
// certificate and require one from the other end, signed by the CA and fit
// for the other end's role (extended key usage clientAuth for a client,
// serverAuth for a server). Files are read now; new certificates take
// effect when the daemon restarts. kInvalidArgument for a missing file
// name; kFailedPrecondition for a file that cannot be loaded, a key that
// does not match the certificate, or a key file others can read.
absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> MakePeerTlsContext(
    const PeerTlsFiles& files, TlsRole role);

// OK if files make a usable context (as MakePeerTlsContext), the
// certificate verifies against the CA, and it names host: checked at start,
// so that a wrong file is one clear error instead of every peer refusing
// this host. kFailedPrecondition otherwise.
absl::Status CheckOwnCertificate(const PeerTlsFiles& files, const std::string& host);

// The host names (DNS subjectAltNames) of the certificate the other end
// presented on an established connection, if it verified; empty otherwise.
std::vector<std::string> PeerCertificateHosts(SSL* ssl);

// The host names of the certificate in a PEM file (its first certificate);
// empty if it cannot be read.
std::vector<std::string> CertificateFileHosts(const std::string& path);

// "h1" or "h1, h2" for messages; "(none)" when empty.
std::string DescribeHosts(const std::vector<std::string>& hosts);

}  // namespace cvol::peer

#endif  // CVOL_PEER_PEER_TLS_H_
