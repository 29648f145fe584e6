// The peer protocol's frame (docs/peer-protocol.md):
//
//   magic "CVP1" | version u16 BE | flags u16 BE | body length u32 BE | body | tag
//
// body is UTF-8 JSON text; tag is HMAC-SHA256(cluster secret, header || body)
// (32 bytes). Every frame, request or reply, is authenticated this way; a
// frame that fails any check is never interpreted.
#ifndef CVOL_PEER_FRAME_H_
#define CVOL_PEER_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cvol::peer {

inline constexpr char kFrameMagic[4] = {'C', 'V', 'P', '1'};
inline constexpr uint16_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 12;
inline constexpr size_t kFrameTagBytes = 32;
// Requests and replies are control messages (map differences at most): a
// larger length is garbage or an attack, and refusing it before reading the
// body bounds what an unauthenticated peer can make us buffer.
inline constexpr uint32_t kMaxFrameBodyBytes = 1u << 20;

// The whole frame for body. kResourceExhausted if body is longer than
// max_body; kInternal if the MAC cannot be computed (e.g. an empty secret).
absl::StatusOr<std::string> EncodeFrame(std::string_view secret, std::string_view body,
                                        uint32_t max_body = kMaxFrameBodyBytes);

// Checks the kFrameHeaderBytes at header and returns the body length that
// follows. kDataLoss for a wrong magic, nonzero flags or a length over
// max_body; kUnimplemented for another protocol version (the message names
// both versions).
absl::StatusOr<uint32_t> ParseFrameHeader(std::string_view header,
                                          uint32_t max_body = kMaxFrameBodyBytes);

// Splits a byte stream into verified frame bodies. Feed it what the socket
// delivers, then call Next until it returns nullopt. After an error the
// stream is unusable (frame boundaries are lost): close the connection.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::string secret, uint32_t max_body = kMaxFrameBodyBytes);

  void Feed(std::string_view bytes);

  // The next complete frame's body; nullopt if more bytes are needed. The
  // header is checked as soon as it is complete, so an oversized length is
  // refused before its body arrives. A tag mismatch is kUnauthenticated;
  // header errors as ParseFrameHeader.
  absl::StatusOr<std::optional<std::string>> Next();

  // Bytes received but not yet returned as a frame.
  size_t buffered() const { return buffer_.size(); }

 private:
  const std::string secret_;
  const uint32_t max_body_;
  std::string buffer_;
  absl::Status error_;  // sticky: once broken, always broken
};

}  // namespace cvol::peer

#endif  // CVOL_PEER_FRAME_H_
