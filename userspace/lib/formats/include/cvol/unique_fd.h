// A file descriptor that is closed on every path out of its scope.
#ifndef CVOL_UNIQUE_FD_H_
#define CVOL_UNIQUE_FD_H_

#include <unistd.h>

namespace cvol {

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // close(2)'s result matters after a write (NFS and friends report
  // errors there).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

}  // namespace cvol

#endif  // CVOL_UNIQUE_FD_H_
