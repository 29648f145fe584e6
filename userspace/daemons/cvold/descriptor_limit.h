// cvold's descriptor limit. systemd starts services with a soft
// RLIMIT_NOFILE of 1024 and a hard one far above (524288 on current
// systems); the soft limit is there for programs that still use select(),
// which cvold does not. Raising it to the hard limit at start makes
// exhausting the daemon's descriptors much harder (the peer port's caps,
// docs/peer-protocol.md "Limits", keep its share small too), so etcd
// reconnects keep working under load and the host does not fence itself
// for want of a descriptor.
#ifndef CVOL_CVOLD_DESCRIPTOR_LIMIT_H_
#define CVOL_CVOLD_DESCRIPTOR_LIMIT_H_

#include <sys/resource.h>

#include "absl/status/statusor.h"

namespace cvol::daemon {

// Sets the soft RLIMIT_NOFILE to the hard one and returns the new soft
// limit; kPermissionDenied/kInternal with errno's message if it cannot.
absl::StatusOr<rlim_t> RaiseDescriptorLimit();

// RaiseDescriptorLimit, logged: the limit on success (info), why not
// otherwise (warning; the daemon runs on with the limit it has).
void RaiseDescriptorLimitAndLog();

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_DESCRIPTOR_LIMIT_H_
