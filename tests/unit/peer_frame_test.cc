// cvolpeer's frame codec: round trips, the incremental decoder, and every
// way a frame is refused (truncation, magic, version, flags, length, a
// flipped bit in body or tag, the wrong secret).
#include "cvol/peer/frame.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cvol::peer {
namespace {

using ::testing::HasSubstr;

constexpr char kSecret[] = "0123456789abcdef-test-secret";

std::string MustEncode(const std::string& body, const std::string& secret = kSecret) {
  absl::StatusOr<std::string> frame = EncodeFrame(secret, body);
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.ok() ? *frame : std::string();
}

// Every complete frame the decoder yields for bytes, or its error.
absl::StatusOr<std::vector<std::string>> DecodeAll(const std::string& bytes,
                                                   const std::string& secret = kSecret) {
  FrameDecoder decoder(secret);
  decoder.Feed(bytes);
  std::vector<std::string> bodies;
  for (;;) {
    absl::StatusOr<std::optional<std::string>> next = decoder.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return bodies;
    bodies.push_back(**next);
  }
}

TEST(PeerFrameTest, LayoutIsMagicVersionFlagsLengthBodyTag) {
  const std::string frame = MustEncode("{}");
  ASSERT_EQ(frame.size(), kFrameHeaderBytes + 2 + kFrameTagBytes);
  EXPECT_EQ(frame.substr(0, 4), "CVP1");
  EXPECT_EQ(frame.substr(4, 2), std::string("\x00\x01", 2));
  EXPECT_EQ(frame.substr(6, 2), std::string("\x00\x00", 2));
  EXPECT_EQ(frame.substr(8, 4), std::string("\x00\x00\x00\x02", 4));
  EXPECT_EQ(frame.substr(12, 2), "{}");
}

TEST(PeerFrameTest, TagIsHmacSha256OfHeaderAndBody) {
  // Pinned against an independent implementation:
  //   printf 'CVP1\0\1\0\0\0\0\0\2{}' | openssl dgst -sha256 -hmac key
  const std::string frame = MustEncode("{}", "key");
  const std::string tag = frame.substr(kFrameHeaderBytes + 2);
  std::string hex;
  for (unsigned char c : tag) {
    static const char digits[] = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  EXPECT_EQ(hex, "f7e980406c341ed1b60f611d00d15562911e5edb6dbbf9a1e5a83aed142afbd6");
}

TEST(PeerFrameTest, RoundTripsBodies) {
  for (const std::string& body : {std::string(), std::string("{\"a\":1}"),
                                 std::string(100000, 'x'), std::string(kMaxFrameBodyBytes, 'y')}) {
    absl::StatusOr<std::vector<std::string>> bodies = DecodeAll(MustEncode(body));
    ASSERT_TRUE(bodies.ok()) << bodies.status();
    ASSERT_EQ(bodies->size(), 1u);
    EXPECT_EQ(bodies->front(), body);
  }
}

TEST(PeerFrameTest, DecodesSeveralFramesFedByteByByte) {
  const std::string stream = MustEncode("one") + MustEncode("") + MustEncode("three");
  FrameDecoder decoder(kSecret);
  std::vector<std::string> bodies;
  for (char c : stream) {
    decoder.Feed(std::string_view(&c, 1));
    absl::StatusOr<std::optional<std::string>> next = decoder.Next();
    ASSERT_TRUE(next.ok()) << next.status();
    if (next->has_value()) bodies.push_back(**next);
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"one", "", "three"}));
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(PeerFrameTest, TruncatedFrameWaitsForMoreBytes) {
  const std::string frame = MustEncode("{\"x\":true}");
  for (size_t n = 0; n < frame.size(); ++n) {
    absl::StatusOr<std::vector<std::string>> bodies = DecodeAll(frame.substr(0, n));
    ASSERT_TRUE(bodies.ok()) << "prefix of " << n << ": " << bodies.status();
    EXPECT_TRUE(bodies->empty()) << "prefix of " << n;
  }
}

TEST(PeerFrameTest, EncodeRefusesOversizedBody) {
  absl::StatusOr<std::string> frame = EncodeFrame(kSecret, std::string(kMaxFrameBodyBytes + 1, 'z'));
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(EncodeFrame(kSecret, "abcdef", 5).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(PeerFrameTest, EncodeRefusesEmptySecret) {
  EXPECT_FALSE(EncodeFrame("", "{}").ok());
}

TEST(PeerFrameTest, BadMagicIsDataLoss) {
  std::string frame = MustEncode("{}");
  frame[0] = 'G';
  absl::StatusOr<std::vector<std::string>> bodies = DecodeAll(frame);
  EXPECT_EQ(bodies.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bodies.status().message(), HasSubstr("magic"));
}

TEST(PeerFrameTest, WrongVersionNamesBothVersions) {
  std::string frame = MustEncode("{}");
  frame[5] = 2;
  absl::StatusOr<std::vector<std::string>> bodies = DecodeAll(frame);
  EXPECT_EQ(bodies.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(bodies.status().message(), HasSubstr("version 2"));
  EXPECT_THAT(bodies.status().message(), HasSubstr("version 1"));
}

TEST(PeerFrameTest, NonzeroFlagsRefused) {
  std::string frame = MustEncode("{}");
  frame[7] = 1;
  EXPECT_EQ(DecodeAll(frame).status().code(), absl::StatusCode::kDataLoss);
}

TEST(PeerFrameTest, OversizedLengthRefusedFromTheHeaderAlone) {
  // Only the 12 header bytes: the decoder must not wait for 4 GiB.
  const std::string header = std::string("CVP1\x00\x01\x00\x00\xff\xff\xff\xff", 12);
  absl::StatusOr<std::vector<std::string>> bodies = DecodeAll(header);
  EXPECT_EQ(bodies.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bodies.status().message(), HasSubstr("4294967295"));

  const std::string just_over = std::string("CVP1\x00\x01\x00\x00\x00\x10\x00\x01", 12);
  EXPECT_EQ(DecodeAll(just_over).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseFrameHeader(just_over).status().code(), absl::StatusCode::kDataLoss);
  absl::StatusOr<uint32_t> at_limit =
      ParseFrameHeader(std::string("CVP1\x00\x01\x00\x00\x00\x10\x00\x00", 12));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(*at_limit, kMaxFrameBodyBytes);
}

TEST(PeerFrameTest, FlippedBitAnywhereAfterTheHeaderIsUnauthenticated) {
  const std::string frame = MustEncode("{\"epoch\":7}");
  for (size_t i = kFrameHeaderBytes; i < frame.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 3) {
      std::string bad = frame;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      absl::StatusOr<std::vector<std::string>> bodies = DecodeAll(bad);
      EXPECT_EQ(bodies.status().code(), absl::StatusCode::kUnauthenticated)
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(PeerFrameTest, FlippedLengthBitIsRefused) {
  // A shorter length moves the tag: the frame does not verify.
  std::string frame = MustEncode("{\"epoch\":7}");
  frame[11] = static_cast<char>(frame[11] ^ 1);
  FrameDecoder decoder(kSecret);
  decoder.Feed(frame);
  absl::StatusOr<std::optional<std::string>> next = decoder.Next();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(PeerFrameTest, WrongSecretRejected) {
  absl::StatusOr<std::vector<std::string>> bodies =
      DecodeAll(MustEncode("{}", "another-cluster-secret"));
  EXPECT_EQ(bodies.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(bodies.status().message(), HasSubstr("secret"));
}

TEST(PeerFrameTest, DecoderStaysBrokenAfterAnError) {
  std::string bad = MustEncode("{}");
  bad.back() = static_cast<char>(bad.back() ^ 0x80);
  FrameDecoder decoder(kSecret);
  decoder.Feed(bad);
  EXPECT_FALSE(decoder.Next().ok());
  decoder.Feed(MustEncode("{}"));
  EXPECT_FALSE(decoder.Next().ok());
}

}  // namespace
}  // namespace cvol::peer
