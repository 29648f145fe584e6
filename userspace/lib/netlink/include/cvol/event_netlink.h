// Decoding of one CVOL_CMD_EVENT generic netlink message (attributes of
// enum cvol_genl_attr) into a cvol::Event. Kept apart from the socket
// (event_listener.h) so that it can be tested on messages built in memory.
#ifndef CVOL_EVENT_NETLINK_H_
#define CVOL_EVENT_NETLINK_H_

#include "absl/status/statusor.h"
#include "cvol/event.h"

struct nl_msg;

namespace cvol {

// Fails on another command, an attribute shorter than its type or a string
// without its NUL (nla_parse with a policy), and a missing seq, type or
// uuid. Attributes this library does not know are ignored: a newer kernel
// may add some.
absl::StatusOr<Event> DecodeEventMessage(struct nl_msg* msg);

}  // namespace cvol

#endif  // CVOL_EVENT_NETLINK_H_
