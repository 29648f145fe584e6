#include "cvol/peer/frame.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cvol/status_macros.h"

namespace cvol::peer {
namespace {

using Tag = std::array<unsigned char, kFrameTagBytes>;

uint16_t LoadBe16(const unsigned char* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

uint32_t LoadBe32(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

void StoreBe16(uint16_t v, char* p) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}

void StoreBe32(uint32_t v, char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (24 - 8 * i));
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

// HMAC-SHA256(secret, header || body).
absl::StatusOr<Tag> ComputeTag(std::string_view secret, std::string_view header,
                               std::string_view body) {
  // Fetched once: fetching looks the algorithm up in the provider tables,
  // and an EVP_MAC may be shared between threads.
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac == nullptr) return absl::InternalError("HMAC unavailable: " + OpenSslError());
  if (secret.empty()) return absl::InternalError("HMAC: the secret is empty");

  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
  if (ctx == nullptr) return absl::InternalError("HMAC: " + OpenSslError());
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  Tag tag;
  size_t tag_len = 0;
  const bool ok =
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(header.data()),
                     header.size()) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1 &&
      EVP_MAC_final(ctx, tag.data(), &tag_len, tag.size()) == 1 && tag_len == tag.size();
  EVP_MAC_CTX_free(ctx);
  if (!ok) return absl::InternalError("HMAC: " + OpenSslError());
  return tag;
}

}  // namespace

absl::StatusOr<std::string> EncodeFrame(std::string_view secret, std::string_view body,
                                        uint32_t max_body) {
  if (body.size() > max_body) {
    return absl::ResourceExhaustedError(absl::StrCat("frame body of ", body.size(),
                                                     " bytes exceeds the limit of ", max_body));
  }
  std::string frame(kFrameHeaderBytes, '\0');
  std::memcpy(frame.data(), kFrameMagic, sizeof(kFrameMagic));
  StoreBe16(kFrameVersion, frame.data() + 4);
  StoreBe16(0, frame.data() + 6);
  StoreBe32(static_cast<uint32_t>(body.size()), frame.data() + 8);
  ASSIGN_OR_RETURN(Tag tag, ComputeTag(secret, frame, body));
  frame.reserve(kFrameHeaderBytes + body.size() + kFrameTagBytes);
  frame.append(body);
  frame.append(reinterpret_cast<const char*>(tag.data()), tag.size());
  return frame;
}

absl::StatusOr<uint32_t> ParseFrameHeader(std::string_view header, uint32_t max_body) {
  if (header.size() < kFrameHeaderBytes) {
    return absl::DataLossError(absl::StrCat("frame header of ", header.size(), " bytes, need ",
                                            kFrameHeaderBytes));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(header.data());
  if (std::memcmp(p, kFrameMagic, sizeof(kFrameMagic)) != 0) {
    return absl::DataLossError(absl::StrCat("not a cvol peer frame: magic \"",
                                            absl::CHexEscape(std::string(header.substr(0, 4))),
                                            "\", expected \"CVP1\""));
  }
  const uint16_t version = LoadBe16(p + 4);
  if (version != kFrameVersion) {
    return absl::UnimplementedError(absl::StrCat("peer speaks protocol version ", version,
                                                 ", this host speaks version ", kFrameVersion));
  }
  const uint16_t flags = LoadBe16(p + 6);
  if (flags != 0) {
    return absl::DataLossError(absl::StrCat("frame flags 0x", absl::Hex(flags),
                                            " are not defined in version ", kFrameVersion));
  }
  const uint32_t length = LoadBe32(p + 8);
  if (length > max_body) {
    return absl::DataLossError(
        absl::StrCat("frame body of ", length, " bytes exceeds the limit of ", max_body));
  }
  return length;
}

FrameDecoder::FrameDecoder(std::string secret, uint32_t max_body)
    : secret_(std::move(secret)), max_body_(max_body) {}

void FrameDecoder::Feed(std::string_view bytes) {
  if (error_.ok()) buffer_.append(bytes);
}

absl::StatusOr<std::optional<std::string>> FrameDecoder::Next() {
  if (!error_.ok()) return error_;
  if (buffer_.size() < kFrameHeaderBytes) return std::nullopt;
  const std::string_view header(buffer_.data(), kFrameHeaderBytes);
  absl::StatusOr<uint32_t> length = ParseFrameHeader(header, max_body_);
  if (!length.ok()) {
    error_ = length.status();
    buffer_.clear();
    return error_;
  }
  const size_t frame_bytes = kFrameHeaderBytes + *length + kFrameTagBytes;
  if (buffer_.size() < frame_bytes) return std::nullopt;

  const std::string_view body(buffer_.data() + kFrameHeaderBytes, *length);
  absl::StatusOr<Tag> expected = ComputeTag(secret_, header, body);
  if (!expected.ok()) {
    error_ = expected.status();
    buffer_.clear();
    return error_;
  }
  // Constant time: a byte-by-byte compare would tell a forger, through the
  // time to refuse, how many leading bytes of its tag are right.
  if (CRYPTO_memcmp(expected->data(), buffer_.data() + kFrameHeaderBytes + *length,
                    kFrameTagBytes) != 0) {
    error_ = absl::UnauthenticatedError(
        "frame tag does not verify: the peer does not hold this cluster's secret, or the frame "
        "was altered");
    buffer_.clear();
    return error_;
  }
  std::string result(body);
  buffer_.erase(0, frame_bytes);
  return std::optional<std::string>(std::move(result));
}

}  // namespace cvol::peer
