#include "block_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cvol/pv_label.h"

namespace cvol::daemon {
namespace {

absl::Status Errno(const std::string& path, const char* what) {
  const int err = errno;
  return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound
                                    : absl::StatusCode::kFailedPrecondition,
                      absl::StrCat(path, ": ", what, ": ", strerror(err)));
}

}  // namespace

absl::StatusOr<uint64_t> DeviceSectors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(path, "open");
  struct stat st;
  uint64_t bytes = 0;
  absl::Status status;
  if (::fstat(fd, &st) != 0) {
    status = Errno(path, "stat");
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) status = Errno(path, "BLKGETSIZE64");
  } else if (S_ISREG(st.st_mode)) {
    bytes = static_cast<uint64_t>(st.st_size);
  } else {
    status = absl::InvalidArgumentError(absl::StrCat(path, " is not a block device"));
  }
  ::close(fd);
  if (!status.ok()) return status;
  return bytes / 512;
}

absl::Status WipePvLabel(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return Errno(path, "open for writing");
  void* block = std::aligned_alloc(4096, kPvLabelBlockBytes);
  std::memset(block, 0, kPvLabelBlockBytes);
  absl::Status status;
  if (::pwrite(fd, block, kPvLabelBlockBytes, 0) != static_cast<ssize_t>(kPvLabelBlockBytes)) {
    status = Errno(path, "wipe of the label");
  } else if (::fdatasync(fd) != 0) {
    status = Errno(path, "fdatasync");
  }
  std::free(block);
  ::close(fd);
  return status;
}

}  // namespace cvol::daemon
