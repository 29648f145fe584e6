// Logging for systemd: one line per message on stderr with a syslog
// priority prefix ("<6>"), which journald turns into the entry's priority.
#ifndef CVOL_CVOLD_LOG_H_
#define CVOL_CVOLD_LOG_H_

#include <functional>

#include "absl/strings/string_view.h"

namespace cvol::daemon {

void LogError(absl::string_view message);
void LogWarning(absl::string_view message);
void LogInfo(absl::string_view message);

// Sends every line (with its priority prefix) to `sink` instead of stderr;
// an empty sink restores stderr. For the simulation, which puts the
// daemons' logs into its trace.
void SetLogSink(std::function<void(absl::string_view line)> sink);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_LOG_H_
