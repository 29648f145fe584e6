#include "cvol/peer/peer_tls.h"

#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cvol/secret_file.h"
#include "cvol/status_macros.h"

namespace cvol::peer {
namespace {

absl::Status OpenSslError(const std::string& what) {
  const unsigned long e = ERR_get_error();
  char text[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, text, sizeof(text));
  ERR_clear_error();
  return absl::FailedPreconditionError(absl::StrCat("peer tls: ", what, ": ", text));
}

// The key is read once, through ReadSecretFile's checks (a regular file,
// not a link, root's or ours, mode 0600), and handed to OpenSSL from memory:
// the file checked is the file used.
absl::Status UsePrivateKey(SSL_CTX* ctx, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadSecretFile(path);
  if (!pem.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("peer tls: key ", path, ": ", pem.status().message()));
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
      &EVP_PKEY_free);
  OPENSSL_cleanse(pem->data(), pem->size());
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    return OpenSslError(absl::StrCat("key ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> MakePeerTlsContext(
    const PeerTlsFiles& files, TlsRole role) {
  namespace ssl = boost::asio::ssl;
  if (files.ca_file.empty() || files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "peer tls: the CA, certificate and key files are all required");
  }
  auto context = std::make_unique<ssl::context>(role == TlsRole::kClient
                                                    ? ssl::context::tls_client
                                                    : ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return OpenSslError("protocol version");
  }
  if (SSL_CTX_load_verify_locations(ctx, files.ca_file.c_str(), nullptr) != 1) {
    return OpenSslError(absl::StrCat("CA ", files.ca_file));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
    return OpenSslError(absl::StrCat("certificate ", files.cert_file));
  }
  if (absl::Status s = UsePrivateKey(ctx, files.key_file); !s.ok()) return s;
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return OpenSslError(absl::StrCat("key ", files.key_file, " does not match certificate ",
                                     files.cert_file));
  }
  // Only the cluster CA: not the system's trust store, which vouches for
  // every web server. OpenSSL also checks the other end's extended key
  // usage against its role (a server certificate cannot act as a client).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  if (role == TlsRole::kServer) {
    // No session tickets: a ticket arriving on an idle cached connection
    // would make it look closed to the client (and resumption would skip
    // the certificate check this transport relies on).
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return context;
}

namespace {

// The subject's organizational units: a host certificate of cvol-certs
// carries OU=cvol-<host>.
std::vector<std::string> OrganizationalUnits(const X509* cert) {
  std::vector<std::string> units;
  const X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, i)) {
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    units.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                       static_cast<size_t>(ASN1_STRING_length(value)));
  }
  return units;
}

// A DNS name is a cvol host's identity only in a certificate issued as that
// host's (OU=cvol-<host>): an etcd member's certificate of the same CA,
// named like a host, is not one. No wildcards: a name stands for one host.
std::vector<std::string> CertificateHosts(const X509* cert) {
  std::vector<std::string> hosts;
  const std::vector<std::string> units = OrganizationalUnits(cert);
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return hosts;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = name->d.dNSName;
    const std::string host(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                           static_cast<size_t>(ASN1_STRING_length(dns)));
    // An embedded NUL would let "h1\0.evil" pass for "h1" in C strings.
    if (host.empty() || host.find('\0') != std::string::npos ||
        host.find('*') != std::string::npos) {
      continue;
    }
    if (std::find(units.begin(), units.end(), "cvol-" + host) != units.end()) {
      hosts.push_back(host);
    }
  }
  GENERAL_NAMES_free(names);
  return hosts;
}

}  // namespace

std::vector<std::string> PeerCertificateHosts(SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  const X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  return CertificateHosts(cert);
}

absl::Status CheckOwnCertificate(const PeerTlsFiles& files, const std::string& host) {
  ASSIGN_OR_RETURN(std::unique_ptr<boost::asio::ssl::context> context,
                   MakePeerTlsContext(files, TlsRole::kServer));
  SSL_CTX* ctx = context->native_handle();
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return OpenSslError(absl::StrCat("certificate ", files.cert_file));
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> verify(X509_STORE_CTX_new(),
                                                                          &X509_STORE_CTX_free);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  if (verify == nullptr ||
      X509_STORE_CTX_init(verify.get(), SSL_CTX_get_cert_store(ctx), cert, chain) != 1) {
    return OpenSslError("verifying the certificate");
  }
  if (X509_verify_cert(verify.get()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "peer tls: certificate ", files.cert_file, " does not verify against CA ", files.ca_file,
        ": ", X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify.get()))));
  }
  const std::vector<std::string> hosts = CertificateHosts(cert);
  if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "peer tls: certificate ", files.cert_file, " names ", DescribeHosts(hosts),
        " (DNS subjectAltName), not this host '", host,
        "': peers would refuse every request of this host"));
  }
  return absl::OkStatus();
}

std::vector<std::string> CertificateFileHosts(const std::string& path) {
  std::unique_ptr<FILE, decltype(&fclose)> file(fopen(path.c_str(), "r"), &fclose);
  if (file == nullptr) return {};
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_X509(file.get(), nullptr, nullptr, nullptr), &X509_free);
  if (cert == nullptr) {
    ERR_clear_error();
    return {};
  }
  return CertificateHosts(cert.get());
}

std::string DescribeHosts(const std::vector<std::string>& hosts) {
  return hosts.empty() ? "(none)" : absl::StrJoin(hosts, ", ");
}

}  // namespace cvol::peer
