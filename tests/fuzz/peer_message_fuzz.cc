// The peer protocol's messages (PeerRequest, PeerReply) behind a frame
// that verifies: the input is a body, framed here with the cluster secret
// (EncodeFrame), decoded as a receiving daemon would (FrameDecoder), and
// parsed as a request or a reply (the first byte picks). This is what a
// peer that holds the secret (a buggy or compromised cluster member) can
// make a daemon parse. A parsed message must encode back to one that
// parses the same.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cvol/peer/frame.h"
#include "cvol/peer/message.h"
#include "fuzz_input.h"
#include "peer_secret.h"

namespace peer = cvol::peer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  const bool request = in.Select(2) == 0;
  absl::StatusOr<std::string> frame = peer::EncodeFrame(cvol::fuzz::kPeerSecret, in.rest());
  if (!frame.ok()) return 0;  // over kMaxFrameBodyBytes
  peer::FrameDecoder decoder(cvol::fuzz::kPeerSecret);
  decoder.Feed(*frame);
  absl::StatusOr<std::optional<std::string>> body = decoder.Next();
  if (!body.ok() || !body->has_value() || **body != in.rest()) {
    cvol::fuzz::Violated("a frame EncodeFrame made does not decode to its body");
  }
  if (request) {
    absl::StatusOr<peer::PeerRequest> r = peer::ParseRequest(**body);
    if (!r.ok()) return 0;
    absl::StatusOr<peer::PeerRequest> again = peer::ParseRequest(peer::EncodeRequest(*r));
    if (!again.ok() || again->type != r->type || again->id != r->id || again->epoch != r->epoch) {
      cvol::fuzz::Violated("ParseRequest(EncodeRequest(r)) differs");
    }
  } else {
    absl::StatusOr<peer::PeerReply> r = peer::ParseReply(**body);
    if (!r.ok()) return 0;
    absl::StatusOr<peer::PeerReply> again = peer::ParseReply(peer::EncodeReply(*r));
    if (!again.ok() || again->id != r->id || again->status.code() != r->status.code()) {
      cvol::fuzz::Violated("ParseReply(EncodeReply(r)) differs");
    }
  }
  return 0;
}
