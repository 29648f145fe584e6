#include "cvol/peer/tls_psk.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cvol::peer {
namespace {

constexpr char kPskIdentity[] = "cvol-cluster";
constexpr char kPskLabel[] = "cvol peer tls psk v1";
constexpr size_t kPskBytes = 32;
// The key lives in the context (ex data), where the C callbacks find it.
using Psk = std::array<unsigned char, kPskBytes>;

int PskIndex() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<Psk*>(ptr); });
  return index;
}

const Psk* PskOf(SSL* ssl) {
  return static_cast<const Psk*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), PskIndex()));
}

absl::Status OpenSslError(const std::string& what) {
  const unsigned long e = ERR_get_error();
  char text[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, text, sizeof(text));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat("tls: ", what, ": ", text));
}

absl::Status DerivePsk(std::string_view secret, Psk* out) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> kdf(
      EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), &EVP_PKEY_CTX_free);
  size_t len = out->size();
  if (kdf == nullptr || EVP_PKEY_derive_init(kdf.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(kdf.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(kdf.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                                 static_cast<int>(secret.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(kdf.get(), reinterpret_cast<const unsigned char*>(kPskLabel),
                                  static_cast<int>(std::strlen(kPskLabel))) <= 0 ||
      EVP_PKEY_derive(kdf.get(), out->data(), &len) <= 0 || len != out->size()) {
    return OpenSslError("deriving the key");
  }
  return absl::OkStatus();
}

// In TLS 1.3 OpenSSL uses these callbacks for an external PSK with a
// SHA-256 suite when no session callbacks are set.
unsigned int ClientPsk(SSL* ssl, const char*, char* identity, unsigned int max_identity,
                       unsigned char* psk, unsigned int max_psk) {
  const Psk* key = PskOf(ssl);
  if (key == nullptr || max_identity < sizeof(kPskIdentity) || max_psk < key->size()) return 0;
  std::memcpy(identity, kPskIdentity, sizeof(kPskIdentity));
  std::memcpy(psk, key->data(), key->size());
  return static_cast<unsigned int>(key->size());
}

unsigned int ServerPsk(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_psk) {
  const Psk* key = PskOf(ssl);
  if (key == nullptr || identity == nullptr || std::strcmp(identity, kPskIdentity) != 0 ||
      max_psk < key->size()) {
    return 0;
  }
  std::memcpy(psk, key->data(), key->size());
  return static_cast<unsigned int>(key->size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> MakeTlsPskContext(
    std::string_view secret, TlsRole role) {
  namespace ssl = boost::asio::ssl;
  if (secret.empty()) return absl::InvalidArgumentError("tls: no secret");
  auto context = std::make_unique<ssl::context>(role == TlsRole::kClient
                                                    ? ssl::context::tls_client
                                                    : ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  auto psk = std::make_unique<Psk>();
  if (absl::Status s = DerivePsk(secret, psk.get()); !s.ok()) return s;
  if (SSL_CTX_set_ex_data(ctx, PskIndex(), psk.get()) != 1) return OpenSslError("ex data");
  psk.release();  // the context's now (freed by the ex data's free callback)
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return OpenSslError("protocol version");
  }
  if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") != 1) {
    return OpenSslError("cipher suite");
  }
  // OpenSSL offers only psk_dhe_ke (no SSL_OP_ALLOW_NO_DHE_KEX): each
  // connection gets fresh keys, so a stolen secret does not open old
  // traffic.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (role == TlsRole::kClient) {
    SSL_CTX_set_psk_client_callback(ctx, ClientPsk);
  } else {
    SSL_CTX_set_psk_server_callback(ctx, ServerPsk);
    // No session tickets: a ticket arriving on an idle cached connection
    // would make it look closed to the client (and resumption buys nothing
    // over the PSK).
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return context;
}

}  // namespace cvol::peer
