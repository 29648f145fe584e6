#include "descriptor_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "log.h"

namespace cvol::daemon {

absl::StatusOr<rlim_t> RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(absl::StrCat("getrlimit(RLIMIT_NOFILE): ", strerror(errno)));
  }
  if (limit.rlim_cur == limit.rlim_max) return limit.rlim_cur;
  const rlim_t was = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    const int error = errno;
    const std::string message =
        absl::StrCat("setrlimit(RLIMIT_NOFILE) from ", was, " to ", limit.rlim_max, ": ",
                     strerror(error));
    return error == EPERM ? absl::PermissionDeniedError(message) : absl::InternalError(message);
  }
  return limit.rlim_cur;
}

void RaiseDescriptorLimitAndLog() {
  absl::StatusOr<rlim_t> limit = RaiseDescriptorLimit();
  if (limit.ok()) {
    LogInfo(absl::StrCat("descriptor limit ", *limit));
  } else {
    LogWarning(absl::StrCat("cannot raise the descriptor limit: ", limit.status().message()));
  }
}

}  // namespace cvol::daemon
