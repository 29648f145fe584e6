// The cluster secret: the HMAC key every peer frame is authenticated with.
// Every host of a cluster holds the same secret in a file only root reads.
#ifndef CVOL_PEER_SECRET_H_
#define CVOL_PEER_SECRET_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace cvol::peer {

inline constexpr size_t kMinSecretBytes = 16;

// The file's content with one trailing newline removed, read by
// cvol::ReadSecretFile (cvol/secret_file.h) with its checks and codes: a
// file that is not regular, a symbolic link, one not owned by root (or
// this process's user), or one readable or writable by group or others is
// kFailedPrecondition (the message gives the fix, e.g. chmod 600); a
// missing file is kNotFound. Content shorter than kMinSecretBytes is
// kInvalidArgument.
absl::StatusOr<std::string> LoadClusterSecret(const std::string& path);

}  // namespace cvol::peer

#endif  // CVOL_PEER_SECRET_H_
