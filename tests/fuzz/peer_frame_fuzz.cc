// The peer transport's FrameDecoder fed what an unauthenticated peer can
// send: arbitrary bytes, delivered in pieces whose size the first byte
// picks (as a socket delivers them). Almost every input fails the magic,
// the length bound or the tag; the decoder must say so and never read
// past what it was given. Every frame it returns must have verified, so
// the body must be one that EncodeFrame with the secret reproduces.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cvol/peer/frame.h"
#include "fuzz_input.h"
#include "peer_secret.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  const size_t piece = 1 + in.Select(64);
  std::string_view rest = in.rest();
  // A small bound as well as the default, so that the length check is
  // reachable with short inputs.
  cvol::peer::FrameDecoder decoder(cvol::fuzz::kPeerSecret, piece % 2 ? 256 : cvol::peer::kMaxFrameBodyBytes);
  std::string seen;
  while (!rest.empty()) {
    const size_t n = rest.size() < piece ? rest.size() : piece;
    decoder.Feed(rest.substr(0, n));
    seen.append(rest.substr(0, n));
    rest.remove_prefix(n);
    for (;;) {
      absl::StatusOr<std::optional<std::string>> body = decoder.Next();
      if (!body.ok() || !body->has_value()) break;
      absl::StatusOr<std::string> frame = cvol::peer::EncodeFrame(cvol::fuzz::kPeerSecret, **body);
      if (!frame.ok() || seen.find(*frame) == std::string::npos) {
        cvol::fuzz::Violated("the decoder returned a body that was not sent with a valid tag");
      }
    }
    if (decoder.buffered() > seen.size()) cvol::fuzz::Violated("buffered more than was fed");
  }
  return 0;
}
