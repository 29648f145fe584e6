// cvold's config file (/etc/cvol/cvold.conf, "name = value" lines read
// by ParseDaemonConfig through boost::program_options). The input is the
// file's contents, handed over as --config of an in-memory file; any
// content must end in a config or an InvalidArgument, never an exception
// or a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "daemon_config.h"
#include "fuzz_input.h"

namespace {

// One memfd for the process, rewritten for every input: no file system
// traffic, and the checked-in corpus is never written to.
int ConfigFd() {
  static const int fd = [] {
    const int f = memfd_create("cvold.conf", 0);
    if (f < 0) cvol::fuzz::Violated("memfd_create failed");
    return f;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = ConfigFd();
  if (ftruncate(fd, 0) != 0) cvol::fuzz::Violated("ftruncate failed");
  size_t done = 0;
  while (done < size) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) cvol::fuzz::Violated("pwrite failed");
    done += static_cast<size_t>(n);
  }
  const std::vector<std::string> args{"--config=/proc/self/fd/" + std::to_string(fd)};
  absl::StatusOr<cvol::daemon::DaemonConfig> config = cvol::daemon::ParseDaemonConfig(args);
  if (config.ok() && config->etcd_prefix.back() != '/') {
    cvol::fuzz::Violated("accepted an etcd prefix without a trailing '/'");
  }
  return 0;
}
