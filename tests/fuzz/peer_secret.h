// The cluster secret the peer fuzz targets share, so that a frame saved
// by one (a crash input) verifies in the other.
#ifndef CVOL_TESTS_FUZZ_PEER_SECRET_H_
#define CVOL_TESTS_FUZZ_PEER_SECRET_H_

namespace cvol::fuzz {

inline constexpr char kPeerSecret[] = "cvol-fuzz-cluster-secret-0123456789";

}  // namespace cvol::fuzz

#endif  // CVOL_TESTS_FUZZ_PEER_SECRET_H_
