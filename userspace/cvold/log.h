// Logging for systemd: one line per message on stderr with a syslog
// priority prefix ("<6>"), which journald turns into the entry's priority.
#ifndef CVOL_CVOLD_LOG_H_
#define CVOL_CVOLD_LOG_H_

#include "absl/strings/string_view.h"

namespace cvol::daemon {

void LogError(absl::string_view message);
void LogWarning(absl::string_view message);
void LogInfo(absl::string_view message);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_LOG_H_
