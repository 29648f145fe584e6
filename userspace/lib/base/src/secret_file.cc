#include "cvol/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cvol {
namespace {

absl::Status ErrnoError(int err, const std::string& path) {
  const std::string message = absl::StrCat(path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ELOOP:  // O_NOFOLLOW on a symbolic link
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is a symbolic link; a secret file must be named by its real path"));
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

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  // O_NONBLOCK: a FIFO put in the file's place must not hang the daemon;
  // it is refused below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return ErrnoError(errno, path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is owned by uid %d: only root (or the user this program runs as) may own a secret "
        "file, or its owner could change the secret; run: chown root: %s",
        path, st.st_uid, path));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s has mode %04o: group or others may read or write it; run: chmod 600 %s", path,
        st.st_mode & 07777, path));
  }
  if (st.st_size > static_cast<off_t>(kMaxSecretFileBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is ", st.st_size,
                                                   " bytes; a secret file is at most ",
                                                   kMaxSecretFileBytes));
  }
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, path);
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > kMaxSecretFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, " grew while being read"));
    }
  }
  // Nothing of the secret may stay behind in the stack buffer.
  explicit_bzero(buffer, sizeof(buffer));
  if (!content.empty() && content.back() == '\n') content.pop_back();
  return content;
}

}  // namespace cvol
