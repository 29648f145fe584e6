// Reading a secret (a password, a key, the cluster secret) from a file,
// and refusing a file that someone else could have read or replaced.
#ifndef CVOL_SECRET_FILE_H_
#define CVOL_SECRET_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace cvol {

// Files larger than this are not secrets (the wrong path was given).
inline constexpr size_t kMaxSecretFileBytes = 64 * 1024;

// The content of the file at path, with one trailing newline removed (the
// one `echo` or an editor adds). Refused, kFailedPrecondition with the fix
// in the message:
//  - a symbolic link (opened with O_NOFOLLOW: the path named is the file
//    checked), a directory, a FIFO or a device: not a regular file;
//  - a file owned by anyone but root or this process's effective uid: its
//    owner could change the secret (root is what the daemon runs as; the
//    effective uid lets tests and unprivileged tools use their own files);
//  - any permission bit for group or others: "chmod 600 <path>".
// A missing file is kNotFound, an unreadable one kPermissionDenied, one
// larger than kMaxSecretFileBytes kInvalidArgument. Messages name the path
// and never the content. The checks are made on the opened descriptor, so
// the file cannot be swapped between check and read.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace cvol

#endif  // CVOL_SECRET_FILE_H_
