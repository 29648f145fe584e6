#include "cvol/peer/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cvol::peer {
namespace {

// A secret is a line of random text; anything this large is the wrong file.
constexpr off_t kMaxSecretFileBytes = 64 * 1024;

absl::Status ErrnoError(int err, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

// Closes the descriptor on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  const int fd_;
};

}  // namespace

absl::StatusOr<std::string> LoadClusterSecret(const std::string& path) {
  const std::string what = absl::StrCat("cluster secret ", path);
  // O_NONBLOCK: opening a FIFO put in its place must not hang the daemon;
  // it is refused below. The checks are on the opened file (fstat), not the
  // path, so the file cannot be swapped between check and read.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return ErrnoError(errno, what);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, what);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(what, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s has mode %04o: group or others may read or write it, and whoever reads it can "
        "command every host of the cluster; run: chmod 600 %s",
        what, st.st_mode & 07777, path));
  }
  if (st.st_size > kMaxSecretFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", st.st_size, " bytes; a secret is at most ",
                     kMaxSecretFileBytes));
  }
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, what);
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > static_cast<size_t>(kMaxSecretFileBytes)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " grew while being read"));
    }
  }
  if (!content.empty() && content.back() == '\n') content.pop_back();
  if (content.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " holds ", content.size(), " bytes; at least ", kMinSecretBytes,
        " are needed (e.g. head -c 32 /dev/urandom | base64 > ", path, ")"));
  }
  return content;
}

}  // namespace cvol::peer
