// Test hooks for the VM scenarios (tests/vm/scenarios/cluster_faults.sh):
// failures that a test cannot time from outside, such as a member that stops
// answering one peer request while it keeps renewing its lease, or a
// controller that dies right after one step. Inert unless the daemon's
// environment names a fault file (CVOLD_FAULT_FILE). The file holds one
// fault name; the fault fires once, and the file is removed when it does.
// Names: docs/cluster.md, "Fault injection".
#ifndef CVOL_CVOLD_FAULT_INJECTION_H_
#define CVOL_CVOLD_FAULT_INJECTION_H_

#include "absl/strings/string_view.h"

namespace cvol::daemon {

// True, once, if the fault file holds exactly `name`.
bool FaultFires(absl::string_view name);

// Kills the daemon with SIGKILL (no clean-up at all) if `name` fires.
void CrashIfFaultFires(absl::string_view name);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_FAULT_INJECTION_H_
