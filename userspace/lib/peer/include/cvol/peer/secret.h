// The cluster secret: the HMAC key every peer frame is authenticated with.
// Every host of a cluster holds the same secret in a file only root reads.
#ifndef CVOL_PEER_SECRET_H_
#define CVOL_PEER_SECRET_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace cvol::peer {

inline constexpr size_t kMinSecretBytes = 16;

// The file's content with one trailing newline removed. Refused: a file
// that is not regular; one readable or writable by group or others (the
// message gives the mode and says to chmod 600 it: kFailedPrecondition);
// content shorter than kMinSecretBytes (kInvalidArgument). A missing file
// is kNotFound.
absl::StatusOr<std::string> LoadClusterSecret(const std::string& path);

}  // namespace cvol::peer

#endif  // CVOL_PEER_SECRET_H_
